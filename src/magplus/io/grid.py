"""Side-by-side comparison grids of clips with a label bar above each one."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..types import check_frames

_BACKGROUND = 0.0  # padding between cells: black
_BAR_COLOUR = 0.15  # label bar: dark grey, white text


def _resize_to_height(frames: torch.Tensor, height: int) -> torch.Tensor:
    """``(T, 3, H, W)`` -> ``(T, 3, height, round(W * height / H))`` (bilinear, antialiased)."""
    if frames.shape[-2] == height:
        return frames
    width = max(1, round(frames.shape[-1] * height / frames.shape[-2]))
    resized = F.interpolate(frames.float(), size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return resized.clamp(0, 1)


def _pad_length(frames: torch.Tensor, length: int) -> torch.Tensor:
    """Repeat the last frame until the clip has ``length`` frames."""
    missing = length - frames.shape[0]
    if missing <= 0:
        return frames
    return torch.cat([frames, frames[-1:].expand(missing, *frames.shape[1:])])


def label_bar(text: str, width: int, height: int) -> torch.Tensor:
    """A ``(3, height, width)`` bar with ``text`` in white, scaled to fit (cv2.putText, Hershey simplex).

    Text too long for the bar is cut and ends in '...' rather than being drawn outside it.
    """
    import cv2

    bar = np.full((height, width, 3), round(_BAR_COLOUR * 255), np.uint8)
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, 1
    scale = max(0.25, (height * 0.6) / 22.0)  # Hershey simplex capitals are ~22 px high at scale 1

    def fits(candidate: str) -> bool:
        return cv2.getTextSize(candidate, font, scale, thickness)[0][0] <= width - 4

    shown, keep = text, len(text)
    while keep > 0 and not fits(shown):
        keep -= 1
        shown = text[:keep] + "..."  # Hershey fonts are ASCII-only: no real ellipsis glyph
    if not fits(shown):
        shown = ""
    if shown:
        (text_w, text_h), _ = cv2.getTextSize(shown, font, scale, thickness)
        origin = (max(2, (width - text_w) // 2), (height + text_h) // 2)
        cv2.putText(bar, shown, origin, font, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return torch.from_numpy(bar).permute(2, 0, 1).float() / 255.0


def side_by_side(
    clips: list[torch.Tensor],
    labels: list[str] | None = None,
    rows: int = 1,
    pad: int = 4,
    bar_height: int | None = None,
) -> torch.Tensor:
    """Arrange clips in a labelled grid, frame by frame.

    Clips are resized (keeping aspect) to the height of the tallest one, centred in cells of the
    widest resized width, filled row-major, and shorter clips repeat their last frame.

    Args:
        clips: list of ``(T_i, 3, H_i, W_i)`` float in [0, 1].
        labels: one text per clip (drawn above it) or None for no label bars.
        rows: number of grid rows (columns = ceil(len(clips) / rows)).
        pad: black border in pixels around and between cells (>= 0).
        bar_height: label bar height in pixels (default: max(12, H / 8)).

    Returns:
        ``(max T_i, 3, H', W')`` with ``H' = rows * (H + bar) + (rows + 1) * pad`` and
        ``W' = cols * cell_width + (cols + 1) * pad``.
    """
    if not isinstance(clips, (list, tuple)) or not clips:
        raise InputError(f"clips must be a non-empty list of (T, 3, H, W) tensors, got {type(clips).__name__}.")
    for index, clip in enumerate(clips):
        check_frames(clip, f"clips[{index}]")
    if labels is not None and (len(labels) != len(clips) or not all(isinstance(t, str) for t in labels)):
        raise InputError(f"labels must be None or {len(clips)} strings (one per clip), got {labels!r}.")
    if isinstance(rows, bool) or not isinstance(rows, int) or not (1 <= rows <= len(clips)):
        raise InputError(f"rows must be an int in 1..{len(clips)} (the number of clips), got {rows!r}.")
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        raise InputError(f"pad must be an int >= 0, got {pad!r}.")

    height = max(int(clip.shape[-2]) for clip in clips)
    length = max(int(clip.shape[0]) for clip in clips)
    resized = [_pad_length(_resize_to_height(clip, height), length) for clip in clips]
    cell_w = max(int(clip.shape[-1]) for clip in resized)
    bar = 0 if labels is None else (bar_height if bar_height is not None else max(12, height // 8))
    if bar < 0:
        raise InputError(f"bar_height must be >= 0, got {bar_height!r}.")
    cols = math.ceil(len(clips) / rows)
    cell_h = height + bar
    canvas = torch.full(
        (length, 3, rows * cell_h + (rows + 1) * pad, cols * cell_w + (cols + 1) * pad), _BACKGROUND
    )
    for index, clip in enumerate(resized):
        row, col = divmod(index, cols)
        top = pad + row * (cell_h + pad)
        left = pad + col * (cell_w + pad)
        if bar:
            canvas[:, :, top : top + bar, left : left + cell_w] = label_bar(labels[index], cell_w, bar)
        offset = (cell_w - clip.shape[-1]) // 2
        canvas[:, :, top + bar : top + cell_h, left + offset : left + offset + clip.shape[-1]] = clip
    return canvas


def pipeline_comparison(out, truth: torch.Tensor | None = None) -> tuple[list[torch.Tensor], list[str]]:
    """Clips and labels of a MagPipeline run's side-by-side, for :func:`side_by_side`.

    Order: driving | magnified ×α | direct | MagPlus (| ground truth). Without magnification
    (``out.magnified_driving`` is None) the result *is* the direct transfer and appears once.

    Args:
        out: a :class:`~magplus.pipeline.PipelineResult` computed with ``compute_direct=True``.
        truth: ``(T, 3, S, S)`` ground truth of a synthetic clip, or None.
    """
    clips, labels = [out.driving], ["driving"]
    if out.magnified_driving is not None:
        clips.append(out.magnified_driving)
        labels.append(f"magnified x{out.alpha:.1f}")
    clips.append(out.direct)
    labels.append("direct")
    if out.magnified_driving is not None:
        clips.append(out.result)
        labels.append("MagPlus")
    if truth is not None:
        clips.append(truth)
        labels.append("ground truth")
    return clips, labels
