"""Offline optical flow for the evaluation metrics: reference frame -> every frame of a clip.

Uses the registered estimators (``magplus.create_flow``). When the built-in ``"dis"`` entry cannot
be imported in this installation, :func:`ensure_dis_flow` registers a minimal OpenCV DIS estimator
under that name (the registry's plug-in mechanism), so that evaluation, automatic α and the
Lagrangian magnifier all keep working with the same estimator.
"""

from __future__ import annotations

import numpy as np
import torch

from ..flow.base import FlowEstimator
from ..types import check_frames, check_image

#: Default evaluation flow: DIS is fast (1–3 ms at 256²) and accurate to ~0.1 px (DOMAIN.md §3).
DEFAULT_EVAL_FLOW = "dis"


class _OpenCVDIS(FlowEstimator):
    """Minimal DIS estimator (medium preset), not differentiable."""

    name = "dis"
    differentiable = False

    def __init__(self) -> None:
        import cv2

        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    @staticmethod
    def _gray(image: torch.Tensor) -> np.ndarray:
        import cv2

        rgb = (image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0).round().astype(np.uint8)
        return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        src, tgt, single = self.validate(src, tgt)
        # cv2: src(y, x) ≈ tgt(y + fy, x + fx), i.e. the magplus convention (flow from src to tgt).
        out = [self._dis.calc(self._gray(a), self._gray(b), None) for a, b in zip(src, tgt)]
        flow = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float()
        return flow[0] if single else flow


def ensure_dis_flow() -> None:
    """Make ``create_flow("dis")`` work: register the OpenCV fallback if the built-in cannot load."""
    from ..registry import FLOWS

    try:
        FLOWS.get("dis")
    except (ImportError, AttributeError):
        FLOWS.add("dis", _OpenCVDIS, "OpenCV DIS (evaluation fallback: magplus.flow.opencv not installed)")


def get_flow(flow="dis"):
    """A flow estimator from a registered name or an instance."""
    if not isinstance(flow, str):
        return flow
    from ..registry import create_flow

    if flow == "dis":
        ensure_dis_flow()
    return create_flow(flow)


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
