"""CAS(ME)³ part A (Li et al. 2022): 30 fps, ``part_A/{Subject}/{Filename}/color/{n}.jpg`` (+ depth).

Annotation ``cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx``, sheet ``label``: Subject, Filename, Onset,
Apex, Offset, AU, Objective class, emotion. File names ("a", "b", ...) repeat across subjects and a
clip may hold several micro-expressions, so samples are looked up by (subject, clip) and onset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .core import AnnotatedDataset


class CASME3(AnnotatedDataset):
    """CAS(ME)³ part A loader: ``CASME3(root, annotation)``; ``root`` is ``part_A`` or its parent."""

    name = "CASME3-A"
    fps = 30.0
    sheet = "label"

    def _clip_dir(self, subject: str, clip: str, row: dict[str, Any]) -> Path:
        base = self.root / "part_A" if (self.root / "part_A").is_dir() else self.root
        return base / subject / clip / "color"
