"""APPROXIMATION: MetaPortrait's 669 dense landmarks estimated from MediaPipe's 478-point mesh.

This is NOT the paper's setting. The official model was trained on landmarks from a non-public
Microsoft dense-landmark detector; magplus cannot run it. This module places the parts of the
669-point topology whose meaning can be read off the published facts (the 58 ``ldmk_idx`` rows
used for the eye/mouth masks and gaze heatmaps, and the mesh's connectivity, read from the user's
official ``dense_669_connectivity.tsv`` by :func:`.lines.mesh_edges`) onto the matching MediaPipe
contours, by arc-length resampling. :func:`contour_plan` finds the contours in the given edges once;
:func:`mediapipe_to_dense` places each frame with that plan:

=====================  =========================================  ================================
669-point contour      how it is identified                        MediaPipe contour
=====================  =========================================  ================================
eye, image-left        13-vertex loop with rows 1, 2 (corners), 4   subject's right eye lids (33..133)
eye, image-right       13-vertex loop with rows 5, 6 (corners), 7, 8  subject's left eye lids (362..263)
outer lips             22-vertex loop through rows 56 (top), 57     outer lip contour (0, corners, 17)
inner lips             22-vertex loop through rows 16 (top), 17     inner lip contour (13, corners, 14)
irises                 16-vertex loops holding the gaze rows 29:37  circle fitted to each MediaPipe iris
=====================  =========================================  ================================

Sides: the official mouth mask spans x from row 14 (vertex 541) to row 15 (vertex 61), so the
high-index half of the mesh (>= 311) is on the image's left. Each 669 path is split at its
anchors and its vertices are spread at equal arc-length steps along the MediaPipe polyline.
Every other vertex (face oval, brows, nose, cheeks: their identity cannot be established from
public material) is left undefined (NaN) and its edges are not drawn: with the official
connectivity, 104 of the 616 edges are drawn. Row 15 (vertex 61, outside these contours) is set to MediaPipe's image-right lip corner
so the mouth mask keeps its official meaning.
"""

from __future__ import annotations

import functools
import warnings
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ...errors import InputError, ShapeError
from .lines import CONNECTIVITY_IN_REPO, NUM_DENSE, check_edges

APPROXIMATION_WARNING = (
    "MetaPortrait is running on landmark images approximated from MediaPipe's face mesh (and a "
    "fixed identity embedding unless --identity is given); this is not the paper's setting, where "
    "669 dense landmarks and the identity embedding come from non-public Microsoft models."
)

# (669 start, 669 end, chain selector: a vertex it must hold / "high" / "low" half, a vertex it
# must not hold) -> MediaPipe polyline name (built by _mediapipe_polylines, subject's sides).
_PATHS = (
    ((505, 338, None, 347), "upper_lid_image_left"),
    ((505, 338, 347, None), "lower_lid_image_left"),
    ((35, 191, 30, None), "upper_lid_image_right"),
    ((35, 191, 32, None), "lower_lid_image_right"),
    ((636, 74, "high", None), "outer_lips_image_left"),
    ((636, 74, "low", None), "outer_lips_image_right"),
    ((637, 660, "high", None), "inner_lips_image_left"),
    ((637, 660, "low", None), "inner_lips_image_right"),
)


def _half_lip(upper: tuple[int, ...], lower: tuple[int, ...], top: int, bottom: int, left: bool) -> tuple[int, ...]:
    """Lip contour from the midline ``top`` round one corner to ``bottom``.

    ``upper``/``lower`` run from the subject's right corner (image left) to the left one.
    """
    i, j = upper.index(top), lower.index(bottom)
    if left:
        return tuple(reversed(upper[: i + 1])) + lower[1 : j + 1]
    return upper[i:] + tuple(reversed(lower[j:-1]))


@functools.lru_cache(maxsize=1)
def _mediapipe_polylines() -> dict[str, tuple[int, ...]]:
    """MediaPipe index polylines matching each 669 path, from :func:`magplus.face.mesh.mesh_groups`."""
    from ...face.mesh import mesh_groups

    g = mesh_groups()
    return {
        "upper_lid_image_left": g["UPPER_LID_R"], "lower_lid_image_left": g["LOWER_LID_R"],
        "upper_lid_image_right": tuple(reversed(g["UPPER_LID_L"])),
        "lower_lid_image_right": tuple(reversed(g["LOWER_LID_L"])),
        "outer_lips_image_left": _half_lip(g["UPPER_LIP_OUTER"], g["LOWER_LIP_OUTER"], 0, 17, True),
        "outer_lips_image_right": _half_lip(g["UPPER_LIP_OUTER"], g["LOWER_LIP_OUTER"], 0, 17, False),
        "inner_lips_image_left": _half_lip(g["UPPER_LIP_INNER"], g["LOWER_LIP_INNER"], 13, 14, True),
        "inner_lips_image_right": _half_lip(g["UPPER_LIP_INNER"], g["LOWER_LIP_INNER"], 13, 14, False),
    }


# 669 iris loop (identified by one gaze vertex) -> MediaPipe iris centre and ring.
_IRISES = ((619, 468, (469, 470, 471, 472)), (150, 473, (474, 475, 476, 477)))
# Single vertices placed on a MediaPipe point (sparse row 15 = mouth-mask right edge).
_POINTS = ((61, 291),)


def _topology_error(what: str) -> InputError:
    return InputError(
        f"the mesh connectivity has no {what}, so it is not the official 669-point topology; pass the official "
        f"{CONNECTIVITY_IN_REPO.as_posix()} of the MetaPortrait checkout with --connectivity."
    )


