"""SAMM (Davison et al. 2018): 200 fps grayscale, ``006/006_1_2/006_05562.jpg``.

Annotation ``SAMM_Micro_FACS_Codes_v2.xlsx``: 13 rows of notes, then the header on row 14
(Subject, Filename, Inducement Code, Onset Frame, Apex Frame, Offset Frame, Duration, Micro,
Action Units, Estimated Emotion, Objective Classes, Notes); the header is found automatically.
Frame numbers are the digits after the underscore of the frame files. Grayscale frames come out
with three equal channels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .core import AnnotatedDataset, numbered_subject


class SAMM(AnnotatedDataset):
    """SAMM loader: ``SAMM(root, annotation)``; ``root`` holds ``006``, ``007``, ..."""

    name = "SAMM"
    fps = 200.0

    def _subject(self, value: Any, clip: str) -> str:
        # spreadsheets turn "006" into 6; the clip name "006_1_2" always starts with the folder name
        subject = numbered_subject(value, "", 3)
        return subject or clip.split("_")[0]

    def _clip_dir(self, subject: str, clip: str, row: dict[str, Any]) -> Path:
        return self.root / subject / clip
