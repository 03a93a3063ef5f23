"""Automatic α: magnify a clip's micro motion into the range of regular expressions.

The clip's non-rigid face motion is measured as a high percentile of the flow magnitude from
the reference (onset) frame to every frame, inside the face mask, after removing the rigid
(median) face motion; the peak over time is the clip's amplitude. α is chosen so that this
amplitude reaches a target macro amplitude (default 8 px on a 256-px face crop, the low end of
regular expressions in DOMAIN.md §1), clamped to ``[1, alpha_max]``.

A motion confined to a small region (one eyelid, one lip corner: under 5 % of the face) hardly
moves that percentile, so α alone would lift it far beyond any regular expression (a 2-px
unilateral eyelid motion measured 0.2 px and got α = 40: 80 px, more than the eye opening). A
second, local amplitude, a higher percentile (99.5) of the same magnitudes, caps α so that no
region is lifted beyond ``max_local_ratio`` times the target (default twice).
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
#: Percentile of the face's flow magnitudes that measures the clip's most moving region: 99.5 is
#: the top ~100 pixels of a 256² face mask, a region the size of an eyelid, and still above the
#: isolated outliers of the flow.
LOCAL_PERCENTILE = 99.5
#: How far beyond the target automatic α may lift the local amplitude: twice (16 px at the default
#: target). On the regime sweep, the clips whose local amplitude was 3.3-4.7x their 95th percentile
#: (one-sided AUs at 2 px, given α 22-40) transferred 0.11-0.32 of the true peak, 0.34-0.69 with
#: this cap (benchmarks/results/transfer_regimes_local_cap.md; 0.13-0.51 with a cap of 3).
DEFAULT_MAX_LOCAL_RATIO = 2.0


@dataclass
class MotionAmplitude:
    """Measured non-rigid motion of a clip.

    Attributes:
        curve: ``(T,)`` per-frame amplitude in pixels (percentile of |flow| in the mask).
        peak: maximum of ``curve``.
        peak_frame: index of the peak (≈ apex).
        local_curve: ``(T,)`` per-frame local amplitude (the :data:`LOCAL_PERCENTILE` of the same
            magnitudes), or None when it was not measured.
        local_peak: maximum of ``local_curve`` (None without it).
        rigid: ``(T, 2)`` the median face flow taken out before measuring (:func:`rigid_translation`),
            or None when it was not.
    """

    curve: torch.Tensor
    peak: float
    peak_frame: int
    local_curve: torch.Tensor | None = None
    local_peak: float | None = None
    rigid: torch.Tensor | None = None

    @classmethod
    def from_curve(cls, curve: torch.Tensor, local_curve: torch.Tensor | None = None,
                   rigid: torch.Tensor | None = None) -> "MotionAmplitude":
        """The amplitude of a per-frame curve ``(T,)`` (and of its local curve): peaks and where the peak is."""
        peak_frame = int(curve.argmax())
        local_peak = None if local_curve is None else float(local_curve.max())
        return cls(curve=curve, peak=float(curve[peak_frame]), peak_frame=peak_frame, local_curve=local_curve,
                   local_peak=local_peak, rigid=rigid)


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


def percentile_rows(values: torch.Tensor, q: float, *more: float) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """``torch.quantile(values, q, dim=1)`` (linear interpolation) of ``(T, N)`` by a partial sort:
    only the top ``1 - q`` share is ordered (8x faster than quantile's full sort at q = 0.95).

    With further quantiles ``more`` (each >= ``q``), returns a tuple, all read from the same partial sort.
    """
    n = values.shape[1]
    low = int(q * (n - 1))
    top = values.topk(n - low, dim=1).values  # descending: index n - 1 - k holds the k-th smallest

    def read(quantile: float) -> torch.Tensor:
        position = quantile * (n - 1)
        k = int(position)
        if k < low:
            raise InputError(f"quantile {quantile} is below the first one, {q}.")
        if k + 1 >= n:
            return top[:, n - 1 - k]
        return torch.lerp(top[:, n - 1 - k], top[:, n - 2 - k], position - k)

    return read(q) if not more else tuple(read(x) for x in (q, *more))


def measure_amplitude(flow: torch.Tensor, mask: torch.Tensor | None = None, percentile: float = 95.0,
                      remove_rigid: bool = True, local_percentile: float | None = LOCAL_PERCENTILE) -> MotionAmplitude:
    """Per-frame non-rigid motion amplitude of flows ``(T, 2, H, W)`` (reference -> frame t).

    Args:
        mask: ``(H, W)`` face mask in [0, 1] (pixels > 0.5 count), or None for the whole frame.
        percentile: percentile of the flow magnitude taken per frame.
        local_percentile: the higher percentile of the local amplitude (``percentile`` when that
            is higher), or None to leave it out.
    """
    vectors = _face_pixels(flow, mask)
    rigid = vectors.median(dim=2).values if remove_rigid else None  # as rigid_translation computes it
    if rigid is not None:
        vectors = vectors - rigid[:, :, None]
    magnitude = torch.hypot(vectors[:, 0], vectors[:, 1])  # (T, N); a norm over a size-2 dim is 40x slower
    if local_percentile is None:
        return MotionAmplitude.from_curve(percentile_rows(magnitude, percentile / 100.0), rigid=rigid)
    if not 0.0 <= local_percentile <= 100.0:
        raise InputError(f"local_percentile must lie in [0, 100], got {local_percentile}.")
    curve, local = percentile_rows(magnitude, percentile / 100.0, max(local_percentile, percentile) / 100.0)
    return MotionAmplitude.from_curve(curve, local, rigid)


def rigid_alpha_limit(flow: torch.Tensor, mask: torch.Tensor | None, max_px: float) -> float:
    """Largest α that keeps α × the peak rigid (median face) motion of ``flow`` ``(T, 2, H, W)`` within ``max_px``.

    The pipeline magnifies all motion, head motion included; a head drift of 2 px magnified 40×
    would push the face out of its crop. Returns inf when the clip has no rigid motion.
    """
    peak = float(rigid_translation(flow, mask).norm(dim=1).max())
    return max_px / peak if peak > 1e-6 else float("inf")


def choose_alpha(peak_px: float, target_px: float = DEFAULT_TARGET_AMPLITUDE, alpha_max: float = DEFAULT_ALPHA_MAX,
                 resolution: int = 256, local_peak_px: float | None = None,
                 max_local_ratio: float | None = DEFAULT_MAX_LOCAL_RATIO) -> float:
    """α that lifts ``peak_px`` to ``target_px`` (scaled from 256 px to ``resolution``) and keeps
    ``local_peak_px`` within ``max_local_ratio`` × that target, in [1, alpha_max].

    ``local_peak_px`` None (not measured) or ``max_local_ratio`` None (no cap) leaves the local cap out.
    """
    if target_px <= 0 or alpha_max < 1:
        raise InputError(f"target amplitude must be > 0 and alpha_max >= 1, got {target_px} and {alpha_max}.")
    if alpha_max > ALPHA_LIMIT:
        raise InputError(f"alpha_max must be <= {ALPHA_LIMIT:g}, got {alpha_max}: {ALPHA_LIMIT_REASON}.")
    if max_local_ratio is not None and not max_local_ratio >= 1:
        raise InputError(f"max_local_ratio must be None or >= 1 (times the target amplitude), got {max_local_ratio}.")
    target = target_px * resolution / 256.0
    alpha = float(alpha_max) if peak_px <= 1e-6 else min(target / peak_px, alpha_max)
    if local_peak_px is not None and max_local_ratio is not None and local_peak_px > 1e-6:
        alpha = min(alpha, max_local_ratio * target / local_peak_px)
    return float(max(alpha, 1.0))


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
               flow="dis", max_local_ratio: float | None = DEFAULT_MAX_LOCAL_RATIO) -> tuple[float, MotionAmplitude]:
    """Choose α for ``frames`` ``(T, 3, H, W)`` relative to ``ref`` ``(3, H, W)`` from the non-rigid
    amplitudes alone (the clip's and the local one, :func:`choose_alpha`).

    ``MagPipeline`` applies the same rule and, when it is not stabilised (its head motion is then
    magnified too), also caps α with :func:`rigid_alpha_limit`.

    Returns:
        ``(alpha, amplitude)``: the α used and the measured motion.
    """
    amplitude = measure_clip_motion(frames, mask, ref, flow)
    return choose_alpha(amplitude.peak, target_px, alpha_max, resolution=frames.shape[-1],
                        local_peak_px=amplitude.local_peak, max_local_ratio=max_local_ratio), amplitude
