"""Writing clips: H.264 / FFV1 / GIF through PyAV, PNG folders through OpenCV; always atomic.

The format follows the path:

=====================  ==========================================================================
``.mp4`` / ``.mov``    H.264 (libx264, yuv420p, ``crf``). Odd widths/heights are padded to even by
                       replicating the last column/row (4:2:0 chroma needs even sizes), so the file is
                       up to one pixel larger than the frames. ``lossless=True``: H.264 RGB
                       (libx264rgb, qp=0), exact, at the original size, but many players cannot show it.
``.mkv`` / ``.avi``    H.264 as above; ``lossless=True``: FFV1 (bgr0), exact, any size.
``.gif``               palette of 256 colours from the first frames written (median cut), nearest-colour
                       mapping; frame delays are in 1/100 s, so the rate is rounded to 100/round(100/fps),
                       and rates above 50 fps (e.g. 200 fps datasets) are refused.
no extension or ``/``  folder of ``frame_00000.png`` ... (exact) plus ``fps.txt`` holding the rate.
=====================  ==========================================================================
"""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from ..errors import InputError
from ..types import Clip, check_frames, to_uint8
from .atomic import atomic_output, atomic_output_dir
from .frames_folder import FRAME_NAME, write_fps_sidecar
from .images import encode_image_file
from .video import sws_quality_flags

_CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi", ".gif": "gif"}


def output_kind(path: str | os.PathLike[str]) -> str:
    """``"folder"`` for a path without extension (or ending in a separator), else the lower-case extension.

    Raises:
        InputError: an extension no writer handles.
    """
    text = os.fspath(path)
    if text.endswith(("/", os.sep)) or not Path(text).suffix:
        return "folder"
    ext = Path(text).suffix.lower()
    if ext not in _CONTAINERS:
        raise InputError(
            f"cannot write video {text!r}: extension {ext!r} is not one of {', '.join(_CONTAINERS)}; "
            "or give a path without extension for a PNG folder."
        )
    return ext


#: Fastest frame rate a GIF plays at: frame delays are whole 1/100 s, and browsers and most
#: viewers replace delays under 2/100 s by 1/10 s.
GIF_MAX_FPS = 50.0


def check_video_output_rate(path: str | os.PathLike[str], fps: float) -> None:
    """Refuse a frame rate the output format cannot hold (a GIF above :data:`GIF_MAX_FPS`).

    Raises:
        InputError: naming the rate and the formats that can hold it.
    """
    if output_kind(path) == ".gif" and fps > GIF_MAX_FPS:
        raise InputError(
            f"cannot write {os.fspath(path)!r} at {fps:g} fps: GIF frame delays are whole 1/100 s and viewers play "
            f"delays under 2/100 s as 1/10 s, so a GIF holds at most {GIF_MAX_FPS:g} fps; write .mp4, .mkv or a "
            "PNG folder (no extension) instead."
        )


