"""MMEW (Ben et al. 2021): 90 fps, ``S03/happiness/S03-01-002/1.jpg``.

Annotation ``MMEW_Micro_Exp.xlsx``: Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame, Action
Units, Estimated Emotion. The emotion folder between subject and clip is taken from the row, and
searched for when the row's spelling differs from the folder's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .core import AnnotatedDataset, numbered_subject
from .tables import as_text


class MMEW(AnnotatedDataset):
    """MMEW loader: ``MMEW(root, annotation)``; ``root`` holds ``S01``, ``S02``, ..."""

    name = "MMEW"
    fps = 90.0

    def _subject(self, value: Any, clip: str) -> str:
        return numbered_subject(value, "S", 2)

    def _clip_dir(self, subject: str, clip: str, row: dict[str, Any]) -> Path:
        emotion = as_text(row.get("emotion")) or ""
        direct = self.root / subject / emotion / clip
        if direct.is_dir():
            return direct
        found = sorted(path for path in (self.root / subject).glob(f"*/{clip}") if path.is_dir())
        return found[0] if found else direct
