"""Per-item JSON records that make a long run over a dataset resumable.

A run over CASME II takes hours; an interruption, or one clip without a face, must cost neither
the clips already done nor the rest of the run. Each item (a clip, a video) gets one record,
written atomically the moment it finishes, in ``<folder>/<name>/<item>.json``, next to a
``run.json`` holding the settings the records were made with. A re-run with the same settings
skips the items whose record says ``"done"``; failed items are tried again; a re-run with other
settings is refused instead of mixing two runs in one report.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from ..errors import InputError
from .atomic import atomic_output

RUN_FILE = "run.json"


def _plain(value: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, numpy/tensor scalars and arrays -> numbers and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays / scalars, torch tensors
        return _plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def slug(name: str) -> str:
    """A file-name-safe form of an item name (``sub01/EP02_01f@face`` -> ``sub01_EP02_01f_face``)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


class RunRecords:
    """The records of one run in ``folder/subfolder``.

    Args:
        folder: the run's output folder (created if missing; its parent must exist).
        settings: what the records depend on (backbone, α, dataset...): plain JSON values.
        subfolder: where the records go inside ``folder``.

    Raises:
        InputError: ``folder`` holds records of a run with other settings.
    """

    def __init__(self, folder: str | os.PathLike[str], settings: dict[str, Any], subfolder: str = "clips"):
        self.folder = Path(folder) / subfolder
        self.settings = _plain(settings)
        stored = self._read(self.folder / RUN_FILE)
        if stored is not None and stored.get("settings") != self.settings:
            changed = sorted(k for k in set(stored.get("settings", {})) | set(self.settings)
                             if stored.get("settings", {}).get(k) != self.settings.get(k))
            raise InputError(
                f"{str(folder)!r} holds the records of a run with other settings ({', '.join(changed)} differ); "
                "re-run with the same settings to resume it, or choose another output folder."
            )
        if stored is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._write(self.folder / RUN_FILE, {"settings": self.settings})

    def path(self, item: str) -> Path:
        """Where the record of ``item`` goes."""
        return self.folder / f"{slug(item)}.json"

    def get(self, item: str) -> dict[str, Any] | None:
        """The record of ``item`` (any status), or None when it has not run."""
        return self._read(self.path(item))

    def done(self, item: str) -> dict[str, Any] | None:
        """The record of ``item`` when it finished successfully, else None."""
        record = self.get(item)
        return record if record is not None and record.get("status") == "done" else None

    def save(self, item: str, status: str, error: str | None = None, **fields: Any) -> dict[str, Any]:
        """Write the record of ``item`` atomically; ``status`` is ``"done"`` or ``"failed"`` (with ``error``)."""
        if status not in ("done", "failed"):
            raise InputError(f"status must be 'done' or 'failed', got {status!r}.")
        record = _plain({"item": item, "status": status, "error": error, **fields})
        self._write(self.path(item), record)
        return record

    def all(self) -> list[dict[str, Any]]:
        """Every record in the folder (any status), in file-name order."""
        records = (self._read(p) for p in sorted(self.folder.glob("*.json")) if p.name != RUN_FILE)
        return [r for r in records if r is not None]

    @staticmethod
    def _read(path: Path) -> dict[str, Any] | None:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):  # missing; records are atomic, so never half-written
            return None

    @staticmethod
    def _write(path: Path, payload: dict[str, Any]) -> None:
        with atomic_output(path) as tmp:
            tmp.write_text(json.dumps(payload, indent=1) + "\n")
