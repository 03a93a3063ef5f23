"""Render an AU program on a face, with the exact ground-truth flow.

Definition (all in pixels of the rendered frame):

* Ground truth first: ``flow_t(p) = s_d * d_t + alpha * sum_a A_a e_a(t) V_a(p)`` on frame 0's
  grid, where ``V_a`` is AU ``a``'s unit-peak field (:mod:`magplus.synth.au_fields`), ``A_a`` its
  amplitude (scaled by ``min(H, W) / 256``), ``e_a`` its envelope, ``d_t`` the rigid drift and
  ``s_d = alpha`` if ``scale_drift`` else 1. Convention of :mod:`magplus.types`: the pixel ``p``
  of frame 0 is at ``p + flow_t(p)`` in frame t, so ``backward_warp(frame_t, flow_t) ≈ frame_0``.
* Frames second: ``frame_t(q) = face(q + G_t(q))`` (Keys cubic, :mod:`.resample`), where ``G_t`` inverts the flow
  exactly (:func:`magplus.synth.inverse.invert_flow`, residual < 1e-5 px).

Because the flow is defined directly, it is *exactly* linear in alpha: the clip rendered with
``alpha`` has ``alpha`` times the non-rigid flow of the clip rendered with 1 — the ground truth of
a magnifier. With ``scale_drift=True`` (default) the drift is scaled too, as a FlowMag-style
magnifier scales every motion in the frame; ``scale_drift=False`` magnifies the expression only.

Frame 0 is the undeformed face. Sensor noise and uint8 quantisation are applied last; the flow
does not see them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..ops.warp import pixel_grid
from ..types import DEFAULT_RESOLUTION, Clip, NUM_FACE_LANDMARKS, check_alpha, check_landmarks
from .au_fields import AU_SPECS, AUField, build_au_field
from .faces import as_face_tensor, face_landmarks
from .inverse import FoldOverError, invert_flow
from .resample import cubic_sample
from .program import AUProgram
from .sampling import sample_program


@dataclass
class SynthClip:
    """A rendered synthetic micro-expression and its ground truth.

    Attributes:
        frames: ``(T, 3, H, W)`` float32 in [0, 1] (noise and quantisation included).
        flow: ``(T, 2, H, W)`` float32 ground-truth flow from frame 0 to frame t, pixels x then y;
            ``flow[0] == 0``; ``backward_warp(noise-free frame_t, flow[t]) ≈ frames[0]``.
        fps: frame rate.
        program: the rendered program.
        landmarks: ``(478, 2)`` pixel (x, y) landmarks of frame 0.
        masks: ``(H, W)`` bool masks: one per event label ("AU12", "L12", ...), "expression"
            (union of the expression's events), "blink" (if any) and "face" (landmark hull).
        peak_px: ``(T,)`` per-frame peak of the expression's non-rigid flow (blink and drift
            excluded), pixels.
        alpha: the magnification the clip was rendered with.
        meta: numbers worth logging (inverse residual, amplitude scale, timings...).
        drift: ``(T, 2)`` the rigid translation inside ``flow`` (pixels, alpha applied if
            ``meta["scale_drift"]``); ``flow[t] - drift[t]`` is the non-rigid motion.
    """

    frames: torch.Tensor
    flow: torch.Tensor
    fps: float
    program: AUProgram
    landmarks: np.ndarray
    masks: dict[str, torch.Tensor]
    peak_px: np.ndarray
    alpha: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)
    drift: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def apex_index(self) -> int:
        """Frame with the largest expression displacement."""
        return int(np.argmax(self.peak_px))

    def nonrigid_flow(self) -> torch.Tensor:
        """``(T, 2, H, W)`` ground-truth flow without the rigid drift."""
        drift = np.zeros((len(self), 2)) if self.drift is None else self.drift
        return self.flow - torch.from_numpy(drift).float()[:, :, None, None]

    def to_clip(self) -> Clip:
        """The frames as a :class:`magplus.types.Clip` (program and peak curve in ``meta``)."""
        return Clip(self.frames, fps=self.fps, meta={"program": self.program.to_dict(), "peak_px": self.peak_px.tolist()})


def face_mask(landmarks: np.ndarray, height: int, width: int) -> torch.Tensor:
    """``(H, W)`` bool: inside the convex hull of the landmarks."""
    import cv2

    hull = cv2.convexHull(np.round(landmarks).astype(np.int32))
    mask = np.zeros((height, width), np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    return torch.from_numpy(mask.astype(bool))


def _check_program(program: Any) -> None:
    if not isinstance(program, AUProgram):
        raise InputError(f"program must be an AUProgram, got {type(program).__name__}; build one or use sample_program().")


def _fields_and_coefficients(program: AUProgram, landmarks: np.ndarray, height: int, width: int, alpha: float,
                             scale: float) -> tuple[list[AUField], torch.Tensor]:
    """One field per event (expression events first, then the blink) and their ``(T, A)`` coefficients."""
    cache: dict[tuple[int, str | None], AUField] = {}
    fields, columns = [], []
    for event in program.all_events():
        key = (event.au, event.side)
        if key not in cache:
            cache[key] = build_au_field(event.au, event.side, landmarks, height, width)
        fields.append(cache[key])
        columns.append(alpha * event.amplitude_px * scale * event.envelope(program.times))
    return fields, torch.from_numpy(np.stack(columns, axis=1))


def fold_limit(field: torch.Tensor, min_det: float = 0.05) -> float:
    """Largest factor ``s`` such that ``p -> p + s * field(p)`` keeps a Jacobian determinant > ``min_det``.

    Per pixel, ``det(I + s J) = 1 + s tr(J) + s^2 det(J)`` is a quadratic in ``s``; the answer is
    its smallest positive root over all pixels (and frames).

    Args:
        field: ``(2, H, W)`` or ``(T, 2, H, W)`` displacement in pixels.
        min_det: smallest Jacobian determinant accepted.

    Returns:
        The factor (``inf`` if the field can be scaled without limit).
    """
    field = field[None] if field.ndim == 3 else field
    dfx_dy, dfx_dx = torch.gradient(field[:, 0], dim=(1, 2))
    dfy_dy, dfy_dx = torch.gradient(field[:, 1], dim=(1, 2))
    trace, det = dfx_dx + dfy_dy, dfx_dx * dfy_dy - dfx_dy * dfy_dx
    gap = 1.0 - min_det
    never = torch.full_like(trace, float("inf"))
    # det(J) ~ 0: the quadratic is linear, 1 + s tr(J) = min_det.
    linear = torch.where(trace < 0, -gap / trace, never)
    disc = trace * trace - 4.0 * det * gap
    root = torch.sqrt(disc.clamp(min=0.0))
    roots = torch.stack([(-trace - root) / (2.0 * det), (-trace + root) / (2.0 * det)])
    roots = torch.where((roots > 0) & (disc >= 0), roots, never[None]).amin(0)
    return float(torch.where(det.abs() > 1e-12, roots, linear).min())


def max_alpha(program: AUProgram, face: Any = None, landmarks: np.ndarray | None = None) -> float:
    """The largest alpha at which ``program`` renders on ``face`` without folding the skin over.

    Linear magnification of a local field eventually squeezes skin to nothing (Jacobian
    determinant -> 0); the limit is ~7-22 px of peak displacement per AU at 256² (narrow lid and lip
    fields first). Drift does not matter (a translation never folds).

    Returns:
        ``0.95 x`` the limit (the margin covers the grid's finite differences).
    """
    _check_program(program)
    image = as_face_tensor(face)
    _, height, width = image.shape
    landmarks = face_landmarks(image) if landmarks is None else np.asarray(landmarks, dtype=np.float64)
    check_landmarks(landmarks, "landmarks", NUM_FACE_LANDMARKS)
    fields, coefficients = _fields_and_coefficients(program, landmarks, height, width, 1.0,
                                                    min(height, width) / DEFAULT_RESOLUTION)
    unit_grids = torch.stack([f.grid for f in fields])
    limit = float("inf")
    for part in coefficients.split(16):  # bounded memory: 16 frames of (2, H, W) float64 at a time
        limit = min(limit, fold_limit(torch.einsum("ta,achw->tchw", part, unit_grids)))
    return 0.95 * limit


def _invert(drift, coefficients, fields, nonrigid, alpha: float):
    """:func:`invert_flow`, with the fold-over error turned into advice: the largest usable alpha."""
    try:
        return invert_flow(drift, coefficients, fields, nonrigid)
    except FoldOverError as exc:
        # 0.95: margin for the grid's finite differences against the analytic Jacobian
        limit = 0.95 * alpha * min(1.0, fold_limit(nonrigid))
        raise InputError(
            f"alpha x amplitude is too large: the skin folds over (first at frame {exc.frame}); with this program use "
            f"alpha <= {limit:.3g} (or lower the AU amplitudes)."
        ) from None


def _masks(program: AUProgram, fields: list[AUField], landmarks: np.ndarray, height: int, width: int) -> dict[str, torch.Tensor]:
    """Region masks: one per expression event, their union, the blink's, and the face hull."""
    n_expr = len(program.events)
    masks = {event.label: f.mask for event, f in zip(program.events, fields)}
    masks["expression"] = torch.stack([f.mask for f in fields[:n_expr]]).any(0)
    if program.blink is not None:
        masks["blink"] = fields[-1].mask
    masks["face"] = face_mask(landmarks, height, width)
    return masks


def _degrade(frames: torch.Tensor, program: AUProgram) -> torch.Tensor:
    """Add the program's sensor noise (seeded) and uint8 quantisation."""
    if program.noise_sigma > 0:
        generator = torch.Generator().manual_seed(program.seed)
        noise = torch.randn(frames.shape, generator=generator, dtype=frames.dtype)
        frames = (frames + program.noise_sigma * noise).clamp(0.0, 1.0)
    if program.quantise:
        frames = torch.round(frames * 255.0) / 255.0
    return frames


def render_program(program: AUProgram, face: Any = None, alpha: float = 1.0, landmarks: np.ndarray | None = None,
                   scale_drift: bool = True) -> SynthClip:
    """Render ``program`` on ``face``: frames plus exact ground-truth flow.

    Args:
        program: the AU program (see :class:`~magplus.synth.program.AUProgram`).
        face: ``(3, H, W)`` float RGB in [0, 1] (or uint8 ``(H, W, 3)``); None = :func:`default_face`.
        alpha: multiplies the non-rigid motion (and the drift if ``scale_drift``); > 0.
        landmarks: ``(478, 2)`` landmarks of ``face``; detected (and cached) when None.
        scale_drift: scale the rigid drift by alpha too (FlowMag-style: all motion magnified).

    Returns:
        A :class:`SynthClip`.

    Raises:
        InputError: bad program/alpha, or a deformation that folds over. NoFaceError: no face found.
    """
    _check_program(program)
    check_alpha(alpha)
    alpha = float(alpha)
    image = as_face_tensor(face)
    _, height, width = image.shape
    if landmarks is None:
        landmarks = face_landmarks(image)
    check_landmarks(landmarks, "landmarks", NUM_FACE_LANDMARKS)
    landmarks = np.asarray(landmarks, dtype=np.float64)
    scale = min(height, width) / DEFAULT_RESOLUTION

    fields, coefficients = _fields_and_coefficients(program, landmarks, height, width, alpha, scale)
    drift = torch.from_numpy(program.drift() * scale * (alpha if scale_drift else 1.0))
    unit_grids = torch.stack([f.grid for f in fields])
    nonrigid = torch.einsum("ta,achw->tchw", coefficients, unit_grids)  # T x 2 x H x W
    maps, residual = _invert(drift, coefficients, fields, nonrigid, alpha)
    still = (maps == 0).flatten(1).all(dim=1)
    coords = pixel_grid(height, width, dtype=torch.float64)[None] + maps
    frames = cubic_sample(image, coords).clamp(0.0, 1.0)
    frames[still] = image  # an identity warp is the face itself, without round-off
    flow = (nonrigid + drift[:, :, None, None]).float()

    masks = _masks(program, fields, landmarks, height, width)
    n_expr = len(program.events)
    expression = torch.einsum("ta,achw->tchw", coefficients[:, :n_expr], unit_grids[:n_expr])
    meta = {
        "inverse_residual_px": residual,
        "amplitude_scale": scale,
        "scale_drift": bool(scale_drift),
        "au_names": {e.label: AU_SPECS[e.au][0] for e in program.all_events()},
    }
    peak = (expression * expression).sum(dim=1).flatten(1).amax(dim=1).sqrt().numpy()
    return SynthClip(_degrade(frames, program), flow, program.fps, program, landmarks, masks, peak, alpha, meta,
                     drift=drift.numpy())


def generate(seed: int, face: Any = None, fps: float = 200.0, alpha: float = 1.0, **overrides: Any) -> SynthClip:
    """Sample a program with ``seed`` (see :func:`sample_program`) and render it; deterministic.

    Args:
        seed: integer seed of both the sampling and the noise.
        face: as in :func:`render_program`.
        fps: frame rate.
        alpha: as in :func:`render_program`.
        **overrides: keyword arguments of :func:`sample_program` (``aus``, ``side``, ``amplitude_px``,
            ``drift_px``, ``noise_sigma``, ``blink``...).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InputError(f"seed must be an integer, got {seed!r}.")
    scale_drift = overrides.pop("scale_drift", True)
    program = sample_program(int(seed), fps=fps, **overrides)
    return render_program(program, face=face, alpha=alpha, scale_drift=scale_drift)


__all__ = ["SynthClip", "render_program", "generate", "face_mask", "max_alpha", "fold_limit"]
