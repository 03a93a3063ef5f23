"""Motion transfer modes of the official FOMM demo: relative, adapt-movement-scale, absolute,
and the choice of the driving frame that best matches the source ("find best frame").

Relative motion moves the source keypoints by the driving keypoints' displacement from a
reference driving frame: ``kp = kp_s + scale * (kp_d - kp_d0)`` and ``J = (J_d J_d0^-1) J_s``.
Absolute motion uses the driving keypoints as they are.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import torch

from ...errors import InputError, NoFaceError

__all__ = ["convex_hull_area", "movement_scale", "normalize_kp", "normalise_landmarks", "find_best_frame"]

KP = Mapping[str, torch.Tensor]


def convex_hull_area(points: np.ndarray) -> float:
    """Area of the convex hull of ``points`` ``(N, 2)`` (scipy's 2-D ``ConvexHull.volume``).

    Raises:
        InputError: fewer than 3 points or all of them on a line (no area).
    """
    from scipy.spatial import ConvexHull
    from scipy.spatial import QhullError

    points = np.asarray(points, dtype=np.float64)
    try:
        return float(ConvexHull(points).volume)
    except (QhullError, ValueError) as exc:
        raise InputError(
            f"keypoints span no area (convex hull of {points.shape[0]} points failed: {str(exc).splitlines()[0]}); "
            "turn off movement-scale adaptation for this input (FOMM adapt_movement_scale, FSRT adapt_scale)."
        ) from exc


def movement_scale(kp_source: KP, kp_driving_initial: KP) -> float:
    """``sqrt(area(kp_s)) / sqrt(area(kp_d0))`` of batch element 0 (as upstream, for the whole batch)."""
    source_area = convex_hull_area(kp_source["value"][0].detach().cpu().numpy())
    driving_area = convex_hull_area(kp_driving_initial["value"][0].detach().cpu().numpy())
    return float(np.sqrt(source_area) / np.sqrt(driving_area))


def normalize_kp(kp_source: KP, kp_driving: KP, kp_driving_initial: KP, adapt_movement_scale: bool | float = False,
                 use_relative_movement: bool = False, use_relative_jacobian: bool = False) -> dict[str, torch.Tensor]:
    """Driving keypoints expressed for the source (the official ``normalize_kp``).

    Args:
        kp_source: ``"value"`` ``(1 or B, K, 2)`` and optionally ``"jacobian"`` ``(1 or B, K, 2, 2)``.
        kp_driving: the same for B driving frames.
        kp_driving_initial: the reference driving frame (batch 1 or B).
        adapt_movement_scale: True computes :func:`movement_scale`; a float is used as the scale.
        use_relative_movement: relative (True) or absolute (False) keypoints.
        use_relative_jacobian: relative Jacobians (only with relative movement).

    Returns:
        A new dict with ``"value"`` ``(B, K, 2)`` (and ``"jacobian"``).
    """
    if isinstance(adapt_movement_scale, bool):
        scale = movement_scale(kp_source, kp_driving_initial) if adapt_movement_scale else 1.0
    else:
        scale = float(adapt_movement_scale)
    out = dict(kp_driving)
    if use_relative_movement:
        diff = (kp_driving["value"] - kp_driving_initial["value"]) * scale
        out["value"] = diff + kp_source["value"]
        if use_relative_jacobian and "jacobian" in kp_driving:
            jac_diff = torch.matmul(kp_driving["jacobian"], torch.inverse(kp_driving_initial["jacobian"]))
            out["jacobian"] = torch.matmul(jac_diff, kp_source["jacobian"])
    return out


def normalise_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Centre landmarks ``(N, 2)`` and divide by the square root of their convex-hull area.

    Makes faces of different size and position comparable (the demo's find-best-frame metric).
    """
    centred = np.asarray(landmarks, dtype=np.float64)
    centred = centred - centred.mean(axis=0, keepdims=True)
    return centred / np.sqrt(convex_hull_area(centred))


def find_best_frame(source_img: torch.Tensor, driving_frames: torch.Tensor,
                    landmark_fn: Callable[[torch.Tensor], np.ndarray] | None = None) -> int:
    """Index of the driving frame whose normalised face landmarks are closest to the source's.

    Args:
        source_img: ``(3, H, W)`` in [0, 1].
        driving_frames: ``(T, 3, H, W)`` in [0, 1].
        landmark_fn: image ``(3, H, W)`` -> landmarks ``(N, 2)``; default
            :func:`magplus.face.landmarks.detect_landmarks` (MediaPipe face mesh).

    Returns:
        The frame index minimising the summed squared distance of normalised landmarks;
        frames without a face are skipped (the first frame wins if none has one).

    Raises:
        NoFaceError: no face in the source image.
    """
    if landmark_fn is None:
        from ...face.landmarks import detect_landmarks as landmark_fn
    source = normalise_landmarks(landmark_fn(source_img))
    best, best_index = float("inf"), 0
    for index in range(driving_frames.shape[0]):
        try:
            driving = normalise_landmarks(landmark_fn(driving_frames[index]))
        except NoFaceError:
            continue
        distance = float(((source - driving) ** 2).sum())
        if distance < best:
            best, best_index = distance, index
    return best_index
