"""SMIC (Li et al. 2013): ``HS/s1/micro/negative/s1_ne_01/reg_00001.bmp``; HS 100 fps, VIS/NIR 25 fps.

Each clip folder holds exactly the micro-expression (onset = first frame, offset = last) and the
folder above it names the emotion (negative / positive / surprise). SMIC has no apex: by
convention it is the midpoint, flagged with ``apex_estimated=True`` (pass ``estimate_apex=True``
to pick the frame of largest optical flow instead). An optional annotation (csv/xlsx with
Subject, Filename, Onset, Offset) overrides onset/offset per clip.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

from ...errors import InputError
from .core import MicroExpressionDataset
from .tables import read_annotation

_FPS = {"HS": 100.0, "VIS": 25.0, "NIR": 25.0}


class SMIC(MicroExpressionDataset):
    """SMIC loader: ``SMIC(root, variant="HS")``; ``root`` holds ``HS``/``VIS``/``NIR`` (or is one)."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        annotation: str | os.PathLike[str] | None = None,
        variant: str = "HS",
        estimate_apex: bool = False,
        skip_missing: bool = False,
    ):
        key = str(variant).upper()
        if key not in _FPS:
            raise InputError(f"SMIC variant must be one of {', '.join(_FPS)}, got {variant!r}.")
        self.variant, self.name, self.fps = key, f"SMIC-{key}", _FPS[key]
        super().__init__(root, annotation, estimate_apex=estimate_apex, skip_missing=skip_missing)

    def _variant_root(self) -> Path:
        return self.root if self.root.name.upper() == self.variant else self.root / self.variant

    def _records(self) -> Iterator[dict[str, Any]]:
        base = self._variant_root()
        if not base.is_dir():
            raise InputError(f"SMIC folder {str(base)!r} does not exist; root must hold {self.variant}/s1/micro/...")
        overrides = {}
        if self.annotation is not None:
            for row in read_annotation(self.annotation, required=("clip", "onset", "offset")):
                overrides[str(row["clip"]).strip()] = row
        clips = sorted(base.glob("*/micro/*/*"), key=lambda p: (p.parts[-4], p.parts[-2], p.name))
        for clip_dir in (path for path in clips if path.is_dir()):
            numbers = self._frame_numbers(clip_dir)
            row = overrides.get(clip_dir.name, {})
            yield {
                "subject": clip_dir.parts[-4],
                "clip": clip_dir.name,
                "onset": row.get("onset", numbers[0]),
                "apex": None,  # SMIC is not apex-coded
                "offset": row.get("offset", numbers[-1]),
                "emotion": clip_dir.parts[-2],
                "frames_dir": clip_dir,
            }
