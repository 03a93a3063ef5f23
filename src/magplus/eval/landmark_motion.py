"""Landmark-displacement correlation between a driving and a generated clip.

Both clips' landmark tracks ``(T, N, 2)`` are turned into displacements from frame 0. The per-frame
mean displacement (rigid translation of the whole face) is removed; the driving displacements are
rotated and scaled by the similarity transform that aligns the driving frame-0 landmarks onto
the generated frame-0 landmarks (so both live in the generated face's frame); finally both are
divided by the generated face size (:func:`magplus.eval.motion.face_size`). The score is the
Pearson correlation of the two flattened trajectories, with the RMSE in face sizes beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError
from .motion import face_size, pearson


@dataclass
class LandmarkAgreement:
    """Correlation (ideal 1) and RMSE (in face sizes, ideal 0) of landmark displacement trajectories."""

    correlation: float
    rmse: float


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray]:
    """Scale and rotation of the least-squares similarity (Umeyama) ``dst ≈ s R src + t``."""
    from ..backbones.landmark_warp import similarity_transform

    scale, rotation, _ = similarity_transform(src, dst)
    return scale, rotation


def _check_track(track, name: str) -> np.ndarray:
    array = np.asarray(track, dtype=np.float64)
    if array.ndim != 3 or array.shape[2] != 2 or array.shape[0] < 2 or array.shape[1] < 3:
        raise ShapeError(f"{name} must be a landmark track (T >= 2, N >= 3, 2), got shape {array.shape}.")
    if not np.isfinite(array).all():
        raise ShapeError(f"{name} holds non-finite coordinates; track the landmarks again.")
    return array


def landmark_agreement(driving: np.ndarray, generated: np.ndarray, remove_rigid: bool = True) -> LandmarkAgreement:
    """Agreement of landmark displacement trajectories (see the module docstring).

    Args:
        driving: ``(T, N, 2)`` pixel landmarks of the driving clip.
        generated: ``(T, N, 2)`` pixel landmarks of the generated clip (same T and N).
        remove_rigid: subtract each frame's mean displacement (head translation) first.

    Returns:
        :class:`LandmarkAgreement`; the correlation is NaN when either clip's landmarks are still.
    """
    drv, gen = _check_track(driving, "driving"), _check_track(generated, "generated")
    if drv.shape != gen.shape:
        raise ShapeError(f"driving {drv.shape} and generated {gen.shape} tracks must have the same shape.")
    d_drv, d_gen = drv - drv[:1], gen - gen[:1]
    if remove_rigid:
        d_drv = d_drv - d_drv.mean(axis=1, keepdims=True)
        d_gen = d_gen - d_gen.mean(axis=1, keepdims=True)
    scale, rotation = _similarity(drv[0], gen[0])
    d_drv = scale * d_drv @ rotation.T
    size = face_size(gen[0])
    d_drv, d_gen = d_drv / size, d_gen / size
    rmse = float(math.sqrt(((d_drv - d_gen) ** 2).sum(axis=-1).mean()))
    return LandmarkAgreement(correlation=pearson(d_drv, d_gen), rmse=rmse)
