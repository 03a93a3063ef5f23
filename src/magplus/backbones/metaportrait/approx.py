"""APPROXIMATION: MetaPortrait's 669 dense landmarks estimated from MediaPipe's 478-point mesh.

This is NOT the paper's setting. The official model was trained on landmarks from a non-public
Microsoft dense-landmark detector; magplus cannot run it. This module places the parts of the
669-point topology whose meaning can be read off the published facts (the 58 ``ldmk_idx`` rows
used for the eye/mouth masks and gaze heatmaps, and the mesh's connectivity) onto the matching
MediaPipe contours, by arc-length resampling:

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
public material) is left undefined (NaN) and its edges are not drawn: 104 of the 616 edges are
drawn. Row 15 (vertex 61, outside these contours) is set to MediaPipe's image-right lip corner
so the mouth mask keeps its official meaning.
"""

from __future__ import annotations

import functools
import warnings
from collections import defaultdict

import numpy as np

from ...errors import ShapeError
from .lines import NUM_DENSE, mesh_edges

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


@functools.lru_cache(maxsize=1)
def _adjacency() -> dict[int, set[int]]:
    adjacency: dict[int, set[int]] = defaultdict(set)
    for a, b in mesh_edges():
        adjacency[int(a)].add(int(b))
        adjacency[int(b)].add(int(a))
    return adjacency


def _chains_between(start: int, end: int) -> list[list[int]]:
    """Simple paths from ``start`` to ``end`` whose inner vertices all have degree 2."""
    adjacency, chains = _adjacency(), []
    for first in sorted(adjacency[start]):
        path = [start, first]
        while path[-1] != end and len(adjacency[path[-1]]) == 2:
            path.append(next(v for v in adjacency[path[-1]] if v != path[-2]))
        if path[-1] == end:
            chains.append(path)
    return chains


def _select_chain(start: int, end: int, include, exclude) -> list[int]:
    for chain in _chains_between(start, end):
        inner = chain[1:-1]
        if include in ("high", "low"):
            high = np.median(inner) >= 311
            if high == (include == "high"):
                return chain
        elif (include is None or include in inner) and (exclude is None or exclude not in inner):
            return chain
    raise RuntimeError(f"669-mesh chain {start}->{end} not found")  # a bug in the tables above


def _resample(polyline: np.ndarray, count: int) -> np.ndarray:
    """``count`` points at equal arc-length steps along ``polyline`` ``(M, 2)``, ends included."""
    steps = np.linalg.norm(np.diff(polyline, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    targets = np.linspace(0.0, arc[-1], count)
    return np.stack([np.interp(targets, arc, polyline[:, k]) for k in range(2)], axis=1)


def _iris_loop(vertex: int) -> list[int]:
    adjacency, loop = _adjacency(), [vertex, min(_adjacency()[vertex])]
    while True:
        following = next(v for v in adjacency[loop[-1]] if v != loop[-2])
        if following == vertex:
            return loop
        loop.append(following)


def mediapipe_to_dense(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """APPROXIMATE 669 dense landmarks from MediaPipe's 478 (see the module docstring).

    Args:
        points: ``(478, 2)`` MediaPipe pixel ``(x, y)`` in a ``width`` x ``height`` frame.

    Returns:
        ``(669, 2)`` float32 ``(x, y)`` normalised to [0, 1]; NaN rows for vertices not placed.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.shape != (478, 2) or not np.isfinite(points).all():
        raise ShapeError(f"MediaPipe landmarks must be a finite (478, 2) array, got shape {points.shape}.")
    norm = points / np.array([width, height], dtype=np.float64)
    dense = np.full((NUM_DENSE, 2), np.nan)
    polylines = _mediapipe_polylines()
    for (start, end, include, exclude), name in _PATHS:
        chain = _select_chain(start, end, include, exclude)
        dense[chain] = _resample(norm[list(polylines[name])], len(chain))
    for vertex, centre, ring in _IRISES:
        loop = _iris_loop(vertex)
        radius = np.linalg.norm(norm[list(ring)] - norm[centre], axis=1).mean()
        angles = 2 * np.pi * np.arange(len(loop)) / len(loop)
        dense[loop] = norm[centre] + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    for vertex, source in _POINTS:
        dense[vertex] = norm[source]
    return dense.astype(np.float32)


def warn_approximation() -> None:
    """Emit the approximation warning (once per call site; the CLI shows warnings)."""
    warnings.warn(APPROXIMATION_WARNING, UserWarning, stacklevel=3)
