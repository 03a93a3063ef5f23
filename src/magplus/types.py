"""Conventions shared by every part of magplus, and small checking helpers.

Frames
    float32 tensors ``(T, 3, H, W)`` (or ``(B, T, 3, H, W)``), RGB, values in [0, 1].
    uint8 ``(T, H, W, 3)`` arrays appear only at the I/O edge.
Flow
    ``(2, H, W)`` (or ``(B, 2, H, W)``) in pixels, x then y. A flow ``F`` from ``src`` to ``tgt``
    says that the pixel at ``p`` in ``src`` is found at ``p + F(p)`` in ``tgt``; hence the
    *backward warp* ``backward_warp(tgt, F)(p) = tgt(p + F(p)) ≈ src(p)``.
Landmarks
    ``(N, 2)`` float pixel coordinates ``(x, y)`` in the frame they were detected in
    (MediaPipe face mesh: N = 478).
alpha (α)
    a float or a per-sample tensor; α > 1 magnifies, α < 1 attenuates, α = 1 is identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from .errors import InputError, ShapeError

#: Number of MediaPipe face-mesh landmarks with iris refinement.
NUM_FACE_LANDMARKS = 478
#: Default working resolution of face crops (square side, pixels).
DEFAULT_RESOLUTION = 256


@dataclass
class Clip:
    """A video clip in magplus's frame convention.

    Attributes:
        frames: ``(T, 3, H, W)`` float32 in [0, 1].
        fps: frames per second (> 0).
        meta: free-form metadata (source path, dataset fields, ...).
    """

    frames: torch.Tensor
    fps: float = 30.0
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_frames(self.frames, "Clip.frames")
        if not (self.fps > 0):
            raise InputError(f"Clip.fps must be > 0, got {self.fps}.")

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of the frames."""
        return int(self.frames.shape[-2]), int(self.frames.shape[-1])


def describe_shape(x: Any) -> str:
    """Short human description of a tensor/array shape and dtype for error messages."""
    if isinstance(x, (torch.Tensor, np.ndarray)):
        return f"shape {tuple(x.shape)} dtype {x.dtype}"
    return f"a {type(x).__name__}"


def check_shape(x: Any, dims: Sequence[str | int], name: str) -> None:
    """Check that ``x`` is a tensor whose shape matches ``dims``.

    Args:
        x: the tensor.
        dims: one entry per dimension: an int for a fixed size, a string for a free size
            (the same string twice must have the same size).
        name: the argument name used in the error.

    Raises:
        ShapeError: naming the expected and the actual shape.
    """
    if not isinstance(x, torch.Tensor):
        raise ShapeError(f"{name} must be a torch.Tensor of shape {tuple(dims)}, got {describe_shape(x)}.")
    if x.ndim != len(dims):
        raise ShapeError(f"{name} must have shape {tuple(dims)}, got {tuple(x.shape)}.")
    bound: dict[str, int] = {}
    for size, dim in zip(x.shape, dims):
        if isinstance(dim, int) and size != dim:
            raise ShapeError(f"{name} must have shape {tuple(dims)}, got {tuple(x.shape)}.")
        if isinstance(dim, str):
            if dim in bound and bound[dim] != size:
                raise ShapeError(f"{name} must have shape {tuple(dims)} (equal '{dim}'), got {tuple(x.shape)}.")
            bound[dim] = int(size)


def check_frames(frames: Any, name: str = "frames", min_frames: int = 1) -> None:
    """Check the frame convention: float tensor ``(T, 3, H, W)`` with values in [0, 1].

    Raises:
        ShapeError: wrong type, rank, channel count, dtype or value range.
    """
    check_shape(frames, ["T", 3, "H", "W"], name)
    if not frames.is_floating_point():
        raise ShapeError(f"{name} must be a float tensor in [0, 1], got dtype {frames.dtype}.")
    if frames.shape[0] < min_frames:
        raise ShapeError(f"{name} must have at least {min_frames} frame(s), got {frames.shape[0]}.")
    if frames.numel():
        lo, hi = (float(v) for v in torch.aminmax(frames))  # one pass over the clip, not two
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ShapeError(f"{name} values must lie in [0, 1], got range [{lo:.3g}, {hi:.3g}].")


