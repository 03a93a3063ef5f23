"""Metrics of motion magnification (DOMAIN.md §3).

* FlowMag motion error: ``L1(F(I0, Î), α · F(I0, It))`` — the flow of the magnified frame should be
  α times the flow of the input frame. L1 is the mean absolute difference over both flow channels
  and all (masked) pixels, in pixels.
* FlowMag magnification error: ``L1(|F(I0, Î)| / (|F(I0, It)| + 1e-4), α)`` — mean absolute
  deviation of the per-pixel magnification from α. Pixels whose input motion is below
  ``min_motion_px`` are left out (0 keeps the published definition, where still pixels dominate).
* Against a ground-truth magnified frame: SSIM and RMSE (intensity ×255, as in the GeoMag tables)
  and PSNR, after cropping an 8-pixel border (Oh et al. 2018 protocol).

``F`` is an evaluation flow estimator different from the one a learned magnifier was trained
with (e.g. DIS or TV-L1 when training used Lucas–Kanade).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError, ShapeError
from ..types import check_alpha, check_frames
from .appearance import PSNR_CAP_DB, masked_psnr, masked_ssim

#: Border cropped before SSIM/RMSE against ground truth (Oh et al. 2018).
BORDER_PX = 8


def _pixel_weights(flow_in: torch.Tensor, mask: torch.Tensor | None, min_motion_px: float) -> torch.Tensor:
    weights = torch.ones(flow_in.shape[0], *flow_in.shape[-2:]) if mask is None else mask.float().expand(
        flow_in.shape[0], *flow_in.shape[-2:])
    if min_motion_px > 0:
        weights = weights * (flow_in.norm(dim=1) >= min_motion_px).float()
    if float(weights.sum()) <= 0:
        raise InputError(f"no pixel left to measure (mask and min_motion_px={min_motion_px} exclude all); "
                         "lower min_motion_px or check the mask.")
    return weights


def _check_pair(flow_out: torch.Tensor, flow_in: torch.Tensor, alpha, mask: torch.Tensor | None) -> None:
    for name, flow in (("flow_out", flow_out), ("flow_in", flow_in)):
        if not isinstance(flow, torch.Tensor) or flow.ndim != 4 or flow.shape[1] != 2:
            raise ShapeError(f"{name} must be (T, 2, H, W) pixels, got {tuple(getattr(flow, 'shape', ()))}.")
    if flow_out.shape != flow_in.shape:
        raise ShapeError(f"flow_out {tuple(flow_out.shape)} and flow_in {tuple(flow_in.shape)} must match.")
    check_alpha(alpha)
    if mask is not None and (not isinstance(mask, torch.Tensor) or mask.shape != flow_in.shape[-2:]):
        raise ShapeError(f"mask must be (H, W) = {tuple(flow_in.shape[-2:])}, got {tuple(getattr(mask, 'shape', ()))}.")


def motion_error(flow_out: torch.Tensor, flow_in: torch.Tensor, alpha: float, mask: torch.Tensor | None = None,
                 min_motion_px: float = 0.0) -> float:
    """FlowMag motion error in pixels.

    Args:
        flow_out: ``(T, 2, H, W)`` flow from I0 to each magnified frame Î_t.
        flow_in: ``(T, 2, H, W)`` flow from I0 to each input frame I_t.
        alpha: the magnification factor (> 0).
        mask: ``(H, W)`` weights; min_motion_px: leave out pixels with smaller input motion.
    """
    _check_pair(flow_out, flow_in, alpha, mask)
    weights = _pixel_weights(flow_in, mask, min_motion_px)
    diff = (flow_out.float() - float(alpha) * flow_in.float()).abs().mean(dim=1)
    return float((diff * weights).sum() / weights.sum())


def magnification_error(flow_out: torch.Tensor, flow_in: torch.Tensor, alpha: float, mask: torch.Tensor | None = None,
                        min_motion_px: float = 0.0) -> float:
    """FlowMag magnification error ``mean | |F_out| / (|F_in| + 1e-4) − α |`` (unitless)."""
    _check_pair(flow_out, flow_in, alpha, mask)
    weights = _pixel_weights(flow_in, mask, min_motion_px)
    ratio = flow_out.float().norm(dim=1) / (flow_in.float().norm(dim=1) + 1e-4)
    return float(((ratio - float(alpha)).abs() * weights).sum() / weights.sum())


@dataclass
class FrameFidelity:
    """Similarity to a ground-truth frame after the border crop: SSIM, RMSE (×255), PSNR (dB)."""

    ssim: float
    rmse: float
    psnr: float


def frame_fidelity(prediction: torch.Tensor, truth: torch.Tensor, border: int = BORDER_PX) -> FrameFidelity:
    """Compare magnified frames with ground-truth magnified frames, averaged over frames.

    Args:
        prediction, truth: ``(T, 3, H, W)`` in [0, 1] (or ``(3, H, W)``).
        border: pixels cropped on every side first.
    """
    prediction = prediction[None] if prediction.ndim == 3 else prediction
    truth = truth[None] if truth.ndim == 3 else truth
    check_frames(prediction, "prediction")
    check_frames(truth, "truth")
    if prediction.shape != truth.shape:
        raise ShapeError(f"prediction {tuple(prediction.shape)} and truth {tuple(truth.shape)} must match.")
    height, width = truth.shape[-2:]
    if border < 0 or 2 * border + 7 > min(height, width):
        raise InputError(f"border must be >= 0 and leave at least 7 pixels, got {border} for {height}x{width} frames.")
    crop = (slice(None), slice(None), slice(border, height - border), slice(border, width - border))
    pred = prediction[crop].detach().float().permute(0, 2, 3, 1).cpu().numpy().astype(np.float64)
    true = truth[crop].detach().float().permute(0, 2, 3, 1).cpu().numpy().astype(np.float64)
    ones = np.ones(pred.shape[1:3])
    ssim = float(np.mean([masked_ssim(p, t, ones) for p, t in zip(pred, true)]))
    rmse = float(np.sqrt(((pred - true) ** 2).mean()) * 255.0)
    psnr = float(np.mean([masked_psnr(p, t, ones) for p, t in zip(pred, true)]))
    return FrameFidelity(ssim=ssim, rmse=rmse, psnr=min(psnr, PSNR_CAP_DB) if math.isfinite(psnr) else PSNR_CAP_DB)
