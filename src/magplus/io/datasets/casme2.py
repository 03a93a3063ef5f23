"""CASME II (Yan et al. 2014): 200 fps, ``sub01/EP02_01f/img46.jpg`` (cropped: ``reg_img46.jpg``).

Annotation ``CASME2-coding-*.xlsx``: Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame,
Action Units, Estimated Emotion (+ objective class in later releases). A few rows have a missing
or impossible apex/offset; the base class repairs and flags them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .core import AnnotatedDataset, numbered_subject


class CASME2(AnnotatedDataset):
    """CASME II loader: ``CASME2(root, annotation)``; ``root`` holds ``sub01``, ``sub02``, ..."""

    name = "CASME2"
    fps = 200.0

    def _subject(self, value: Any, clip: str) -> str:
        return numbered_subject(value, "sub", 2)

    def _clip_dir(self, subject: str, clip: str, row: dict[str, Any]) -> Path:
        return self.root / subject / clip