def check_image(image: Any, name: str = "image") -> None:
    """Check a single image: float tensor ``(3, H, W)`` in [0, 1]."""
    check_shape(image, [3, "H", "W"], name)
    check_frames(image[None], name)


#: Largest magnification (and, as 1/ALPHA_LIMIT, the strongest attenuation) accepted anywhere.
#: Micro-expressions move 0.3-3 px on a 256-px face and flow noise is 0.1-0.8 px (DOMAIN.md §1):
#: at 100x the noise alone becomes 10-80 px of invented motion and a 1 px motion becomes 100 px,
#: which leaves the face crop and folds the warp. The literature uses 4-20 (learned methods are
#: tested up to 100); automatic α stops at magnify.alpha.DEFAULT_ALPHA_MAX (40).
ALPHA_LIMIT = 100.0
ALPHA_LIMIT_REASON = (
    f"beyond {ALPHA_LIMIT:g}x even the 0.1 px flow noise becomes >= 10 px of motion and the magnified "
    "face leaves its crop and folds (micro-expressions need 4-40)"
)


def check_alpha(alpha: Any, name: str = "alpha", limit: float | None = ALPHA_LIMIT) -> None:
    """Check a magnification factor: a finite float in ``[1/limit, limit]``, or a tensor of them.

    Args:
        alpha: the factor (> 1 magnifies, < 1 attenuates).
        name: argument name used in the error.
        limit: largest accepted α (and 1/limit the smallest); None: any finite α > 0.
    """
    if isinstance(alpha, torch.Tensor):
        if not torch.isfinite(alpha).all() or (alpha <= 0).any():
            raise InputError(f"{name} must be finite and > 0 everywhere (1 = identity), got a tensor with min {float(alpha.min()):.3g}.")
        low, high = float(alpha.min()), float(alpha.max())
    else:
        try:
            low = high = float(alpha)
        except (TypeError, ValueError):
            raise InputError(f"{name} must be a number > 0 (1 = identity), got {alpha!r}.") from None
        if not np.isfinite(low) or low <= 0:
            raise InputError(f"{name} must be a finite number > 0 (1 = identity), got {alpha!r}.")
    if limit is not None and (high > limit or low < 1.0 / limit):
        value = high if high > limit else low
        raise InputError(f"{name} must lie in [{1.0 / limit:g}, {limit:g}], got {value:g}: {ALPHA_LIMIT_REASON}.")


def check_flow(flow: Any, name: str = "flow") -> None:
    """Check a flow field ``(2, H, W)`` or ``(B, 2, H, W)`` in pixels."""
    if not isinstance(flow, torch.Tensor) or flow.ndim not in (3, 4) or flow.shape[-3] != 2:
        raise ShapeError(f"{name} must have shape (2, H, W) or (B, 2, H, W), got {describe_shape(flow)}.")


def check_landmarks(landmarks: Any, name: str = "landmarks", count: int | None = None) -> None:
    """Check landmarks ``(N, 2)`` (numpy or torch), optionally with a fixed N."""
    shape = getattr(landmarks, "shape", None)
    if shape is None or len(shape) != 2 or shape[1] != 2 or (count is not None and shape[0] != count):
        want = f"({count if count is not None else 'N'}, 2)"
        raise ShapeError(f"{name} must have shape {want}, got {describe_shape(landmarks)}.")


def to_frames(array: np.ndarray) -> torch.Tensor:
    """uint8 ``(T, H, W, 3)`` (or ``(H, W, 3)``) array -> float frames ``(T, 3, H, W)`` in [0, 1]."""
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ShapeError(f"expected a uint8 array (T, H, W, 3), got {describe_shape(array)}.")
    scale = 255.0 if array.dtype == np.uint8 else 1.0
    return torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).float() / scale


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """float frames ``(T, 3, H, W)`` in [0, 1] -> uint8 array ``(T, H, W, 3)`` (rounded, clipped)."""
    if frames.ndim == 3:
        frames = frames[None]
    check_shape(frames, ["T", 3, "H", "W"], "frames")
    out = frames.detach().float().clamp(0, 1).mul_(255.0).round_().to(torch.uint8)  # one new buffer, not three
    return out.permute(0, 2, 3, 1).cpu().numpy()
