"""Temporary folders of the app: one root per app process, one sub-folder per browser session.

Layout (everything lives under one ``mkdtemp`` root, so stopping the app removes it all)::

    magplus-app-XXXX/            the root; Gradio's upload cache too (GRADIO_TEMP_DIR points here)
      <sha256>/face.png          an upload, stored by Gradio under the hash of its content
      session-<hash>/run-001/    a run's outputs (videos, plot, summary.json) and extracted zips

A session's folder and the uploads it made are removed when its browser tab closes (Gradio's
``unload`` event, which fires when the page's heartbeat connection ends); the root is removed when
the app stops (:meth:`TempRoot.close`, also registered with :mod:`atexit`).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

_SAFE_SESSION = re.compile(r"[^A-Za-z0-9_-]")


class TempRoot:
    """The app's temporary root and its per-session folders.

    Args:
        parent: folder to create the root in (default: the system temporary folder).

    Attributes:
        path: the root folder (absolute).
    """

    def __init__(self, parent: str | os.PathLike[str] | None = None):
        self.path = Path(tempfile.mkdtemp(prefix="magplus-app-", dir=parent)).resolve()
        self._uploads: dict[str, set[Path]] = {}
        self._runs: dict[str, int] = {}
        self._lock = threading.Lock()
        atexit.register(self.close)

    def session_dir(self, session: str) -> Path:
        """The folder of one browser session (created on first use)."""
        folder = self.path / f"session-{_SAFE_SESSION.sub('_', session or 'anonymous')}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def run_dir(self, session: str) -> Path:
        """A fresh folder for one run of a session: ``session-<hash>/run-NNN``."""
        with self._lock:
            index = self._runs.get(session, 0) + 1
            self._runs[session] = index
        folder = self.session_dir(session) / f"run-{index:03d}"
        folder.mkdir()
        return folder

    def register_upload(self, session: str, path: str | os.PathLike[str] | None) -> None:
        """Remember that ``session`` uploaded ``path`` so that its session end removes it.

        Paths outside the root (a file the app did not receive) are ignored, never deleted.
        """
        if not path:
            return
        resolved = Path(path).resolve()
        if self.path not in resolved.parents:
            return
        with self._lock:
            self._uploads.setdefault(session, set()).add(resolved)

    def end_session(self, session: str) -> None:
        """Remove a session's folder and its uploads (each upload's hash folder)."""
        with self._lock:
            uploads = self._uploads.pop(session, set())
            self._runs.pop(session, None)
        for upload in uploads:
            # Gradio stores an upload as <root>/<hash>/<name>; the hash folder goes with it.
            holder = upload.parent if upload.parent.parent == self.path else upload
            _remove(holder)
        _remove(self.path / f"session-{_SAFE_SESSION.sub('_', session or 'anonymous')}")

    def close(self) -> None:
        """Remove the whole root (idempotent)."""
        _remove(self.path)
        with self._lock:
            self._uploads.clear()
            self._runs.clear()


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink(missing_ok=True)
