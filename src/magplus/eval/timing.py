"""Timing of a motion: onset, apex and offset read from a motion-magnitude curve.

A curve ``c(t)`` (e.g. :func:`magplus.eval.motion.motion_curve`) is first shifted to start at its
minimum; then, with ``p = max c``:

* onset  = first frame with ``c ≥ threshold · p``,
* apex   = ``argmax c``,
* offset = last frame with ``c ≥ threshold · p``.

Durations: onset→apex = apex − onset, total = offset − onset (frames; seconds with ``fps``).
Annotations (dataset onset/apex/offset frames, a synthetic program's event times) are turned into
the same :class:`Timing` with :func:`timing_from_annotation`, so generated motion can be compared
with the driving annotation or with the driving clip's own measured timing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import InputError

#: Fraction of the peak that marks onset and offset; 0.2 is above the flow noise floor of a
#: still micro-expression clip (0.1–0.8 px against peaks of 0.5–5 px, DOMAIN.md §1).
DEFAULT_THRESHOLD = 0.2


@dataclass
class Timing:
    """Onset, apex and offset frame indices (0 = first frame of the clip) and the frame rate."""

    onset: float
    apex: float
    offset: float
    fps: float | None = None

    @property
    def onset_to_apex(self) -> float:
        """Frames from onset to apex."""
        return self.apex - self.onset

    @property
    def duration(self) -> float:
        """Frames from onset to offset."""
        return self.offset - self.onset

    def seconds(self, frames: float) -> float:
        """Frames -> seconds (NaN without fps)."""
        return frames / self.fps if self.fps else math.nan

    def to_dict(self) -> dict[str, float | None]:
        return {**asdict(self), "onset_to_apex": self.onset_to_apex, "duration": self.duration}


def motion_timing(curve, fps: float | None = None, threshold: float = DEFAULT_THRESHOLD) -> Timing:
    """Onset / apex / offset of a motion-magnitude curve ``(T,)`` (see the module docstring).

    Raises:
        InputError: fewer than 2 values, non-finite values, or a threshold outside (0, 1).
    """
    values = np.asarray(curve, dtype=np.float64).reshape(-1)
    if values.size < 2 or not np.isfinite(values).all():
        raise InputError(f"curve must hold >= 2 finite values (one per frame), got {values.size} values.")
    if not 0.0 < float(threshold) < 1.0:
        raise InputError(f"threshold must lie in (0, 1) (fraction of the peak), got {threshold}.")
    if fps is not None and not float(fps) > 0:
        raise InputError(f"fps must be > 0 or None, got {fps}.")
    values = values - values.min()
    apex = int(values.argmax())
    above = np.flatnonzero(values >= float(threshold) * values[apex]) if values[apex] > 0 else np.array([apex])
    return Timing(onset=float(above[0]), apex=float(apex), offset=float(above[-1]),
                  fps=float(fps) if fps is not None else None)


def timing_from_annotation(onset: float, apex: float, offset: float, first_frame: float = 0.0,
                           fps: float | None = None) -> Timing:
    """A :class:`Timing` from annotated frame numbers, made relative to the clip's ``first_frame``.

    Raises:
        InputError: unless ``onset <= apex <= offset``.
    """
    if not float(onset) <= float(apex) <= float(offset):
        raise InputError(f"annotation must satisfy onset <= apex <= offset, got {onset}, {apex}, {offset}.")
    base = float(first_frame)
    return Timing(float(onset) - base, float(apex) - base, float(offset) - base, fps)


@dataclass
class TimingError:
    """Signed differences generated − reference, in frames (and milliseconds when fps is known)."""

    onset_shift: float
    apex_shift: float
    offset_shift: float
    onset_to_apex_error: float
    duration_error: float
    fps: float | None = None

    def milliseconds(self) -> dict[str, float]:
        """The same differences in milliseconds (NaN without fps)."""
        scale = 1000.0 / self.fps if self.fps else math.nan
        return {f"{k}_ms": v * scale for k, v in asdict(self).items() if k != "fps"}


def timing_error(generated: Timing, reference: Timing) -> TimingError:
    """Compare the timing of generated motion with a reference (annotation or driving measurement)."""
    for name, value in (("generated", generated), ("reference", reference)):
        if not isinstance(value, Timing):
            raise InputError(f"{name} must be a Timing (see motion_timing / timing_from_annotation), "
                             f"got {type(value).__name__}.")
    fps = generated.fps or reference.fps
    return TimingError(
        onset_shift=generated.onset - reference.onset,
        apex_shift=generated.apex - reference.apex,
        offset_shift=generated.offset - reference.offset,
        onset_to_apex_error=generated.onset_to_apex - reference.onset_to_apex,
        duration_error=generated.duration - reference.duration,
        fps=fps,
    )
