"""Folders of frame images: natural ordering, frame-rate sidecar, PNG-sequence naming.

Micro-expression datasets ship clips as folders of JPEG/BMP frames named ``img46.jpg``,
``reg_img46.jpg``, ``006_05562.jpg`` or ``reg_00001.bmp``. Plain string sorting puts ``img10``
before ``img9``; :func:`natural_key` compares the digit runs as numbers instead.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import VideoReadError
from .images import FRAME_EXTENSIONS

#: Name of the optional one-line file holding a folder's frame rate (written by ``write_video``).
FPS_SIDECAR = "fps.txt"
#: Name pattern of the frames ``write_video`` writes into a folder.
FRAME_NAME = "frame_{:05d}.png"
#: Frame rate assumed for a folder with neither an ``fps=`` argument nor a sidecar.
DEFAULT_FOLDER_FPS = 30.0

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key that orders digit runs numerically: ``img9 < img10``, ``a2b3 < a2b10``.

    Each part is tagged so that numbers and text never get compared with each other.
    """
    parts = _DIGITS.split(name.lower())
    return tuple((0, int(part), part) if part.isdigit() else (1, 0, part) for part in parts)


def list_frame_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The image files of a frame folder in natural order (hidden files are ignored).

    Raises:
        VideoReadError: the folder does not exist or holds no png/jpg/jpeg/bmp file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise VideoReadError(f"frame folder {str(folder)!r} does not exist; check the path.")
    files = [
        entry
        for entry in folder.iterdir()
        if entry.suffix.lower() in FRAME_EXTENSIONS and not entry.name.startswith(".") and entry.is_file()
    ]
    if not files:
        raise VideoReadError(
            f"frame folder {str(folder)!r} holds no {'/'.join(e[1:] for e in FRAME_EXTENSIONS)} image; "
            "point to a folder of frames or a video file."
        )
    return sorted(files, key=lambda entry: natural_key(entry.name))


def read_fps_sidecar(folder: str | os.PathLike[str]) -> float | None:
    """Frame rate stored in ``folder/fps.txt``, or None when absent or unreadable."""
    sidecar = Path(folder) / FPS_SIDECAR
    try:
        value = float(sidecar.read_text().strip())
    except (OSError, ValueError):
        return None
    return value if value > 0 else None


def write_fps_sidecar(folder: Path, fps: float) -> None:
    """Store ``fps`` in ``folder/fps.txt`` so that reading the folder back keeps the frame rate."""
    (folder / FPS_SIDECAR).write_text(f"{float(fps)!r}\n")
