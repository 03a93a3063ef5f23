"""The record of one micro-expression sample, common to every dataset loader."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .aus import ActionUnit, format_aus


@dataclass
class Sample:
    """One annotated micro-expression.

    Frame numbers (``onset``, ``apex``, ``offset``) are those of the annotation, i.e. the numbers
    in the frame file names (``img46.jpg`` -> 46, ``006_05562.jpg`` -> 5562); for a video file or a
    folder whose names hold no number, they are 0-based positions.

    Attributes:
        dataset: loader name ("CASME2", "SAMM", "SMIC-HS", "CASME3-A", "MMEW", "generic").
        subject: subject id as the folder names it ("sub01", "006", "s1", "spNO.1", "S03").
        clip: clip name ("EP02_01f", "006_1_2", "s1_ne_01", ...).
        onset, apex, offset: frame numbers (inclusive).
        n_frames: number of frames in the clip's folder (or video).
        aus: parsed action units (raw text kept in ``aus_raw``).
        emotion: estimated emotion label as written, or None.
        objective_class: objective class (CASME II / SAMM / CAS(ME)³), or None.
        apex_estimated: True when the apex is not the annotated one (missing, invalid, outside
            onset..offset, or SMIC's midpoint convention).
        frames_dir: folder of frames (or video file) of the clip.
        fps: frame rate of the dataset.
        aus_raw: the AU cell as written.
        notes: what the loader repaired (clamped offsets, estimated apex, ...).
    """

    dataset: str
    subject: str
    clip: str
    onset: int
    apex: int
    offset: int
    n_frames: int
    aus: list[ActionUnit] = field(default_factory=list)
    emotion: str | None = None
    objective_class: str | None = None
    apex_estimated: bool = False
    frames_dir: Path = Path()
    fps: float = 30.0
    aus_raw: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        """``(subject, clip)``: clip names repeat across subjects (CAS(ME)³), so both are needed."""
        return (self.subject, self.clip)

    @property
    def length(self) -> int:
        """Frames from onset to offset, inclusive."""
        return self.offset - self.onset + 1

    def to_row(self) -> dict[str, object]:
        """A flat dict of plain values (AUs in canonical ``L4+12B`` form) for tables and CSV."""
        return {
            "dataset": self.dataset,
            "subject": self.subject,
            "clip": self.clip,
            "onset": self.onset,
            "apex": self.apex,
            "offset": self.offset,
            "n_frames": self.n_frames,
            "aus": format_aus(self.aus),
            "aus_raw": self.aus_raw or "",
            "emotion": self.emotion or "",
            "objective_class": self.objective_class or "",
            "apex_estimated": self.apex_estimated,
            "fps": self.fps,
            "frames_dir": str(self.frames_dir),
            "notes": "; ".join(self.notes),
        }
