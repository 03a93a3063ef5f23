"""Typed errors of magplus.

Every public function raises a subclass of :class:`MagplusError` whose message is one sentence:
what was wrong (argument, value, rule) and what to do. The CLI prints that sentence and exits
with a non-zero status.
"""

from __future__ import annotations


class MagplusError(Exception):
    """Base class of every error magplus raises on purpose."""


class InputError(MagplusError, ValueError):
    """An argument has a wrong value, type or range (e.g. alpha <= 0, a missing file)."""


class ShapeError(InputError):
    """A tensor or array has the wrong shape, dtype or value range."""


class VideoReadError(InputError):
    """A video, image or frame folder cannot be read."""


class OutputPathError(InputError):
    """An output path is unusable: missing folder, or the same file as an input."""


class NoFaceError(InputError):
    """No face was found in an image or in frames of a clip (the message names the clip and frames).

    Attributes:
        frame_index: the first face-less frame (None for a single image).
        frames: every face-less frame index of the clip (empty for a single image).
    """

    def __init__(self, message: str, frame_index: int | None = None, frames: list[int] | None = None):
        super().__init__(message)
        self.frame_index = frame_index
        self.frames = list(frames) if frames else ([] if frame_index is None else [frame_index])


class FaceGapWarning(UserWarning):
    """Some frames of a clip had no face; their landmarks were bridged (the message lists the frames)."""


class UnknownNameError(MagplusError, KeyError):
    """A registry has no entry of that name; the message suggests close names."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class WeightsError(MagplusError):
    """A checkpoint is missing, unsafe to load, or does not match the model."""


class CheckpointMismatchError(WeightsError):
    """A state dict has missing, unexpected or wrong-shape keys; ``report`` holds them."""

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


class DependencyError(MagplusError, ImportError):
    """An optional dependency is missing; the message says what to install."""


class ExternalRunError(MagplusError):
    """An external program (e.g. the official EmoPortraits installation) failed or timed out."""
