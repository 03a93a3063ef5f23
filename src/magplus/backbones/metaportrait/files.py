"""Readers for MetaPortrait's official preprocessed data (the released example data layout).

The official inference reads, under a data root::

    src_<k>.png          source portrait
    src_<k>_ldmk.npy     source dense landmarks, (669, 2) float, (x, y) in [0, 1]
    src_<k>_id.npy       source identity embedding, (1, 256) or (256,) float
    <k>/ldmks/<frame>_ldmk.npy   driving dense landmarks, one file per frame
    src_map_dict.pkl     frame name -> k (a pickle: magplus does not read it, see below)

The landmarks and the identity come from non-public Microsoft models, so magplus can only use
them as files. ``src_map_dict.pkl`` is never unpickled (unsafe); the subject ``k`` is taken from
the ``src_<k>_ldmk.npy`` name instead. Plain-text ``.txt`` landmark files (669 rows ``x y``) are
accepted too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...errors import InputError, ShapeError
from .lines import NUM_DENSE, check_dense

_SOURCE_LDMK = re.compile(r"^src_(?P<k>[^/]+)_ldmk\.(npy|txt)$")


def load_dense_file(path: str | Path) -> np.ndarray:
    """One dense-landmark file (``.npy`` or whitespace-separated ``.txt``) -> ``(669, 2)`` float32 in [0, 1]."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"landmark file {str(path)!r} does not exist; pass an official *_ldmk.npy file.")
    try:
        array = np.loadtxt(path, dtype=np.float32) if path.suffix == ".txt" else np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ShapeError(f"cannot read landmark file {str(path)!r} ({exc}); it must be a numeric .npy or .txt file.") from exc
    array = np.asarray(array, dtype=np.float32)
    if array.shape != (NUM_DENSE, 2):
        raise ShapeError(f"landmark file {str(path)!r} has shape {array.shape}, expected (669, 2) (x, y) in [0, 1].")
    return check_dense(array, f"landmark file {str(path)!r}")


def load_identity(path: str | Path, id_dim: int = 256) -> torch.Tensor:
    """An official ``src_<k>_id.npy`` -> ``(1, id_dim)`` float32 tensor (fed raw, not normalised)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"identity file {str(path)!r} does not exist; pass the official src_<k>_id.npy with --identity.")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ShapeError(f"cannot read identity file {str(path)!r} ({exc}); it must be a numeric .npy file.") from exc
    array = np.asarray(array, dtype=np.float32)
    if array.size != id_dim or array.ndim > 2 or (array.ndim == 2 and array.shape[0] != 1):
        raise ShapeError(f"identity file {str(path)!r} has shape {array.shape}, expected ({id_dim},) or (1, {id_dim}).")
    if not np.isfinite(array).all():
        raise ShapeError(f"identity file {str(path)!r} contains NaN or infinite values.")
    return torch.from_numpy(array.reshape(1, id_dim).copy())


@dataclass
class OfficialLandmarks:
    """Dense landmarks found in an official data folder.

    Attributes:
        driving: ``(T, 669, 2)`` per-frame landmarks in file-name order.
        driving_files: the files they came from.
        source: ``(669, 2)`` source landmarks, or None if no ``src_<k>_ldmk`` file was found.
        identity_file: ``src_<k>_id.npy`` beside the source landmarks, if present.
    """

    driving: np.ndarray
    driving_files: list[Path]
    source: np.ndarray | None = None
    identity_file: Path | None = None


def _frame_files(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix in (".npy", ".txt")
             and not p.name.startswith("src_") and not p.name.endswith(("_theta.npy", "_id.npy"))]
    return sorted(files)


def _source_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("src_*_ldmk.*") if _SOURCE_LDMK.match(p.name))


def find_official_landmarks(root: str | Path) -> OfficialLandmarks:
    """Read an official data root (``src_<k>_ldmk.npy`` + ``<k>/ldmks/``), a subject folder
    (``<k>/`` with ``ldmks/``), or a plain folder of per-frame landmark files.

    Raises:
        InputError: missing folder, no frame files, or several subjects in one root.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"landmarks folder {str(root)!r} does not exist; pass the official data folder with --landmarks.")
    sources = _source_files(root) or _source_files(root.parent) or _source_files(root.parent.parent)
    frames_dir = root
    if _source_files(root):
        if len(sources) > 1:
            names = ", ".join(p.name for p in sources)
            raise InputError(f"landmarks folder {str(root)!r} holds several subjects ({names}); pass the subject folder <k>/ instead.")
        frames_dir = root / _SOURCE_LDMK.match(sources[0].name)["k"]
    if (frames_dir / "ldmks").is_dir():
        frames_dir = frames_dir / "ldmks"
    files = _frame_files(frames_dir) if frames_dir.is_dir() else []
    if not files:
        raise InputError(f"no per-frame landmark files (*_ldmk.npy or .txt) found in {str(frames_dir)!r}.")
    if len(sources) > 1:  # subject folder given: keep the source whose k names it
        subject = frames_dir.parent.name if frames_dir.name == "ldmks" else frames_dir.name
        sources = [p for p in sources if _SOURCE_LDMK.match(p.name)["k"] == subject]
    source = load_dense_file(sources[0]) if len(sources) == 1 else None
    identity = None
    if source is not None:
        candidate = sources[0].with_name(sources[0].name.replace("_ldmk.", "_id.").replace(".txt", ".npy"))
        identity = candidate if candidate.is_file() else None
    driving = np.stack([load_dense_file(p) for p in files])
    return OfficialLandmarks(driving=driving, driving_files=files, source=source, identity_file=identity)
