"""Warping by dense flow fields.

Flow convention (see :mod:`magplus.types`): a flow ``F`` from ``src`` to ``tgt`` in pixels, x
then y; ``backward_warp(tgt, F)(p) = tgt(p + F(p)) ≈ src(p)``.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from ..errors import ShapeError


def pixel_grid(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Pixel-centre coordinates ``(2, H, W)``: channel 0 is x (column), channel 1 is y (row)."""
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=dtype), torch.arange(width, device=device, dtype=dtype), indexing="ij"
    )
    return torch.stack([xs, ys], dim=0)


def pixels_to_normalized(coords: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pixel coordinates ``(B, 2, H, W)`` -> grid_sample grid ``(B, H, W, 2)`` (align_corners=True)."""
    x = coords[:, 0] * (2.0 / max(width - 1, 1)) - 1.0
    y = coords[:, 1] * (2.0 / max(height - 1, 1)) - 1.0
    return torch.stack([x, y], dim=-1)


@functools.lru_cache(maxsize=16)
def _normalized_grid(height: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The grid_sample grid ``(1, H, W, 2)`` of the pixel centres themselves (cached: warps of one
    size reuse it; 0.5 MB at 256²)."""
    return pixels_to_normalized(pixel_grid(height, width, device=device, dtype=dtype)[None], height, width)


def flow_to_grid(flow: torch.Tensor) -> torch.Tensor:
    """The grid_sample grid ``(B, H, W, 2)`` (align_corners=True) of ``p + flow(p)`` for a flow ``(B, 2, H, W)``
    in pixels: one fused multiply-add on the cached pixel-centre grid."""
    h, w = flow.shape[-2:]
    per_pixel = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], device=flow.device, dtype=flow.dtype)
    return torch.addcmul(_normalized_grid(h, w, flow.device, flow.dtype), flow.permute(0, 2, 3, 1), per_pixel)


def backward_warp(image: torch.Tensor, flow: torch.Tensor, padding_mode: str = "border", mode: str = "bilinear") -> torch.Tensor:
    """Sample ``image`` at ``p + flow(p)``.

    Args:
        image: ``(B, C, H, W)`` (or ``(C, H, W)``).
        flow: ``(B, 2, H, W)`` (or ``(2, H, W)``) in pixels; broadcast over B if its batch is 1.
        padding_mode: grid_sample padding ("border", "zeros", "reflection").
        mode: "bilinear" or "bicubic" or "nearest".

    Returns:
        ``out(p) = image(p + flow(p))``, same shape as ``image``. Differentiable in both inputs.
    """
    squeeze = image.ndim == 3
    if squeeze:
        image = image[None]
    if flow.ndim == 3:
        flow = flow[None]
    if image.ndim != 4 or flow.ndim != 4 or flow.shape[1] != 2 or flow.shape[-2:] != image.shape[-2:]:
        raise ShapeError(
            f"backward_warp needs image (B, C, H, W) and flow (B, 2, H, W) of the same size, got "
            f"{tuple(image.shape)} and {tuple(flow.shape)}."
        )
    b, _, h, w = image.shape
    if flow.shape[0] != b:
        if flow.shape[0] == 1:
            flow = flow.expand(b, -1, -1, -1)
        elif b == 1:
            image = image.expand(flow.shape[0], -1, -1, -1)
        else:
            raise ShapeError(f"backward_warp batch sizes differ: image {b}, flow {flow.shape[0]}.")
    grid = flow_to_grid(flow).to(image.dtype)
    out = F.grid_sample(image, grid, mode=mode, padding_mode=padding_mode, align_corners=True)
    return out[0] if squeeze else out


def shift_frames(frames: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Frames ``(T, C, H, W)`` whose content is moved by ``shift`` ``(T, 2)`` pixels (x, y):
    ``out_t(p) = frames_t(p - shift_t)``, bilinear, border pixels repeated."""
    if shift.shape != (frames.shape[0], 2):
        raise ShapeError(f"shift must be (T, 2) = ({frames.shape[0]}, 2) pixel translations, got {tuple(shift.shape)}.")
    h, w = frames.shape[-2:]
    field = (-shift).to(frames)[:, :, None, None].expand(-1, -1, h, w)
    return backward_warp(frames, field)
