"""Motion-fidelity metrics on optical flow: peak ratio, per-region agreement, leakage, end-point error.

Every function takes flows that were already estimated from the first frame of a clip to every
frame (``(T, 2, H, W)``, pixels, x then y; see :func:`magplus.flow.clip.clip_flows`), so the
metrics themselves are pure tensor arithmetic and can be checked on constructed flows.

"Non-rigid" motion is the flow minus its per-frame median inside the face mask (the rigid
translation of the head), as in :mod:`magplus.magnify.alpha`. Masks are soft ``(H, W)`` weights
in [0, 1] (e.g. :func:`magplus.face.regions.region_masks`); a hard threshold of 0.5 is applied
only where the median needs a set of pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError, ShapeError
from ..magnify.alpha import nonrigid_flow
from ..types import check_landmarks, check_shape

#: MediaPipe face-mesh outer eye corners (subject's right, left): their distance is the face scale.
OUTER_EYE_CORNERS = (33, 263)


def check_flows(flows: torch.Tensor, name: str = "flows") -> None:
    """Check a flow sequence ``(T, 2, H, W)``."""
    check_shape(flows, ["T", 2, "H", "W"], name)
    if not flows.is_floating_point():
        raise ShapeError(f"{name} must be a float tensor of pixels, got dtype {flows.dtype}.")


def _check_mask(mask: torch.Tensor | None, flows: torch.Tensor, name: str) -> torch.Tensor | None:
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor) or mask.shape != flows.shape[-2:]:
        raise ShapeError(f"{name} must be an (H, W) tensor matching the flows {tuple(flows.shape[-2:])}, "
                         f"got {tuple(getattr(mask, 'shape', ()))}.")
    return mask.float()


def pearson(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    """Pearson correlation of two equally long sequences; NaN when either is constant."""
    x = np.asarray(a, dtype=np.float64).reshape(-1)
    y = np.asarray(b, dtype=np.float64).reshape(-1)
    if x.shape != y.shape or x.size < 2:
        raise ShapeError(f"pearson needs two sequences of the same length >= 2, got {x.size} and {y.size}.")
    x, y = x - x.mean(), y - y.mean()
    denom = math.sqrt(float((x * x).sum()) * float((y * y).sum()))
    return float((x * y).sum() / denom) if denom > 1e-12 else math.nan


def face_size(landmarks: np.ndarray) -> float:
    """Face scale in pixels: outer-eye-corner distance for 478 MediaPipe points, else sqrt(box area).

    Args:
        landmarks: ``(N, 2)`` pixel (x, y).
    """
    check_landmarks(landmarks, "landmarks")
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape[0] == 478:
        size = float(np.linalg.norm(points[OUTER_EYE_CORNERS[0]] - points[OUTER_EYE_CORNERS[1]]))
    else:
        extent = points.max(axis=0) - points.min(axis=0)
        size = float(math.sqrt(max(extent[0] * extent[1], 0.0)))
    if not size > 0:
        raise InputError("landmarks span no area, so the face size is 0; pass landmarks of a detected face.")
    return size


def rigid_removed(flows: torch.Tensor, face_mask: torch.Tensor | None) -> torch.Tensor:
    """``flows`` minus the per-frame median flow inside ``face_mask`` (whole frame when None)."""
    check_flows(flows)
    mask = _check_mask(face_mask, flows, "face_mask")
    if mask is not None and not bool((mask > 0.5).any()):
        raise InputError("face_mask selects no pixel (> 0.5); pass the mask of the face in these frames.")
    return nonrigid_flow(flows.float(), mask)


def motion_curve(flows: torch.Tensor, mask: torch.Tensor | None = None, face_mask: torch.Tensor | None = None,
                 percentile: float | None = None, remove_rigid: bool = True) -> np.ndarray:
    """Motion magnitude per frame ``(T,)`` in pixels.

    Args:
        flows: ``(T, 2, H, W)`` from frame 0.
        mask: region whose motion is measured (soft weights); whole frame when None.
        face_mask: region whose median flow is the rigid motion (defaults to ``mask``).
        percentile: None for the mask-weighted mean magnitude; a number in (0, 100] for that
            percentile of the magnitude over pixels with mask > 0.5 (peak-style amplitude).
        remove_rigid: subtract the rigid motion first.
    """
    check_flows(flows)
    mask = _check_mask(mask, flows, "mask")
    field = rigid_removed(flows, face_mask if face_mask is not None else mask) if remove_rigid else flows.float()
    magnitude = field.norm(dim=1)  # T x H x W
    if percentile is not None:
        if not 0 < float(percentile) <= 100:
            raise InputError(f"percentile must lie in (0, 100], got {percentile}.")
        values = magnitude.flatten(1) if mask is None else magnitude.flatten(1)[:, mask.flatten() > 0.5]
        if values.shape[1] == 0:
            raise InputError("mask selects no pixel (> 0.5); check the region mask.")
        return torch.quantile(values, float(percentile) / 100.0, dim=1).numpy().astype(np.float64)
    if mask is None:
        return magnitude.flatten(1).mean(dim=1).numpy().astype(np.float64)
    weight = float(mask.sum())
    if weight <= 0:
        raise InputError("mask has zero weight; check the region mask.")
    return ((magnitude * mask).flatten(1).sum(dim=1) / weight).numpy().astype(np.float64)


@dataclass
class PeakRatio:
    """Peak non-rigid motion, in face sizes (outer-eye-corner distances), and their ratio (ideal 1)."""

    driving_peak: float
    generated_peak: float
    ratio: float


def peak_motion_ratio(driving_flows: torch.Tensor, generated_flows: torch.Tensor, driving_landmarks: np.ndarray,
                      generated_landmarks: np.ndarray, driving_face: torch.Tensor | None = None,
                      generated_face: torch.Tensor | None = None, percentile: float = 95.0) -> PeakRatio:
    """Ratio of the peak non-rigid face motion of a generated clip to that of its driving clip.

    Each peak is the maximum over time of the ``percentile`` of the non-rigid flow magnitude inside
    the face mask, divided by the face size (:func:`face_size`), so that faces of different sizes
    compare. A ratio < 1 means the generated clip lost motion, > 1 that it added some.

    Args:
        driving_flows, generated_flows: ``(T, 2, H, W)`` from each clip's frame 0 (T may differ).
        driving_landmarks, generated_landmarks: ``(N, 2)`` landmarks of each clip's frame 0.
        driving_face, generated_face: ``(H, W)`` face masks (whole frame when None).
    """
    peaks = []
    for flows, landmarks, face, name in ((driving_flows, driving_landmarks, driving_face, "driving"),
                                         (generated_flows, generated_landmarks, generated_face, "generated")):
        check_flows(flows, f"{name}_flows")
        curve = motion_curve(flows, face, percentile=percentile)
        peaks.append(float(curve.max()) / face_size(landmarks))
    ratio = peaks[1] / peaks[0] if peaks[0] > 1e-12 else math.nan
    return PeakRatio(driving_peak=peaks[0], generated_peak=peaks[1], ratio=ratio)


@dataclass
class RegionAgreement:
    """Agreement of one region's motion over time between driving and generated clips.

    Attributes:
        correlation: Pearson correlation of the mask-weighted mean non-rigid magnitude curves
            (NaN when a curve is constant).
        direction_cosine: mean cosine between the region-mean non-rigid flow vectors, over frames
            where the driving region moves by at least ``min_fraction`` of its peak, weighted by the
            driving magnitude (NaN when no frame qualifies).
    """

    correlation: float
    direction_cosine: float


def region_vectors(flows: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mask-weighted mean flow vector per frame ``(T, 2)`` (pixels)."""
    weight = mask.float().sum()
    if float(weight) <= 0:
        raise InputError("region mask has zero weight; check the region mask.")
    return (flows * mask).flatten(2).sum(dim=2) / weight


