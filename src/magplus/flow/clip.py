"""Flow from a reference frame to every frame of a clip (the measurement behind α, metrics, plots)."""

from __future__ import annotations

from typing import Any

import torch

from ..types import check_frames, check_image


def get_flow(flow: Any = "dis"):
    """A flow estimator from a registered name, or the instance itself."""
    if not isinstance(flow, str):
        return flow
    from ..registry import create_flow

    return create_flow(flow)


def clip_flows(frames: torch.Tensor, ref: torch.Tensor | None = None, flow: Any = "dis", chunk: int = 16) -> torch.Tensor:
    """Flow from ``ref`` (default: frame 0) to every frame.

    Args:
        frames: ``(T, 3, H, W)`` in [0, 1].
        ref: ``(3, H, W)`` reference; frame 0 when None.
        flow: estimator name or instance.
        chunk: frames per estimator call.

    Returns:
        ``(T, 2, H, W)`` float32 pixels, x then y; ``backward_warp(frames[t], out[t]) ≈ ref``.
    """
    check_frames(frames, "frames")
    ref = frames[0] if ref is None else ref
    check_image(ref, "ref")
    estimator = get_flow(flow)
    parts = []
    for start in range(0, frames.shape[0], chunk):
        batch = frames[start:start + chunk]
        parts.append(estimator(ref[None].expand_as(batch).contiguous(), batch).float())
    return torch.cat(parts)