def median_cut_palette(pixels: np.ndarray, colours: int = 256) -> np.ndarray:
    """A palette of at most ``colours`` RGB colours for ``pixels`` ``(N, 3)`` uint8 (median cut).

    Repeatedly splits the box with the widest channel range at its median; each box's mean is a
    palette entry. Deterministic, unlike k-means.
    """

    def widest(box: np.ndarray) -> tuple[int, int]:
        ranges = box.max(0) - box.min(0) if len(box) > 1 else np.zeros(3, np.int16)
        return int(ranges.max()), int(ranges.argmax())

    boxes = [pixels.reshape(-1, 3).astype(np.int16)]
    spans = [widest(boxes[0])]  # cached (range, channel) per box
    while len(boxes) < colours:
        index = max(range(len(boxes)), key=lambda i: spans[i][0])
        if spans[index][0] <= 0:
            break
        box, (_, channel) = boxes.pop(index), spans.pop(index)
        box = box[np.argsort(box[:, channel], kind="stable")]
        for half in (box[: len(box) // 2], box[len(box) // 2 :]):
            boxes.append(half)
            spans.append(widest(half))
    return np.stack([box.mean(0) for box in boxes]).round().clip(0, 255).astype(np.uint8)


class VideoWriter:
    """Streaming, atomic clip writer; the file appears only when :meth:`close` succeeds.

    Args:
        path: target (see the module table for formats).
        fps: frames per second (> 0).
        lossless: exact codecs (see the module table).
        crf: H.264 quality, 0 (best) .. 51; 18 is visually lossless for most content.

    Example:
        >>> with VideoWriter("out.mp4", fps=30) as writer:   # doctest: +SKIP
        ...     for chunk in chunks:                            # (T, 3, H, W) or (3, H, W)
        ...         writer.write(chunk)
    """

    def __init__(self, path: str | os.PathLike[str], fps: float, lossless: bool = False, crf: int = 18):
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not (0 < fps < 10_000):
            raise InputError(f"fps must be a number in (0, 10000), got {fps!r}.")
        if not isinstance(crf, (int, np.integer)) or not (0 <= crf <= 51):
            raise InputError(f"crf must be an int in 0..51 (lower = better), got {crf!r}.")
        self.path, self.fps, self.lossless, self.crf = Path(path), float(fps), bool(lossless), int(crf)
        self.kind = output_kind(path)
        check_video_output_rate(path, fps)
        self.frames_written = 0
        self._stack: contextlib.ExitStack | None = None
        self._target: Path | None = None
        self._container = self._stream = self._palette = None
        self._size: tuple[int, int] | None = None

    # -- context management ------------------------------------------------------------------
    def __enter__(self) -> "VideoWriter":
        self._stack = contextlib.ExitStack()
        opener = atomic_output_dir if self.kind == "folder" else atomic_output
        self._target = self._stack.enter_context(opener(self.path))
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort(exc_type, exc, tb)

    def _abort(self, exc_type=None, exc=None, tb=None) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
        if self._stack is not None:
            stack, self._stack = self._stack, None
            stack.__exit__(exc_type or RuntimeError, exc or RuntimeError("aborted"), tb)

    def close(self) -> None:
        """Flush the encoder and move the finished output into place."""
        if self._stack is None:
            return
        if self.frames_written == 0:
            error = InputError(f"no frame was written to {str(self.path)!r}; give at least one frame.")
            self._abort(InputError, error, None)
            raise error
        if self._container is not None:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
        if self.kind == "folder":
            write_fps_sidecar(self._target, self.fps)
        stack, self._stack = self._stack, None
        stack.close()

    # -- writing -----------------------------------------------------------------------------
    def write(self, frames: torch.Tensor) -> None:
        """Append ``(T, 3, H, W)`` frames or a single ``(3, H, W)`` frame (float in [0, 1])."""
        if self._stack is None:
            raise InputError("VideoWriter.write was called outside 'with VideoWriter(...)'; open it first.")
        if isinstance(frames, torch.Tensor) and frames.ndim == 3:
            frames = frames[None]
        check_frames(frames, "frames")
        size = (int(frames.shape[-2]), int(frames.shape[-1]))
        if self._size is None:
            self._size = size
        elif size != self._size:
            raise InputError(f"frame size {size} differs from the first frames' {self._size}; resize before writing.")
        arrays = to_uint8(frames)
        if self.kind == ".gif" and self._palette is None:
            pixels = arrays.reshape(-1, 3)
            step = max(1, len(pixels) // 200_000)  # a subsample keeps median cut fast on long chunks
            self._palette = median_cut_palette(pixels[::step])
        for array in arrays:
            if self.kind == "folder":
                encode_image_file(self._target / FRAME_NAME.format(self.frames_written), array[..., ::-1].copy())
            else:
                self._encode(array)
            self.frames_written += 1

    def _encode(self, array: np.ndarray) -> None:
        import av

        if self._container is None:
            self._open_stream(array)
        if self.kind == ".gif":
            frame = av.VideoFrame.from_ndarray(self._to_palette_indices(array), format="pal8")
        else:
            if self._stream.pix_fmt == "yuv420p" and (array.shape[0] % 2 or array.shape[1] % 2):
                rows, cols = array.shape[0] % 2, array.shape[1] % 2
                array = np.pad(array, ((0, rows), (0, cols), (0, 0)), mode="edge")
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
            if self._stream.pix_fmt != "rgb24":
                frame = frame.reformat(format=self._stream.pix_fmt, interpolation=sws_quality_flags())
        frame.pts = self.frames_written
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def _open_stream(self, first: np.ndarray) -> None:
        import av

        rate = Fraction(self.fps).limit_denominator(1001)
        codec, pix_fmt, options = "libx264", "yuv420p", {"crf": str(self.crf), "preset": "medium"}
        if self.kind == ".gif":
            rate = Fraction(100, max(1, round(100 / self.fps)))
            codec, pix_fmt, options = "gif", "pal8", {}
        elif self.lossless and self.kind in (".mkv", ".avi"):
            codec, pix_fmt, options = "ffv1", "bgr0", {}
        elif self.lossless:
            codec, pix_fmt, options = "libx264rgb", "rgb24", {"qp": "0", "preset": "medium"}
        self._container = av.open(str(self._target), mode="w", format=_CONTAINERS[self.kind])
        stream = self._container.add_stream(codec, rate=rate, options=options)
        height, width = first.shape[:2]
        if pix_fmt == "yuv420p":
            height, width = height + height % 2, width + width % 2
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.time_base = 1 / rate
        self._stream = stream

    def _to_palette_indices(self, array: np.ndarray):
        """RGB ``(H, W, 3)`` -> (indices ``(H, W)`` uint8, ARGB palette ``(256, 4)``) for pal8 frames."""
        from scipy.spatial import cKDTree

        palette = self._palette
        _, index = cKDTree(palette.astype(np.float32)).query(array.reshape(-1, 3).astype(np.float32))
        argb = np.zeros((256, 4), np.uint8)
        argb[: len(palette), 0] = 255
        argb[: len(palette), 1:] = palette
        return index.reshape(array.shape[:2]).astype(np.uint8), argb


def write_video(
    path: str | os.PathLike[str],
    frames: torch.Tensor | Clip | Iterable[torch.Tensor],
    fps: float | None = None,
    lossless: bool = False,
    crf: int = 18,
) -> Path:
    """Write a clip atomically; the format follows the extension (see the module docstring).

    Args:
        path: target file, or a path without extension / ending in ``/`` for a PNG folder.
        frames: ``(T, 3, H, W)`` float in [0, 1], a :class:`Clip`, or an iterable of ``(3, H, W)`` /
            ``(t, 3, H, W)`` tensors (streamed, never all in memory).
        fps: frames per second; defaults to the Clip's rate (required otherwise).
        lossless: exact codecs (FFV1 for mkv/avi, H.264 RGB qp=0 for mp4/mov).
        crf: H.264 quality 0..51 for lossy files.

    Returns:
        The written path.
    """
    if isinstance(frames, Clip):
        fps = frames.fps if fps is None else fps
        frames = frames.frames
    if fps is None:
        raise InputError("fps is required when frames is not a Clip; pass fps=<frames per second>.")
    with VideoWriter(path, fps=fps, lossless=lossless, crf=crf) as writer:
        if isinstance(frames, torch.Tensor):
            writer.write(frames)
        else:
            for chunk in frames:
                writer.write(chunk)
    return Path(path)
