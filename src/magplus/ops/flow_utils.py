"""Flow-field utilities: composition, inversion, magnitude, end-point error, resizing, scaling.

Convention (see :mod:`magplus.types`): a flow ``F_ab`` from frame a to frame b, ``(2, H, W)`` or
``(B, 2, H, W)`` in pixels (x then y), says that the pixel at ``p`` in a is at ``p + F_ab(p)`` in b,
so ``backward_warp(b, F_ab) ≈ a``. All functions are differentiable and keep the input's rank.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError, ShapeError
from ..types import check_flow
from .warp import backward_warp


def _batched(flow: torch.Tensor, name: str) -> tuple[torch.Tensor, bool]:
    check_flow(flow, name)
    if not flow.is_floating_point():
        raise ShapeError(f"{name} must be a float tensor, got dtype {flow.dtype}.")
    return (flow[None], True) if flow.ndim == 3 else (flow, False)


def _check_mode(mode: str) -> str:
    if mode not in ("bilinear", "bicubic"):
        raise InputError(f"mode must be 'bilinear' or 'bicubic', got {mode!r}.")
    return mode


def compose_flows(flow_ab: torch.Tensor, flow_bc: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Chain two flows: ``F_ac(p) = F_ab(p) + F_bc(p + F_ab(p))``.

    Args:
        flow_ab: ``(B, 2, H, W)`` or ``(2, H, W)``, from frame a to frame b.
        flow_bc: same size, from frame b to frame c.
        mode: how ``F_bc`` is sampled, "bilinear" or "bicubic" (smaller error on curved fields).

    Returns:
        ``F_ac`` from a to c, shaped like ``flow_ab``. Where ``p + F_ab(p)`` leaves the image,
        ``F_bc`` is taken from the nearest border pixel.
    """
    ab, single = _batched(flow_ab, "flow_ab")
    bc, _ = _batched(flow_bc, "flow_bc")
    if ab.shape[-2:] != bc.shape[-2:]:
        raise ShapeError(f"flow_ab {tuple(flow_ab.shape)} and flow_bc {tuple(flow_bc.shape)} must have the same H, W.")
    out = ab + backward_warp(bc, ab, mode=_check_mode(mode))
    return out[0] if single else out


def invert_flow(flow: torch.Tensor, iterations: int = 20, mode: str = "bilinear") -> torch.Tensor:
    """Inverse flow ``G`` (from b back to a) of ``F`` (from a to b) by fixed-point iteration.

    Solves ``G(q) = -F(q + G(q))``: then ``compose_flows(G, F)`` vanishes to iteration precision and
    ``compose_flows(F, G)`` up to the interpolation error of sampling ``G`` (~0.5 % of a curved field).
    The iteration converges where the motion is a contraction (``|∇F| < 1``: no folds), which holds
    for the smooth fields of facial motion.

    Args:
        flow: ``(B, 2, H, W)`` or ``(2, H, W)`` in pixels.
        iterations: fixed-point steps (>= 1); the error shrinks by about ``|∇F|`` per step.
        mode: how ``F`` is sampled, "bilinear" or "bicubic"; the interpolation error of a curved
            field, not the iteration count, limits the accuracy.
    """
    batched, single = _batched(flow, "flow")
    if not isinstance(iterations, int) or iterations < 1:
        raise InputError(f"iterations must be an int >= 1, got {iterations!r}.")
    # G <- -F(q + G) computed as sampling -F: a sample is a weighted sum of the image's values, and
    # negating every value negates the sum exactly, so this is the same number bit for bit without
    # a negation per step.
    negated = -batched
    inverse = negated
    for _ in range(iterations):
        inverse = backward_warp(negated, inverse, mode=_check_mode(mode))
    return inverse[0] if single else inverse


def flow_magnitude(flow: torch.Tensor) -> torch.Tensor:
    """Per-pixel vector length: ``(B, 2, H, W)`` -> ``(B, H, W)`` (``(2, H, W)`` -> ``(H, W)``)."""
    check_flow(flow, "flow")
    return torch.linalg.vector_norm(flow, dim=-3)


def end_point_error(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None = None, border: int = 0) -> torch.Tensor:
    """Mean end-point error ``|pred - gt|`` in pixels (a 0-d tensor).

    Args:
        pred, gt: flows of the same shape, ``(2, H, W)`` or ``(B, 2, H, W)``.
        mask: optional weights ``(H, W)``, ``(B, H, W)`` or ``(B, 1, H, W)`` (e.g. a face mask); the
            mean is weighted by it.
        border: pixels ignored on every side (where warps see outside the image).
    """
    check_flow(pred, "pred")
    check_flow(gt, "gt")
    if pred.shape != gt.shape:
        raise ShapeError(f"pred {tuple(pred.shape)} and gt {tuple(gt.shape)} must have the same shape.")
    height, width = pred.shape[-2:]
    if not isinstance(border, int) or border < 0 or 2 * border >= min(height, width):
        raise InputError(f"border must be an int in [0, {(min(height, width) - 1) // 2}] for a {height} x {width} flow, got {border!r}.")
    error = torch.linalg.vector_norm(pred - gt, dim=-3)
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.shape[-2:] != (height, width):
            raise ShapeError(f"mask must be (H, W), (B, H, W) or (B, 1, H, W) with H, W = {(height, width)}, got "
                             f"{tuple(getattr(mask, 'shape', ()))}.")
        weight = (mask[:, 0] if mask.ndim == 4 else mask).to(error.dtype).expand_as(error)
    else:
        weight = torch.ones_like(error)
    if border:
        error = error[..., border:-border, border:-border]
        weight = weight[..., border:-border, border:-border]
    total = weight.sum()
    if mask is not None and float(total) <= 0:
        raise InputError("mask selects no pixel (its weights sum to 0 inside the border); pass a non-empty mask.")
    return (error * weight).sum() / total


def scale_flow(flow: torch.Tensor, factor) -> torch.Tensor:
    """Multiply the vectors by ``factor`` (a float, or a per-sample tensor ``(B,)``), e.g. α-magnify a flow."""
    batched, single = _batched(flow, "flow")
    if isinstance(factor, torch.Tensor):
        if factor.ndim > 1 or (factor.ndim == 1 and factor.shape[0] not in (1, batched.shape[0])):
            raise ShapeError(f"factor must be a number or a tensor (B,) with B = {batched.shape[0]}, got {tuple(factor.shape)}.")
        factor = factor.to(batched).reshape(-1, 1, 1, 1)
    out = batched * factor
    return out[0] if single else out


def resize_flow(flow: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Resample a flow to ``size = (H', W')`` and rescale its vectors by ``W'/W`` (x) and ``H'/H`` (y).

    Pixel grids follow ``align_corners=False`` (the image-resize convention of torch and OpenCV),
    so a flow estimated on a resized image pair matches the flow of the originals.
    """
    batched, single = _batched(flow, "flow")
    if (not isinstance(size, (tuple, list)) or len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size)):
        raise InputError(f"size must be (height, width) with positive ints, got {size!r}.")
    if mode not in ("bilinear", "bicubic", "nearest", "area"):
        raise InputError(f"mode must be 'bilinear', 'bicubic', 'nearest' or 'area', got {mode!r}.")
    height, width = batched.shape[-2:]
    align = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    out = F.interpolate(batched, size=tuple(size), mode=mode, **align)
    scale = torch.tensor([size[1] / width, size[0] / height], dtype=out.dtype, device=out.device).view(1, 2, 1, 1)
    out = out * scale
    return out[0] if single else out