def region_agreement(driving_flows: torch.Tensor, generated_flows: torch.Tensor, driving_masks: dict[str, torch.Tensor],
                     generated_masks: dict[str, torch.Tensor], driving_face: torch.Tensor | None = None,
                     generated_face: torch.Tensor | None = None, min_fraction: float = 0.1) -> dict[str, RegionAgreement]:
    """Per-region motion correlation and direction cosine over time.

    The two clips may show different faces: each region's mask is given per face (same names).
    Both clips must have the same number of frames. Directions are compared in image axes, which
    assumes upright, roughly frontal face crops (as the pipeline produces).

    Args:
        driving_flows, generated_flows: ``(T, 2, H, W)`` from frame 0.
        driving_masks, generated_masks: region name -> ``(H, W)`` soft mask of that face.
        driving_face, generated_face: face masks for the rigid-motion median (whole frame when None).
        min_fraction: frames whose driving region motion is below this fraction of its peak do
            not count in the direction cosine.
    """
    check_flows(driving_flows, "driving_flows")
    check_flows(generated_flows, "generated_flows")
    if driving_flows.shape[0] != generated_flows.shape[0]:
        raise ShapeError(f"driving and generated clips must have the same length, got {driving_flows.shape[0]} "
                         f"and {generated_flows.shape[0]} frames.")
    missing = sorted(set(driving_masks) ^ set(generated_masks))
    if missing:
        raise InputError(f"driving_masks and generated_masks must name the same regions; differ in {missing}.")
    drv = rigid_removed(driving_flows, driving_face)
    gen = rigid_removed(generated_flows, generated_face)
    out: dict[str, RegionAgreement] = {}
    for name in driving_masks:
        m_drv = _check_mask(driving_masks[name], drv, f"driving_masks[{name!r}]")
        m_gen = _check_mask(generated_masks[name], gen, f"generated_masks[{name!r}]")
        curve_drv = motion_curve(drv, m_drv, remove_rigid=False)
        curve_gen = motion_curve(gen, m_gen, remove_rigid=False)
        v_drv, v_gen = region_vectors(drv, m_drv), region_vectors(gen, m_gen)
        n_drv, n_gen = v_drv.norm(dim=1), v_gen.norm(dim=1)
        use = (n_drv >= min_fraction * float(n_drv.max())) & (n_drv > 1e-9) & (n_gen > 1e-9)
        if bool(use.any()):
            cosine = (v_drv[use] * v_gen[use]).sum(dim=1) / (n_drv[use] * n_gen[use])
            direction = float((cosine * n_drv[use]).sum() / n_drv[use].sum())
        else:
            direction = math.nan
        out[name] = RegionAgreement(correlation=pearson(curve_drv, curve_gen), direction_cosine=direction)
    return out


