"""The :class:`AnimationBackbone` interface every reenactment model implements."""

from __future__ import annotations

import abc
from typing import Any, Callable

import numpy as np
import torch

from ..errors import InputError
from ..types import check_frames, check_image


def concat_motion(parts: list[Any]) -> Any:
    """Join the motions of consecutive chunks of a clip: a :class:`~magplus.backbones.motion.Motion`
    (its ``concat``), or a backbone's own per-frame array or tensor."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    if isinstance(first, np.ndarray):
        return np.concatenate(parts)
    if isinstance(first, torch.Tensor):
        return torch.cat(parts)
    if hasattr(type(first), "concat"):
        return type(first).concat(parts)
    raise InputError(f"cannot join motions of type {type(first).__name__} chunk by chunk; give it a concat().")


class MotionBuilder:
    """Extracts the motion of a driving clip chunk by chunk: :meth:`add` each chunk of frames in
    order, then :meth:`finish` returns what ``extract_motion`` returns for the whole clip.

    This default is right for backbones whose motion of a frame depends on that frame alone
    (FOMM, FSRT, LivePortrait): it extracts each chunk and joins the parts. A backbone with
    clip-level steps (landmark gap bridging, smoothing over time) returns its own builder from
    :meth:`AnimationBackbone.motion_builder`, which runs those steps in :meth:`finish`.
    """

    def __init__(self, extract: Callable[[torch.Tensor], Any]):
        self._extract = extract
        self._parts: list[Any] = []

    def add(self, frames: torch.Tensor) -> None:
        """Take the next chunk of driving frames ``(t, 3, H, W)``."""
        self._parts.append(self._extract(frames))

    def finish(self) -> Any:
        """The motion of every frame added so far."""
        if not self._parts:
            raise InputError("no driving frame was added to the motion builder.")
        return concat_motion(self._parts)


class AnimationBackbone(abc.ABC):
    """A frozen face-animation model: moves a source face the way a driving clip moves.

    Subclasses implement the three fine-grained steps; :meth:`animate` chains them.

    Class attributes:
        name: registry name.
        resolution: square side (pixels) the model works at; inputs are resized to it by the
            caller (the pipeline crops faces to this size).
        needs_weights: True if the model cannot run without an official checkpoint.
        motion_scalable: True if :meth:`extract_motion` returns a :class:`~magplus.backbones.motion.Motion`
            that :meth:`render` accepts after :func:`~magplus.backbones.motion.scale_motion`, so the
            pipeline can de-magnify in the backbone's motion space (extract from the magnified
            clip, scale the change by 1/α, render once). False: only image-space de-magnification.
    """

    name: str = "backbone"
    resolution: int = 256
    needs_weights: bool = False
    motion_scalable: bool = False

    def to(self, device: str | torch.device) -> "AnimationBackbone":
        """Move the model to ``device`` (no-op for weight-free backbones)."""
        return self

    @property
    def extraction_device(self) -> torch.device:
        """Where :meth:`extract_motion` computes: the pipeline lends it a CPU thread while it
        overlaps magnification only when this is the CPU. Default: the backbone's ``device``."""
        return torch.device(getattr(self, "device", "cpu"))

    @abc.abstractmethod
    def prepare_source(self, source_img: torch.Tensor) -> Any:
        """Encode the source face once. ``source_img``: ``(3, H, W)`` in [0, 1]."""

    @abc.abstractmethod
    def extract_motion(self, frames: torch.Tensor) -> Any:
        """Motion of driving frames ``(T, 3, H, W)``: a :class:`~magplus.backbones.motion.Motion` when
        ``motion_scalable`` (landmarks, keypoints + Jacobians, ...), otherwise the backbone's own value."""

    def motion_builder(self) -> MotionBuilder | None:
        """A :class:`MotionBuilder` for this backbone's motion, so that a clip too long for memory can
        be taken chunk by chunk (``MagPipeline.stream``); None when the backbone needs the whole clip
        at once (then only the whole-clip pipeline runs it)."""
        return MotionBuilder(self.extract_motion)

    @abc.abstractmethod
    def render(self, source: Any, motion: Any, reference: Any | None = None, relative: bool = True,
               progress: Callable[[int], None] | None = None) -> torch.Tensor:
        """Render the source under ``motion``.

        Each output frame depends only on the source, that frame's motion and ``reference``, so
        that a long clip can be rendered chunk by chunk with ``motion.select(...)`` and the
        reference of its frame 0.

        Args:
            source: output of :meth:`prepare_source`.
            motion: output of :meth:`extract_motion` for the driving frames.
            reference: motion of the driving reference frame (relative mode); ``None`` means
                the first driving frame.
            relative: transfer motion relative to the reference (True) or absolute (False).
            progress: optional callback receiving the number of frames just rendered.

        Returns:
            Frames ``(T, 3, H, W)`` in [0, 1].
        """

    def animate(self, source_img: torch.Tensor, driving_frames: torch.Tensor, relative: bool = True,
                progress: Callable[[int], None] | None = None) -> torch.Tensor:
        """Animate ``source_img`` ``(3, H, W)`` with ``driving_frames`` ``(T, 3, H, W)``.

        Returns:
            Generated frames ``(T, 3, H, W)`` in [0, 1].
        """
        check_image(source_img, "source_img")
        check_frames(driving_frames, "driving_frames")
        source = self.prepare_source(source_img)
        motion = self.extract_motion(driving_frames)
        return self.render(source, motion, None, relative=relative, progress=progress)
