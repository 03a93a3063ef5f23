"""Inputs of the MetaPortrait generator computed from 669 dense landmarks, as the official dataset does.

Dense landmarks are ``(669, 2)`` ``(x, y)`` normalised to [0, 1] of the 256x256 crop (the format
of the official ``*_ldmk.npy`` files). From them:

* :func:`draw_line_image`: the 616 mesh edges drawn as 1-px anti-aliased lines on black, edge ``i``
  in palette colour ``i`` -> ``(3, 256, 256)`` in [0, 1];
* :func:`select_sparse`: the 58 selected landmarks in [-1, 1] (rows 29:37 feed the gaze heatmaps);
* :func:`mouth_mask`: the padded mouth rectangle that masks the driving line image.
"""

from __future__ import annotations

import functools
import random

import numpy as np
import torch

from ...errors import ShapeError
from ._mesh669 import EDGES_FLAT

NUM_DENSE = 669
#: The 58 selected dense-landmark rows (``dataset.ldmk_idx`` of meta_portrait_256_eval.yaml).
SPARSE_INDEX = (521, 505, 338, 398, 347, 35, 191, 30, 32, 207, 630, 629, 319, 4, 541, 61, 637, 660, 638,
                587, 273, 590, 269, 432, 118, 327, 12, 373, 58, 619, 466, 469, 464, 308, 152, 305, 150, 411,
                635, 634, 564, 250, 443, 129, 364, 322, 49, 7, 361, 105, 434, 120, 500, 186, 575, 261, 636, 74)
#: Sparse rows giving the mouth rectangle: x from rows 14..15, y from rows 56..57; padding in px.
MOUTH_X_ROWS, MOUTH_Y_ROWS, MOUTH_PAD = (14, 15), (56, 57), 5


@functools.lru_cache(maxsize=1)
def mesh_edges() -> np.ndarray:
    """``(616, 2)`` int edges of the 669-point mesh, in drawing order."""
    return np.asarray(EDGES_FLAT, dtype=np.int64).reshape(-1, 2)


@functools.lru_cache(maxsize=1)
def edge_palette() -> tuple[tuple[int, int, int], ...]:
    """One colour per edge, built by the official procedure (so the trained network sees its colours).

    A cubic grid of levels ``range(0, 255, int(255 / n ** (1/3)))``, the last ``n`` entries,
    shuffled by Python's ``random`` seeded with 0.
    """
    count = len(mesh_edges())
    step = int(255 / count ** (1.0 / 3))
    levels = range(0, 255, step)
    colours = [(r, g, b) for r in levels for g in levels for b in levels][-count:]
    random.Random(0).shuffle(colours)
    return tuple(colours)


def check_dense(landmarks: np.ndarray, name: str = "landmarks", allow_missing: bool = False) -> np.ndarray:
    """Validate dense landmarks: finite ``(669, 2)`` (or ``(T, 669, 2)``) normalised coordinates.

    ``allow_missing`` accepts NaN rows (vertices the approximate MediaPipe mode does not place).
    """
    array = np.asarray(landmarks, dtype=np.float32)
    if array.ndim not in (2, 3) or array.shape[-2:] != (NUM_DENSE, 2):
        raise ShapeError(f"{name} must have shape (669, 2) or (T, 669, 2) of (x, y) in [0, 1], got {array.shape}.")
    if np.isinf(array).any() or (not allow_missing and np.isnan(array).any()):
        raise ShapeError(f"{name} contains NaN or infinite values; re-run the landmark extraction.")
    low, high = (np.nanmin(array), np.nanmax(array)) if np.isfinite(array).any() else (0.0, 1.0)
    if low < -0.5 or high > 1.5:
        raise ShapeError(
            f"{name} values span [{low:.3g}, {high:.3g}], but MetaPortrait landmarks are normalised "
            "to [0, 1] of the 256x256 crop; divide pixel coordinates by the crop size."
        )
    return array


def draw_line_image(landmarks: np.ndarray, size: int = 256) -> torch.Tensor:
    """Draw the mesh edges of one face: ``(669, 2)`` in [0, 1] -> ``(3, size, size)`` float32 in [0, 1].

    Points are truncated to integer pixels (``int(x * size)``) and joined by 1-px ``cv2.LINE_AA``
    lines, as in the official dataset. Edges with an endpoint marked NaN are skipped (used by the
    approximate MediaPipe mode for vertices it cannot place).
    """
    import cv2

    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (NUM_DENSE, 2):
        raise ShapeError(f"landmarks must have shape (669, 2), got {points.shape}.")
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    valid = np.isfinite(points).all(axis=1)
    pixels = np.trunc(np.nan_to_num(points) * size).astype(np.int64)
    for (start, end), colour in zip(mesh_edges(), edge_palette()):
        if valid[start] and valid[end]:
            cv2.line(canvas, tuple(int(v) for v in pixels[start]), tuple(int(v) for v in pixels[end]),
                     colour, 1, cv2.LINE_AA)
    return torch.from_numpy(canvas).permute(2, 0, 1).float() / 255.0


def select_sparse(landmarks: np.ndarray) -> np.ndarray:
    """The 58 selected landmarks ``(58, 2)`` in [-1, 1] (``ldmk * 2 - 1``, rows ``SPARSE_INDEX``)."""
    points = np.asarray(landmarks, dtype=np.float32)
    return (points * 2 - 1)[list(SPARSE_INDEX)]


def mouth_mask(sparse: np.ndarray, size: int = 256) -> torch.Tensor:
    """Binary mouth rectangle ``(1, size, size)`` from the 58 sparse landmarks in [-1, 1].

    Bounds are truncated ``(v + 1) * size / 2`` of rows 14/15 (x) and 56/57 (y), padded by 5 px.
    """
    sparse = np.asarray(sparse, dtype=np.float32)

    def to_pixel(value: np.float32) -> int:
        return int((value + 1) * size / 2)  # float32 arithmetic, as the official numpy code

    left, right = (to_pixel(sparse[row, 0]) for row in MOUTH_X_ROWS)
    top, bottom = (to_pixel(sparse[row, 1]) for row in MOUTH_Y_ROWS)
    mask = torch.zeros(1, size, size)
    mask[0, max(0, top - MOUTH_PAD):min(size, bottom + MOUTH_PAD + 1),
         max(0, left - MOUTH_PAD):min(size, right + MOUTH_PAD + 1)] = 1
    return mask