def _adjacency(edges: np.ndarray) -> dict[int, set[int]]:
    adjacency: dict[int, set[int]] = defaultdict(set)
    for a, b in edges:
        adjacency[int(a)].add(int(b))
        adjacency[int(b)].add(int(a))
    return adjacency


def _chains_between(adjacency: dict[int, set[int]], start: int, end: int) -> list[list[int]]:
    """Simple paths from ``start`` to ``end`` whose inner vertices all have degree 2."""
    chains = []
    for first in sorted(adjacency[start]):
        path = [start, first]
        while path[-1] != end and len(adjacency[path[-1]]) == 2 and len(path) <= NUM_DENSE:
            path.append(next(v for v in adjacency[path[-1]] if v != path[-2]))
        if path[-1] == end:
            chains.append(path)
    return chains


def _select_chain(adjacency: dict[int, set[int]], start: int, end: int, include, exclude) -> tuple[int, ...]:
    for chain in _chains_between(adjacency, start, end):
        inner = chain[1:-1]
        if include in ("high", "low"):
            high = np.median(inner) >= 311
            if high == (include == "high"):
                return tuple(chain)
        elif (include is None or include in inner) and (exclude is None or exclude not in inner):
            return tuple(chain)
    raise _topology_error(f"contour {start}->{end} of degree-2 vertices (selector {include!r}/{exclude!r})")


def _iris_loop(adjacency: dict[int, set[int]], vertex: int) -> tuple[int, ...]:
    """The closed loop of degree-2 vertices through ``vertex``."""
    if len(adjacency[vertex]) != 2:
        raise _topology_error(f"iris loop through vertex {vertex}")
    loop = [vertex, min(adjacency[vertex])]
    while len(loop) <= NUM_DENSE and len(adjacency[loop[-1]]) == 2:
        following = next(v for v in adjacency[loop[-1]] if v != loop[-2])
        if following == vertex:
            return tuple(loop)
        loop.append(following)
    raise _topology_error(f"iris loop through vertex {vertex}")


@dataclass(frozen=True)
class ContourPlan:
    """Which 669 vertices go on which MediaPipe contour, read off a mesh's edges (see :func:`contour_plan`).

    ``chains``: ``(669 vertex path, MediaPipe polyline name)``; ``irises``: ``(669 loop, MediaPipe
    centre, MediaPipe ring)``; ``edges``: the ``(616, 2)`` edges it was built from.
    """

    chains: tuple[tuple[tuple[int, ...], str], ...]
    irises: tuple[tuple[tuple[int, ...], int, tuple[int, ...]], ...]
    edges: np.ndarray


def contour_plan(edges: np.ndarray) -> ContourPlan:
    """Find the eye, lip and iris contours of the 669 mesh in ``edges`` ``(616, 2)`` (from ``lines.mesh_edges``).

    Raises:
        InputError: the edges lack one of the contours (not the official connectivity).
    """
    edges = check_edges(edges)
    adjacency = _adjacency(edges)
    chains = tuple((_select_chain(adjacency, *selector), name) for selector, name in _PATHS)
    irises = tuple((_iris_loop(adjacency, vertex), centre, ring) for vertex, centre, ring in _IRISES)
    return ContourPlan(chains=chains, irises=irises, edges=edges)


def _resample(polyline: np.ndarray, count: int) -> np.ndarray:
    """``count`` points at equal arc-length steps along ``polyline`` ``(M, 2)``, ends included."""
    steps = np.linalg.norm(np.diff(polyline, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    targets = np.linspace(0.0, arc[-1], count)
    return np.stack([np.interp(targets, arc, polyline[:, k]) for k in range(2)], axis=1)


def mediapipe_to_dense(points: np.ndarray, width: int, height: int, plan: ContourPlan) -> np.ndarray:
    """APPROXIMATE 669 dense landmarks from MediaPipe's 478 (see the module docstring).

    Args:
        points: ``(478, 2)`` MediaPipe pixel ``(x, y)`` in a ``width`` x ``height`` frame.
        plan: contours of the mesh, ``contour_plan(edges)`` (build it once, reuse it per frame).

    Returns:
        ``(669, 2)`` float32 ``(x, y)`` normalised to [0, 1]; NaN rows for vertices not placed.
    """
    if not isinstance(plan, ContourPlan):
        raise InputError("plan must come from approx.contour_plan(edges); build it from lines.mesh_edges(...).")
    points = np.asarray(points, dtype=np.float64)
    if points.shape != (478, 2) or not np.isfinite(points).all():
        raise ShapeError(f"MediaPipe landmarks must be a finite (478, 2) array, got shape {points.shape}.")
    norm = points / np.array([width, height], dtype=np.float64)
    dense = np.full((NUM_DENSE, 2), np.nan)
    polylines = _mediapipe_polylines()
    for chain, name in plan.chains:
        dense[list(chain)] = _resample(norm[list(polylines[name])], len(chain))
    for loop, centre, ring in plan.irises:
        radius = np.linalg.norm(norm[list(ring)] - norm[centre], axis=1).mean()
        angles = 2 * np.pi * np.arange(len(loop)) / len(loop)
        dense[list(loop)] = norm[centre] + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    for vertex, source in _POINTS:
        dense[vertex] = norm[source]
    return dense.astype(np.float32)


def warn_approximation() -> None:
    """Emit the approximation warning (once per call site; the CLI shows warnings)."""
    warnings.warn(APPROXIMATION_WARNING, UserWarning, stacklevel=3)
