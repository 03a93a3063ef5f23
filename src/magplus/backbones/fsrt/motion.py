"""Relative motion for FSRT, as in the official demo, and best-reference-frame selection."""

from __future__ import annotations

import numpy as np
import torch

from ...errors import InputError
from ...types import check_shape
from ..fomm.animate import convex_hull_area, normalise_landmarks


def movement_scale(kp_source: torch.Tensor, kp_reference: torch.Tensor) -> float:
    """``sqrt(area(source hull) / area(reference hull))``: driving motion rescaled to the source face size."""
    check_shape(kp_source, ["K", 2], "kp_source")
    check_shape(kp_reference, ["K", 2], "kp_reference")
    source = convex_hull_area(kp_source.detach().cpu().numpy())
    reference = convex_hull_area(kp_reference.detach().cpu().numpy())
    return float(np.sqrt(source) / np.sqrt(reference))


def relative_keypoints(kp_source: torch.Tensor, kp_driving: torch.Tensor, kp_reference: torch.Tensor,
                       adapt_scale: bool = True) -> torch.Tensor:
    """Target keypoints: the source keypoints moved by the driving motion since the reference.

    ``kp_source + (kp_driving - kp_reference) * s`` with ``s`` from :func:`movement_scale`
    (or 1). Expression vectors are NOT made relative (the official demo uses the driving ones).

    Args:
        kp_source: ``(K, 2)`` keypoints of the (first) source image.
        kp_driving: ``(T, K, 2)`` driving keypoints.
        kp_reference: ``(K, 2)`` keypoints of the reference driving frame.

    Returns:
        ``(T, K, 2)``.
    """
    check_shape(kp_driving, ["T", kp_source.shape[0], 2], "kp_driving")
    scale = movement_scale(kp_source, kp_reference) if adapt_scale else 1.0
    return (kp_driving - kp_reference) * scale + kp_source


def best_reference_frame(source_landmarks: np.ndarray, driving_landmarks: np.ndarray) -> int:
    """Index of the driving frame whose face shape is closest to the source's.

    Shapes are centred and scaled by the square root of their hull area, then compared by the
    sum of squared differences (the official demo's criterion, here on MediaPipe landmarks).

    Args:
        source_landmarks: ``(N, 2)``; driving_landmarks: ``(T, N, 2)``.
    """
    source_landmarks = np.asarray(source_landmarks, dtype=np.float64)
    driving_landmarks = np.asarray(driving_landmarks, dtype=np.float64)
    if source_landmarks.ndim != 2 or driving_landmarks.ndim != 3 or driving_landmarks.shape[1:] != source_landmarks.shape:
        raise InputError(f"landmarks must be (N, 2) and (T, N, 2) with the same N, got "
                         f"{source_landmarks.shape} and {driving_landmarks.shape}.")
    reference = normalise_landmarks(source_landmarks)
    distances = [float(((reference - normalise_landmarks(frame)) ** 2).sum()) for frame in driving_landmarks]
    return int(np.argmin(distances))
