"""Input and output: videos, images, frame folders, side-by-side grids, dataset loaders.

Names are resolved lazily so that ``import magplus`` does not import OpenCV or PyAV.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "read_video": "video",
    "VideoReader": "video",
    "write_video": "video_writer",
    "VideoWriter": "video_writer",
    "read_image": "images",
    "write_image": "images",
    "side_by_side": "grid",
    "natural_key": "frames_folder",
    "list_frame_files": "frames_folder",
    "atomic_output": "atomic",
    "atomic_output_dir": "atomic",
    "check_output_path": "atomic",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .atomic import atomic_output, atomic_output_dir, check_output_path
    from .frames_folder import list_frame_files, natural_key
    from .grid import side_by_side
    from .images import read_image, write_image
    from .video import VideoReader, read_video
    from .video_writer import VideoWriter, write_video


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
