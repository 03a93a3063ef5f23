"""AU programs: what moves, where, how much and when — the full recipe of one synthetic clip.

An :class:`AUProgram` is plain data (JSON round-trip through :meth:`AUProgram.to_dict` /
:meth:`AUProgram.from_dict`), independent of any face: the displacement fields are anchored to
landmarks when the program is rendered, so one program renders on any face.

Temporal profile of one event (times in seconds, ``onset < apex < offset``)::

    e(t) = 0                                   t <= onset or t >= offset
    e(t) = (1 - cos(pi (t - onset) / (apex - onset))) / 2      rise (raised cosine)
    e(t) = (1 + cos(pi (t - apex) / (offset - apex))) / 2      decay (raised cosine)

Rigid drift is a smooth translation ``d(t) = drift_px * (1 - cos(pi t / t_end)) / 2`` that starts
at 0 on frame 0 and reaches ``drift_px`` on the last frame.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError

#: Action units with a displacement field (see :mod:`magplus.synth.au_fields`).
SUPPORTED_AUS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 24, 43, 45)
#: Allowed values of :attr:`AUEvent.side`: the subject's left, right, or both (None).
SIDES = ("L", "R", None)


def _finite(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}.") from None
    if not math.isfinite(number):
        raise InputError(f"{name} must be finite, got {value!r}.")
    return number


def check_au(au: Any) -> int:
    """Validate an action-unit number; returns it as int."""
    valid_type = isinstance(au, (int, np.integer, str)) and not isinstance(au, bool)
    text = str(au).strip().upper() if valid_type else ""
    text = text[2:] if text.startswith("AU") else text
    if not text.isdigit() or int(text) not in SUPPORTED_AUS:
        raise InputError(f"unsupported action unit {au!r}; supported: {', '.join(map(str, SUPPORTED_AUS))}.")
    return int(text)


@dataclass
class AUEvent:
    """One action unit's activation.

    Attributes:
        au: FACS action-unit number (one of :data:`SUPPORTED_AUS`).
        side: "L" / "R" (the subject's left / right, as in FACS codes) or None for both sides.
        amplitude_px: peak displacement in pixels at 256² (scaled with the frame size); > 0.
        onset_s, apex_s, offset_s: times in seconds from frame 0, ``0 <= onset < apex < offset``.
    """

    au: int
    side: str | None
    amplitude_px: float
    onset_s: float
    apex_s: float
    offset_s: float

    def __post_init__(self) -> None:
        self.au = check_au(self.au)
        if self.side is not None:
            self.side = str(self.side).upper()
        if self.side not in SIDES:
            raise InputError(f"side must be 'L', 'R' or None (both), got {self.side!r}.")
        self.amplitude_px = _finite(self.amplitude_px, "amplitude_px")
        if self.amplitude_px <= 0:
            raise InputError(f"amplitude_px must be > 0 pixels, got {self.amplitude_px}.")
        self.onset_s, self.apex_s, self.offset_s = (
            _finite(v, n) for v, n in ((self.onset_s, "onset_s"), (self.apex_s, "apex_s"), (self.offset_s, "offset_s"))
        )
        if not 0.0 <= self.onset_s < self.apex_s < self.offset_s:
            raise InputError(
                f"event times must satisfy 0 <= onset < apex < offset, got {self.onset_s}, {self.apex_s}, "
                f"{self.offset_s} s; reorder them."
            )

    def envelope(self, times: np.ndarray) -> np.ndarray:
        """Activation in [0, 1] at ``times`` (seconds), raised-cosine rise and decay; shape of ``times``."""
        t = np.asarray(times, dtype=np.float64)
        rise = np.clip((t - self.onset_s) / (self.apex_s - self.onset_s), 0.0, 1.0)
        fall = np.clip((t - self.apex_s) / (self.offset_s - self.apex_s), 0.0, 1.0)
        return np.where(t <= self.apex_s, 0.5 * (1.0 - np.cos(np.pi * rise)), 0.5 * (1.0 + np.cos(np.pi * fall)))

    @property
    def label(self) -> str:
        """FACS-style code, e.g. ``"AU12"`` or ``"L12"``."""
        return f"{self.side}{self.au}" if self.side else f"AU{self.au}"


@dataclass
class AUProgram:
    """Everything needed to render one synthetic clip (face excluded).

    Attributes:
        events: the micro-expression's action units.
        fps: frame rate (> 0).
        n_frames: number of frames (>= 2); frame i is at time ``i / fps``.
        drift_px: rigid head translation ``(dx, dy)`` reached on the last frame, pixels at 256².
        noise_sigma: std of additive Gaussian sensor noise, in [0, 1] intensity units (>= 0).
        quantise: round the frames to uint8 levels (as a camera would).
        blink: an optional distractor event (AU45) that is not part of the expression.
        seed: seed of the noise (and, for sampled programs, of the sampling).
    """

    events: list[AUEvent]
    fps: float = 200.0
    n_frames: int = 60
    drift_px: tuple[float, float] = (0.0, 0.0)
    noise_sigma: float = 0.0
    quantise: bool = True
    blink: AUEvent | None = None
    seed: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.events = [e if isinstance(e, AUEvent) else AUEvent(**e) for e in self.events]
        if not self.events:
            raise InputError("events must hold at least one AUEvent (the micro-expression); e.g. [AUEvent(12, None, 1.5, 0.02, 0.17, 0.32)].")
        if isinstance(self.blink, dict):
            self.blink = AUEvent(**self.blink)
        self.fps = _finite(self.fps, "fps")
        if self.fps <= 0:
            raise InputError(f"fps must be > 0, got {self.fps}.")
        whole = isinstance(self.n_frames, (int, np.integer)) and not isinstance(self.n_frames, bool)
        if not whole or int(self.n_frames) < 2:
            raise InputError(f"n_frames must be an integer >= 2, got {self.n_frames!r}.")
        self.n_frames = int(self.n_frames)
        if len(self.drift_px) != 2:
            raise InputError(f"drift_px must be a pair (dx, dy) in pixels, got {self.drift_px!r}.")
        self.drift_px = (_finite(self.drift_px[0], "drift_px[0]"), _finite(self.drift_px[1], "drift_px[1]"))
        self.noise_sigma = _finite(self.noise_sigma, "noise_sigma")
        if self.noise_sigma < 0:
            raise InputError(f"noise_sigma must be >= 0 (intensity units in [0, 1]), got {self.noise_sigma}.")
        self.quantise = bool(self.quantise)
        self.seed = int(self.seed)

    @property
    def times(self) -> np.ndarray:
        """Frame times in seconds, ``(T,)``."""
        return np.arange(self.n_frames, dtype=np.float64) / self.fps

    @property
    def duration_s(self) -> float:
        return (self.n_frames - 1) / self.fps

    def all_events(self) -> list[AUEvent]:
        """The expression's events followed by the blink, if any."""
        return self.events + ([self.blink] if self.blink is not None else [])

    def drift(self) -> np.ndarray:
        """Rigid translation per frame ``(T, 2)`` in pixels at 256², zero on frame 0."""
        ramp = 0.5 * (1.0 - np.cos(np.pi * self.times / max(self.duration_s, 1e-12)))
        return ramp[:, None] * np.asarray(self.drift_px, dtype=np.float64)[None, :]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (lists, floats, ints, strings, None)."""
        out = asdict(self)
        out["drift_px"] = list(self.drift_px)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AUProgram":
        """Inverse of :meth:`to_dict`; validates every field."""
        if not isinstance(data, dict) or "events" not in data:
            raise InputError("an AU program dict needs an 'events' list; produce it with AUProgram.to_dict().")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["drift_px"] = tuple(known.get("drift_px", (0.0, 0.0)))
        return cls(**known)

    def describe(self) -> str:
        """Short text, e.g. ``"AU4+L12 @200fps, 64 frames"``."""
        codes = "+".join(e.label for e in self.events) or "none"
        blink = ", blink" if self.blink is not None else ""
        return f"{codes} @{self.fps:g}fps, {self.n_frames} frames{blink}"