def leakage(flows: torch.Tensor, active_mask: torch.Tensor, face_mask: torch.Tensor | None = None) -> float:
    """Fraction of the non-rigid motion energy inside the face that lies outside the active regions.

    ``sum(|f|² · face · (1 − active)) / sum(|f|² · face)`` over all frames, ``f`` the non-rigid flow.
    0 = all motion where the driving expression moves, 1 = all of it elsewhere; 0 for a still clip.

    Args:
        flows: ``(T, 2, H, W)`` from frame 0.
        active_mask: ``(H, W)`` in [0, 1]: the regions the driving expression moves (e.g.
            :func:`magplus.face.regions.au_mask` of its AUs, on this clip's face).
        face_mask: ``(H, W)`` face region (rigid median and energy domain); whole frame when None.
    """
    check_flows(flows)
    active = _check_mask(active_mask, flows, "active_mask")
    if active is None:
        raise InputError("active_mask is required: the (H, W) mask of the regions the driving clip moves.")
    face = _check_mask(face_mask, flows, "face_mask")
    energy = rigid_removed(flows, face).pow(2).sum(dim=1)  # T x H x W
    if face is not None:
        energy = energy * face
    total = float(energy.sum())
    if total <= 1e-12:
        return 0.0
    return float((energy * (1.0 - active.clamp(0, 1))).sum()) / total


def endpoint_error(flows: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Mean end-point error ``|flows − truth|`` in pixels over all frames (mask-weighted when given).

    Args:
        flows, truth: ``(T, 2, H, W)`` (e.g. the generated clip's flow from frame 0 and the
            ground-truth flow from frame 0 of a synthetic clip).
        mask: ``(H, W)`` weights (e.g. the face); whole frame when None.
    """
    check_flows(flows, "flows")
    check_flows(truth, "truth")
    if flows.shape != truth.shape:
        raise ShapeError(f"flows {tuple(flows.shape)} and truth {tuple(truth.shape)} must have the same shape.")
    error = (flows.float() - truth.float()).norm(dim=1)  # T x H x W
    weights = _check_mask(mask, flows, "mask")
    if weights is None:
        return float(error.mean())
    if float(weights.sum()) <= 0:
        raise InputError("mask has zero weight; check the face mask.")
    return float((error * weights).sum() / (weights.sum() * error.shape[0]))
