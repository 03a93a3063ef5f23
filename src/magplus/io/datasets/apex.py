"""Apex estimation for samples whose annotated apex is missing or impossible.

The apex is the frame of largest displacement from the onset frame: dense optical flow (OpenCV
DIS) from the onset to every frame of the clip, averaged in magnitude, arg-maxed. Frames are
converted to gray and shrunk to at most 256 px on their long side, where DIS is accurate to a
fraction of a pixel and takes a few milliseconds per frame.
"""

from __future__ import annotations

import numpy as np
import torch

from ...types import check_frames

_MAX_SIDE = 256


def _gray_uint8(frame: torch.Tensor) -> np.ndarray:
    import cv2

    rgb = (frame.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    scale = _MAX_SIDE / max(gray.shape)
    if scale < 1:
        size = (max(8, round(gray.shape[1] * scale)), max(8, round(gray.shape[0] * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    return gray


def motion_from_first(frames: torch.Tensor) -> np.ndarray:
    """Mean optical-flow magnitude (pixels, at the working scale) from ``frames[0]`` to each frame.

    Args:
        frames: ``(T, 3, H, W)`` float in [0, 1], the onset first.

    Returns:
        ``(T,)`` float array; entry 0 is 0.
    """
    import cv2

    check_frames(frames, "frames")
    flow_estimator = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    reference = _gray_uint8(frames[0])
    magnitudes = np.zeros(len(frames))
    for index in range(1, len(frames)):
        flow = flow_estimator.calc(reference, _gray_uint8(frames[index]), None)
        magnitudes[index] = float(np.linalg.norm(flow, axis=-1).mean())
    return magnitudes


def estimate_apex_index(frames: torch.Tensor) -> int:
    """Position (0-based, within ``frames``) of the frame that moved most from ``frames[0]``."""
    if len(frames) < 2:
        return 0
    return int(np.argmax(motion_from_first(frames)))
