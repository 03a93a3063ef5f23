"""Offline optical flow for the evaluation metrics: reference frame -> every frame of a clip.

Uses the registered estimators (``magplus.create_flow``); when the OpenCV estimators are not
available in this installation, falls back to OpenCV's DIS directly so that evaluation never
depends on which optional flow modules are installed.
"""

from __future__ import annotations

import numpy as np
import torch

from ..types import check_frames, check_image

#: Default evaluation flow: DIS is fast (1–3 ms at 256²) and accurate to ~0.1 px (DOMAIN.md §3).
DEFAULT_EVAL_FLOW = "dis"


class _OpenCVDIS:
    """Minimal DIS estimator (medium preset) with the :class:`FlowEstimator` call signature."""

    name = "dis"

    def __init__(self) -> None:
        import cv2

        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    @staticmethod
    def _gray(image: torch.Tensor) -> np.ndarray:
        import cv2

        rgb = (image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0).round().astype(np.uint8)
        return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)

    def __call__(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        # cv2: src(y, x) ≈ tgt(y + fy, x + fx), i.e. the magplus convention (flow from src to tgt).
        out = [self._dis.calc(self._gray(a), self._gray(b), None) for a, b in zip(src, tgt)]
        return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float()


def get_flow(flow="dis"):
    """A flow estimator from a name or an instance (falls back to OpenCV DIS for ``"dis"``)."""
    if not isinstance(flow, str):
        return flow
    from ..registry import create_flow

    try:
        return create_flow(flow)
    except (ImportError, AttributeError):
        if flow != "dis":
            raise
        return _OpenCVDIS()


def clip_flows(frames: torch.Tensor, ref: torch.Tensor | None = None, flow="dis", chunk: int = 16) -> torch.Tensor:
    """Flow from ``ref`` (default frame 0) to every frame.

    Args:
        frames: ``(T, 3, H, W)`` in [0, 1].
        ref: ``(3, H, W)`` reference; frame 0 when None.
        flow: estimator name or instance.

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
