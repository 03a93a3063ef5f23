"""Named index groups of MediaPipe's 478-point face mesh.

"Left"/"right" (suffix ``_L``/``_R``) are the SUBJECT's sides, as in FACS L/R codes. MediaPipe's
own ``LEFT_*`` sets are the subject's left too (on the image's right in a non-mirrored frontal
photo), so the names agree with MediaPipe's.

The groups are derived at first use from MediaPipe's connection sets (``FACEMESH_*`` in
``mediapipe/python/solutions/face_mesh_connections.py``): each set is a list of mesh edges, which
:func:`_chains` orders into closed loops or open paths. Only a handful of anchor vertices are
written here (corners and mid-points that split those loops): facts of MediaPipe's canonical
mesh topology, checked on a real face in ``tests/face``.

Access: ``mesh_groups()["EYE_L"]`` or the module attribute ``magplus.face.mesh.EYE_L``; every
group is a tuple of landmark indices (ordered along the contour where that means something).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Iterable

from ..errors import DependencyError

# Anchor vertices of MediaPipe's canonical face mesh (subject's sides).
EYE_OUTER_CORNER_R, EYE_INNER_CORNER_R = 33, 133
EYE_INNER_CORNER_L, EYE_OUTER_CORNER_L = 362, 263
UPPER_LID_TOP_R, UPPER_LID_TOP_L = 159, 386
IRIS_CENTRE_R, IRIS_CENTRE_L = 468, 473
LIP_CORNER_R, LIP_CORNER_L = 61, 291
UPPER_LIP_TOP, LOWER_LIP_BOTTOM = 0, 17  # outer lip contour, midline
INNER_UPPER_LIP, INNER_LOWER_LIP = 13, 14  # inner lip contour, midline
INNER_LIP_CORNER_R, INNER_LIP_CORNER_L = 78, 308
CHIN_TIP, FOREHEAD_TOP = 152, 10  # bottom and top of the face oval, midline
NOSE_TIP, SUBNASALE = 1, 2
#: Face-oval vertices taken on each side of the chin tip for the chin region.
CHIN_HALF_WIDTH = 4

Edges = Iterable[tuple[int, int]]


def _load_connections() -> ModuleType:
    """MediaPipe's ``face_mesh_connections`` module (plain data).

    It is loaded from its file without importing the whole ``mediapipe`` package (0.5 s and the
    native library) when the file is where MediaPipe 0.10 keeps it; otherwise by a normal import.
    """
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or spec.origin is None:
        raise DependencyError(
            "the face-mesh index groups need MediaPipe 0.10.21; install it with `pip install --no-deps mediapipe==0.10.21`."
        )
    path = Path(spec.origin).parent / "python" / "solutions" / "face_mesh_connections.py"
    if path.is_file():
        file_spec = importlib.util.spec_from_file_location("_magplus_face_mesh_connections", path)
        module = importlib.util.module_from_spec(file_spec)
        file_spec.loader.exec_module(module)
        return module
    from mediapipe.python.solutions import face_mesh_connections

    return face_mesh_connections


def _chains(edges: Edges) -> list[list[int]]:
    """Order an edge set into its connected chains.

    Every vertex of MediaPipe's contour sets has degree 1 (path end) or 2, so each connected
    component is either a path (returned from one end to the other) or a loop (returned once
    around, without repeating the first vertex).
    """
    neighbours: dict[int, list[int]] = {}
    for a, b in edges:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    seen: set[int] = set()
    chains = []
    # Start paths at their ends first, then whatever is left is a loop.
    starts = sorted(v for v, n in neighbours.items() if len(n) == 1) + sorted(neighbours)
    for start in starts:
        if start in seen:
            continue
        chain, previous, current = [start], None, start
        seen.add(start)
        while True:
            following = [n for n in neighbours[current] if n != previous and n not in seen]
            if not following:
                break
            previous, current = current, following[0]
            chain.append(current)
            seen.add(current)
        chains.append(chain)
    return chains


def _loop_containing(edges: Edges, vertex: int) -> list[int]:
    for chain in _chains(edges):
        if vertex in chain:
            return chain
    raise DependencyError(f"MediaPipe's mesh connections lack vertex {vertex}; use mediapipe==0.10.21.")


def _arc(loop: list[int], start: int, end: int, through: int) -> tuple[int, ...]:
    """The part of a closed ``loop`` from ``start`` to ``end`` (both included) that passes ``through``."""
    n = len(loop)
    i, j = loop.index(start), loop.index(end)
    forward = [loop[(i + k) % n] for k in range(((j - i) % n) + 1)]
    if through in forward:
        return tuple(forward)
    backward = [loop[(i - k) % n] for k in range(((i - j) % n) + 1)]
    return tuple(backward)


def _brow_polygon(edges: Edges) -> tuple[int, ...]:
    """A brow as one closed polygon: its upper path then its lower path reversed.

    MediaPipe draws each brow as two open paths; joining them end to end, with the lower one
    reversed so the near ends meet, outlines the brow.
    """
    first, second = _chains(edges)
    # _chains starts each path at its smaller end index; in MediaPipe's topology that is the
    # lateral end of both brow paths, so reversing one closes the outline (checked in tests).
    return tuple(first) + tuple(reversed(second))


def _eye_groups(edges: Edges, side: str, outer: int, inner: int, lid_top: int, iris: Edges, centre: int) -> dict:
    loop = _loop_containing(edges, outer)
    upper = _arc(loop, outer, inner, lid_top)
    lower = _arc(loop, outer, inner, next(v for v in loop if v not in upper))
    return {
        f"EYE_{side}": tuple(loop),
        f"UPPER_LID_{side}": upper,
        f"LOWER_LID_{side}": lower,
        f"EYE_CORNERS_{side}": (outer, inner),
        f"IRIS_{side}": tuple(_chains(iris)[0]),
        f"IRIS_CENTRE_{side}": (centre,),
    }


@functools.lru_cache(maxsize=1)
def mesh_groups() -> dict[str, tuple[int, ...]]:
    """All named groups, built once from MediaPipe's connection sets.

    Returns:
        name -> tuple of landmark indices. Names: FACE_OVAL, BROW_L/R, EYE_L/R, UPPER_LID_L/R,
        LOWER_LID_L/R, EYE_CORNERS_L/R (outer, inner), IRIS_L/R (ring), IRIS_CENTRE_L/R, NOSE,
        LIPS_OUTER, LIPS_INNER, UPPER_LIP_OUTER, LOWER_LIP_OUTER, UPPER_LIP_INNER,
        LOWER_LIP_INNER, LIP_CORNERS (R, L), LIP_CORNER_L/R, CHIN (face-oval arc round the chin tip).
    """
    con = _load_connections()
    oval = _loop_containing(con.FACEMESH_FACE_OVAL, CHIN_TIP)
    lips_outer = _loop_containing(con.FACEMESH_LIPS, LIP_CORNER_R)
    lips_inner = next(c for c in _chains(con.FACEMESH_LIPS) if INNER_UPPER_LIP in c)
    chin_at = oval.index(CHIN_TIP)
    chin = tuple(oval[(chin_at + k) % len(oval)] for k in range(-CHIN_HALF_WIDTH, CHIN_HALF_WIDTH + 1))
    groups: dict[str, tuple[int, ...]] = {
        "FACE_OVAL": tuple(oval),
        "BROW_R": _brow_polygon(con.FACEMESH_RIGHT_EYEBROW),
        "BROW_L": _brow_polygon(con.FACEMESH_LEFT_EYEBROW),
        "NOSE": tuple(sorted({v for edge in con.FACEMESH_NOSE for v in edge})),
        "LIPS_OUTER": tuple(lips_outer),
        "LIPS_INNER": tuple(lips_inner),
        "UPPER_LIP_OUTER": _arc(lips_outer, LIP_CORNER_R, LIP_CORNER_L, UPPER_LIP_TOP),
        "LOWER_LIP_OUTER": _arc(lips_outer, LIP_CORNER_R, LIP_CORNER_L, LOWER_LIP_BOTTOM),
        "UPPER_LIP_INNER": _arc(lips_inner, INNER_LIP_CORNER_R, INNER_LIP_CORNER_L, INNER_UPPER_LIP),
        "LOWER_LIP_INNER": _arc(lips_inner, INNER_LIP_CORNER_R, INNER_LIP_CORNER_L, INNER_LOWER_LIP),
        "LIP_CORNERS": (LIP_CORNER_R, LIP_CORNER_L),
        "LIP_CORNER_R": (LIP_CORNER_R,),
        "LIP_CORNER_L": (LIP_CORNER_L,),
        "CHIN": chin,
    }
    groups.update(_eye_groups(con.FACEMESH_RIGHT_EYE, "R", EYE_OUTER_CORNER_R, EYE_INNER_CORNER_R, UPPER_LID_TOP_R, con.FACEMESH_RIGHT_IRIS, IRIS_CENTRE_R))
    groups.update(_eye_groups(con.FACEMESH_LEFT_EYE, "L", EYE_OUTER_CORNER_L, EYE_INNER_CORNER_L, UPPER_LID_TOP_L, con.FACEMESH_LEFT_IRIS, IRIS_CENTRE_L))
    return groups


def __getattr__(name: str) -> tuple[int, ...]:
    # PEP 562: groups as module constants without loading MediaPipe's tables at import time.
    if name.isupper():
        groups = mesh_groups()
        if name in groups:
            return groups[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
