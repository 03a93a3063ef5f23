"""Apex estimation for samples whose annotated apex is missing or impossible.

The apex is the frame of largest displacement from the onset frame: dense optical flow (OpenCV
DIS) from the onset to every frame of the clip, averaged in magnitude, arg-maxed. Frames are
converted to gray and shrunk to at most 256 px on their long side, where DIS is accurate to a
fraction of a pixel and takes a few milliseconds per frame.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...types import check_frames

_MAX_SIDE = 256


def motion_from_first(frames: torch.Tensor) -> np.ndarray:
    """Mean optical-flow magnitude (pixels, at the working scale) from ``frames[0]`` to each frame.

    Args:
        frames: ``(T, 3, H, W)`` float in [0, 1], the onset first.

    Returns:
        ``(T,)`` float array; entry 0 is 0.
    """
    from ...flow.clip import clip_flows

    check_frames(frames, "frames")
    scale = _MAX_SIDE / max(frames.shape[-2:])
    if scale < 1:
        size = tuple(max(8, round(side * scale)) for side in frames.shape[-2:])
        frames = F.interpolate(frames, size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
    flows = clip_flows(frames, flow="dis")
    magnitudes = flows.norm(dim=1).mean(dim=(1, 2)).double().numpy()
    magnitudes[0] = 0.0
    return magnitudes


def estimate_apex_index(frames: torch.Tensor) -> int:
    """Position (0-based, within ``frames``) of the frame that moved most from ``frames[0]``."""
    if len(frames) < 2:
        return 0
    return int(np.argmax(motion_from_first(frames)))
