"""What the stages know about the clip being processed: a label for messages and its frame rate.

Stage interfaces (``AnimationBackbone.extract_motion(frames)``, landmark detection, ...) take
frames only. A backbone deep inside the pipeline still has to say *which* clip had no face
("driving clip 'x.mp4'", "magnified driving clip 'x.mp4'") and needs the frame rate to turn time
constants in seconds into frames. The caller that knows both (the pipeline, a CLI command) sets
them once around the work::

    with clip_context("driving clip 'x.mp4'", fps=200.0):
        motion = backbone.extract_motion(frames)

Explicit ``what=`` / ``fps=`` arguments of a function always win over the context.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from dataclasses import dataclass
from typing import Iterator

from .errors import InputError

#: Frame rate assumed when neither an argument nor the context gives one (a common camera rate).
DEFAULT_FPS = 30.0


@dataclass(frozen=True)
class ClipContext:
    """Label and frame rate of the clip being processed (both optional)."""

    what: str | None = None
    fps: float | None = None


_CURRENT: contextvars.ContextVar[ClipContext] = contextvars.ContextVar("magplus_clip", default=ClipContext())


def current_clip() -> ClipContext:
    """The innermost :func:`clip_context` (an empty one outside any)."""
    return _CURRENT.get()


@contextlib.contextmanager
def clip_context(what: str | None = None, fps: float | None = None) -> Iterator[ClipContext]:
    """Set the label and/or frame rate of the clip processed inside the block.

    Args:
        what: how messages name the clip, e.g. ``"driving clip 'x.mp4'"``; None keeps the outer label.
        fps: frames per second (> 0); None keeps the outer rate.
    """
    if fps is not None and not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be a finite number > 0, got {fps!r}.")
    outer = _CURRENT.get()
    inner = ClipContext(what if what is not None else outer.what, float(fps) if fps is not None else outer.fps)
    token = _CURRENT.set(inner)
    try:
        yield inner
    finally:
        _CURRENT.reset(token)


def clip_label(what: str | None = None, default: str = "the clip") -> str:
    """``what``, else the context's label, else ``default``."""
    return what or current_clip().what or default


def clip_fps(fps: float | None = None) -> tuple[float, bool]:
    """``(fps, known)``: the argument, else the context's rate, else :data:`DEFAULT_FPS` with ``known=False``."""
    if fps is not None:
        if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
            raise InputError(f"fps must be a finite number > 0, got {fps!r}.")
        return float(fps), True
    context = current_clip().fps
    return (context, True) if context is not None else (DEFAULT_FPS, False)
