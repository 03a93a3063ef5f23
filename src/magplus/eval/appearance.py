"""Identity / appearance stability of a generated clip in its static regions.

The generated clip should change only where the expression moves. Outside those regions each
frame is compared with the generated first frame (PSNR and SSIM, scikit-image), and the temporal
flicker is the mean absolute frame-to-frame intensity change there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError, ShapeError
from ..types import check_frames

#: PSNR of identical images is infinite; reports cap it here so that means and JSON stay finite.
PSNR_CAP_DB = 100.0


@dataclass
class AppearanceStability:
    """Mean over frames 1..T-1 of PSNR (dB, capped) and SSIM vs frame 0 in the static region,
    and flicker: mean |frame_t − frame_{t−1}| there (intensity units in [0, 1])."""

    psnr: float
    ssim: float
    flicker: float


def masked_psnr(a: np.ndarray, b: np.ndarray, weights: np.ndarray) -> float:
    """PSNR (dB, data range 1, capped at :data:`PSNR_CAP_DB`) of ``(H, W, C)`` images over weighted pixels."""
    mse = float((((a - b) ** 2).mean(axis=-1) * weights).sum() / weights.sum())
    return PSNR_CAP_DB if mse <= 10 ** (-PSNR_CAP_DB / 10) else min(PSNR_CAP_DB, 10.0 * math.log10(1.0 / mse))


def masked_ssim(a: np.ndarray, b: np.ndarray, weights: np.ndarray) -> float:
    """SSIM of ``(H, W, C)`` images in [0, 1], averaged over the weighted pixels of the SSIM map."""
    from skimage.metrics import structural_similarity

    side = min(a.shape[0], a.shape[1])
    window = min(7, side if side % 2 else side - 1)
    _, full = structural_similarity(a, b, data_range=1.0, channel_axis=-1, full=True, win_size=window)
    return float((full.mean(axis=-1) * weights).sum() / weights.sum())


def appearance_stability(frames: torch.Tensor, static_mask: torch.Tensor | None = None) -> AppearanceStability:
    """PSNR / SSIM against the first frame and flicker, inside ``static_mask``.

    Args:
        frames: ``(T, 3, H, W)`` in [0, 1], T >= 2 (the generated clip).
        static_mask: ``(H, W)`` weights in [0, 1] of the regions that should not change (e.g.
            ``1 − au_mask(all AUs)`` of the generated face); the whole frame when None.
    """
    check_frames(frames, "frames", min_frames=2)
    _, _, height, width = frames.shape
    if static_mask is None:
        static_mask = torch.ones(height, width)
    if not isinstance(static_mask, torch.Tensor) or static_mask.shape != (height, width):
        raise ShapeError(f"static_mask must be an (H, W) = {(height, width)} tensor, got "
                         f"{tuple(getattr(static_mask, 'shape', ()))}.")
    weights = static_mask.detach().float().clamp(0, 1).numpy().astype(np.float64)
    if weights.sum() <= 0:
        raise InputError("static_mask has zero weight; there is no static region to measure.")
    images = frames.detach().float().permute(0, 2, 3, 1).cpu().numpy().astype(np.float64)
    psnr = [masked_psnr(images[t], images[0], weights) for t in range(1, len(images))]
    ssim = [masked_ssim(images[t], images[0], weights) for t in range(1, len(images))]
    steps = np.abs(np.diff(images, axis=0)).mean(axis=-1)  # (T-1, H, W)
    flicker = float((steps * weights).sum() / (weights.sum() * steps.shape[0]))
    return AppearanceStability(psnr=float(np.mean(psnr)), ssim=float(np.mean(ssim)), flicker=flicker)
