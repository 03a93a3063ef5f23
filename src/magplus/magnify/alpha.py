"""Automatic α: magnify a clip's micro motion into the range of regular expressions.

The clip's non-rigid face motion is measured as a high percentile of the flow magnitude from
the reference (onset) frame to every frame, inside the face mask, after removing the rigid
(median) face motion; the peak over time is the clip's amplitude. α is chosen so that this
amplitude reaches a target macro amplitude (default 8 px on a 256-px face crop, the low end of
regular expressions in DOMAIN.md §1), clamped to ``[1, alpha_max]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError
from ..types import ALPHA_LIMIT, ALPHA_LIMIT_REASON

#: Target non-rigid amplitude in pixels at a 256-px face crop.
DEFAULT_TARGET_AMPLITUDE = 8.0
#: Largest α chosen automatically (beyond it, flow noise dominates); at most types.ALPHA_LIMIT,
#: the bound every magnifier enforces.
DEFAULT_ALPHA_MAX = 40.0


@dataclass
class MotionAmplitude:
    """Measured non-rigid motion of a clip.

    Attributes:
        curve: ``(T,)`` per-frame amplitude in pixels (percentile of |flow| in the mask).
        peak: maximum of ``curve``.
        peak_frame: index of the peak (≈ apex).
    """

    curve: torch.Tensor
    peak: float
    peak_frame: int

    @classmethod
    def from_curve(cls, curve: torch.Tensor) -> "MotionAmplitude":
        """The amplitude of a per-frame curve ``(T,)``: its peak and where it is."""
        peak_frame = int(curve.argmax())
        return cls(curve=curve, peak=float(curve[peak_frame]), peak_frame=peak_frame)


def _face_pixels(flow: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The flow vectors ``(T, 2, N)`` of the pixels that count: mask > 0.5 (all pixels for None)."""
    flat = flow.reshape(flow.shape[0], 2, -1)
    if mask is None:
        return flat
    sel = ((mask if mask.ndim == 2 else mask[0]).reshape(-1) > 0.5).nonzero()[:, 0]
    if sel.numel() == 0:
        raise InputError("the motion mask selects no pixel; check the face mask.")
    return flat.index_select(2, sel)


def rigid_translation(flow: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The per-frame median flow inside ``mask`` ``(T, 2)``: the face's rigid translation (robust to the expression)."""
    return _face_pixels(flow, mask).median(dim=2).values


def nonrigid_flow(flow: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Subtract the per-frame median flow inside ``mask`` (the rigid translation) -> ``(T, 2, H, W)``."""
    return flow - rigid_translation(flow, mask)[:, :, None, None]


def percentile_rows(values: torch.Tensor, q: float) -> torch.Tensor:
    """``torch.quantile(values, q, dim=1)`` (linear interpolation) of ``(T, N)`` by a partial sort:
    only the top ``1 - q`` share is ordered (8x faster than quantile's full sort at q = 0.95)."""
    n = values.shape[1]
    position = q * (n - 1)
    low = int(position)
    top = values.topk(n - low, dim=1).values  # descending: the last is the low-th smallest
    if low + 1 >= n:
        return top[:, -1]
    return torch.lerp(top[:, -1], top[:, -2], position - low)


def measure_amplitude(flow: torch.Tensor, mask: torch.Tensor | None = None, percentile: float = 95.0,
                      remove_rigid: bool = True) -> MotionAmplitude:
    """Per-frame non-rigid motion amplitude of flows ``(T, 2, H, W)`` (reference -> frame t).

    Args:
        mask: ``(H, W)`` face mask in [0, 1] (pixels > 0.5 count), or None for the whole frame.
        percentile: percentile of the flow magnitude taken per frame.
    """
    vectors = _face_pixels(flow, mask)
    if remove_rigid:
        vectors = vectors - vectors.median(dim=2).values[:, :, None]
    magnitude = torch.hypot(vectors[:, 0], vectors[:, 1])  # (T, N); a norm over a size-2 dim is 40x slower
    return MotionAmplitude.from_curve(percentile_rows(magnitude, percentile / 100.0))


def rigid_alpha_limit(flow: torch.Tensor, mask: torch.Tensor | None, max_px: float) -> float:
    """Largest α that keeps α × the peak rigid (median face) motion of ``flow`` ``(T, 2, H, W)`` within ``max_px``.

    The pipeline magnifies all motion, head motion included; a head drift of 2 px magnified 40×
    would push the face out of its crop. Returns inf when the clip has no rigid motion.
    """
    peak = float(rigid_translation(flow, mask).norm(dim=1).max())
    return max_px / peak if peak > 1e-6 else float("inf")


def choose_alpha(peak_px: float, target_px: float = DEFAULT_TARGET_AMPLITUDE, alpha_max: float = DEFAULT_ALPHA_MAX,
                 resolution: int = 256) -> float:
    """α that lifts ``peak_px`` to ``target_px`` (scaled from 256 px to ``resolution``), in [1, alpha_max]."""
    if target_px <= 0 or alpha_max < 1:
        raise InputError(f"target amplitude must be > 0 and alpha_max >= 1, got {target_px} and {alpha_max}.")
    if alpha_max > ALPHA_LIMIT:
        raise InputError(f"alpha_max must be <= {ALPHA_LIMIT:g}, got {alpha_max}: {ALPHA_LIMIT_REASON}.")
    target = target_px * resolution / 256.0
    if peak_px <= 1e-6:
        return float(alpha_max)
    return float(min(max(target / peak_px, 1.0), alpha_max))


def measure_clip_motion(frames: torch.Tensor, mask: torch.Tensor | None = None, ref: torch.Tensor | None = None,
                        flow="dis", percentile: float = 95.0) -> MotionAmplitude:
    """Non-rigid motion amplitude of ``frames`` ``(T, 3, H, W)`` relative to ``ref`` (default frame 0).

    Args:
        mask: ``(H, W)`` region (e.g. the face) in [0, 1], or None for the whole frame.
        flow: flow estimator name or instance (reference -> frame).
    """
    from ..flow.clip import clip_flows

    return measure_amplitude(clip_flows(frames, ref, flow), mask, percentile)


def auto_alpha(ref: torch.Tensor, frames: torch.Tensor, mask: torch.Tensor | None = None,
               target_px: float = DEFAULT_TARGET_AMPLITUDE, alpha_max: float = DEFAULT_ALPHA_MAX,
               flow="dis") -> tuple[float, MotionAmplitude]:
    """Choose α for ``frames`` ``(T, 3, H, W)`` relative to ``ref`` ``(3, H, W)`` from the non-rigid peak alone.

    ``MagPipeline`` applies the same rule and, since it magnifies head motion too, also caps α
    with :func:`rigid_alpha_limit`.

    Returns:
        ``(alpha, amplitude)``: the α used and the measured motion.
    """
    amplitude = measure_clip_motion(frames, mask, ref, flow)
    return choose_alpha(amplitude.peak, target_px, alpha_max, resolution=frames.shape[-1]), amplitude
