"""Any folder of clips (frame folders or video files) with a CSV/xlsx of onset/apex/offset."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .core import AnnotatedDataset
from .tables import as_text


class GenericDataset(AnnotatedDataset):
    """Clips under ``root`` described by a table with columns ``clip, onset, apex, offset``
    (optional ``subject, emotion, aus, objective_class``).

    ``clip`` is a path relative to ``root`` (a folder of frames or a video file). Frame numbers
    are those of the frame file names, or 0-based positions for videos. A missing ``apex`` column
    or cell is estimated and flagged.

    Args:
        root: folder the ``clip`` paths are relative to.
        annotation: the table (csv or xlsx).
        fps: frame rate of the clips.
    """

    name = "generic"
    required = ("clip", "onset", "offset")

    def __init__(
        self,
        root: str | os.PathLike[str],
        annotation: str | os.PathLike[str],
        fps: float = 30.0,
        estimate_apex: bool = True,
        skip_missing: bool = False,
    ):
        self.fps = float(fps)
        super().__init__(root, annotation, estimate_apex=estimate_apex, skip_missing=skip_missing)

    def _subject(self, value: Any, clip: str) -> str:
        return as_text(value) or ""

    def _clip_dir(self, subject: str, clip: str, row: dict[str, Any]) -> Path:
        return self.root / clip
