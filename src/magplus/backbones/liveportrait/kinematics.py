"""LivePortrait's keypoint kinematics: head pose from bin logits, rotation matrices, the implicit
keypoint transform ``x = s (x_c R + δ) + t``, the official relative composition of driving motion and
its expression-friendly multiplier.

Conventions (the official ones): keypoints are row vectors ``(B, K, 3)`` multiplied on the right by
``R``, and :func:`rotation_matrix` returns the TRANSPOSE of ``Rz(roll) Ry(yaw) Rx(pitch)`` so that
``x_c @ R`` rotates the canonical keypoints. Translation acts on x and y only (tz is dropped).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import InputError


def pose_degrees(logits: torch.Tensor) -> torch.Tensor:
    """Angle in degrees from 66 bin logits ``(B, 66)``: ``3 E[bin] - 97.5`` under the softmax -> ``(B,)``."""
    bins = torch.arange(logits.shape[1], dtype=logits.dtype, device=logits.device)
    return torch.sum(F.softmax(logits, dim=1) * bins, dim=1) * 3 - 97.5


def rotation_matrix(pitch: torch.Tensor, yaw: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """``(Rz(roll) Ry(yaw) Rx(pitch))^T`` from angles in degrees (each ``(B,)`` or ``(B, 1)``) -> ``(B, 3, 3)``."""
    x, y, z = (angle.reshape(-1, 1) / 180 * math.pi for angle in (pitch, yaw, roll))
    ones, zeros = torch.ones_like(x), torch.zeros_like(x)
    batch = x.shape[0]
    rot_x = torch.cat([ones, zeros, zeros, zeros, torch.cos(x), -torch.sin(x), zeros, torch.sin(x), torch.cos(x)],
                      dim=1).reshape(batch, 3, 3)
    rot_y = torch.cat([torch.cos(y), zeros, torch.sin(y), zeros, ones, zeros, -torch.sin(y), zeros, torch.cos(y)],
                      dim=1).reshape(batch, 3, 3)
    rot_z = torch.cat([torch.cos(z), -torch.sin(z), zeros, torch.sin(z), torch.cos(z), zeros, zeros, zeros, ones],
                      dim=1).reshape(batch, 3, 3)
    return (rot_z @ rot_y @ rot_x).permute(0, 2, 1)


def refine_kp_info(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The official ``get_kp_info``: angles to degrees ``(B, 1)``, ``kp``/``exp`` to ``(B, K, 3)``."""
    batch = raw["kp"].shape[0]
    info = dict(raw)
    for name in ("pitch", "yaw", "roll"):
        info[name] = pose_degrees(raw[name])[:, None]
    info["kp"] = raw["kp"].reshape(batch, -1, 3)
    info["exp"] = raw["exp"].reshape(batch, -1, 3)
    return info


def transform_keypoints(kp: torch.Tensor, rotation: torch.Tensor, exp: torch.Tensor, scale: torch.Tensor,
                        t: torch.Tensor) -> torch.Tensor:
    """``scale * (kp @ R + exp) + (tx, ty, 0)``.

    Args:
        kp, exp: ``(B, K, 3)``; rotation: ``(B, 3, 3)``; scale: ``(B, 1)``; t: ``(B, 3)`` (tz ignored).

    Returns:
        ``(B, K, 3)``.
    """
    out = (kp @ rotation + exp) * scale[..., None]
    shift = torch.zeros_like(t)
    shift[:, :2] = t[:, :2]
    return out + shift[:, None, :]


def convex_hull_volume(points: torch.Tensor) -> float:
    """Volume of the 3-D convex hull of ``points`` ``(K, 3)`` (scipy's ``ConvexHull.volume``, float64).

    Raises:
        InputError: the keypoints span no volume.
    """
    from scipy.spatial import ConvexHull, QhullError

    array = points.detach().cpu().numpy()
    try:
        return float(ConvexHull(array).volume)
    except (QhullError, ValueError) as exc:
        raise InputError(f"keypoints span no volume (convex hull of {array.shape[0]} points failed); "
                         "turn off the expression-friendly multiplier (expression_friendly=False).") from exc


def motion_multiplier(kp_source: torch.Tensor, kp_reference: torch.Tensor) -> float:
    """``sqrt(vol(hull(x_s))) / sqrt(vol(hull(x_d0)))`` (the official ``calc_motion_multiplier``), ``(K, 3)`` each."""
    return float(np.sqrt(convex_hull_volume(kp_source)) / np.sqrt(convex_hull_volume(kp_reference)))
