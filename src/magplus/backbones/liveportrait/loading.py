"""Reading LivePortrait weights: the official folder of ``.pth`` files, or one converted ``.safetensors``.

Accepted layouts:

* a folder holding the official files (directly, or in ``base_models/`` and ``retargeting_models/``,
  or one level down in ``liveportrait/``, as the official download lays them out):
  ``appearance_feature_extractor.pth``, ``motion_extractor.pth``, ``warping_module.pth``,
  ``spade_generator.pth`` (plain state dicts) and ``stitching_retargeting_module.pth`` (a dict whose
  ``retarget_shoulder`` / ``retarget_mouth`` / ``retarget_eye`` entries are the stitching, lip and
  eye MLPs, with DataParallel ``module.`` prefixes);
* ``liveportrait.safetensors`` (what ``magplus convert-weights liveportrait`` writes: keys
  ``<network>.<key>``, the config as JSON in the metadata key ``"config"``), given as the file or
  as a folder that holds it; the golden-vector layout ``state/<network>/<key>`` is read too.

Every ``.pth`` is read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import torch

from ...errors import WeightsError
from ...weights import load_checkpoint_file, strip_prefix
from .config import BASE_NETWORKS, MLP_NETWORKS

#: Where users get the weights (nothing is downloaded at run time).
OFFICIAL_SOURCE = ("the official LivePortrait weights (huggingface.co/KwaiVGI/LivePortrait, folder liveportrait/: "
                   "base_models/*.pth and retargeting_models/stitching_retargeting_module.pth)")
BASE_FILES = {name: f"{name}.pth" for name in BASE_NETWORKS}
STITCHING_FILE = "stitching_retargeting_module.pth"
#: Network name -> entry of ``stitching_retargeting_module.pth``.
STITCHING_ENTRIES = {"stitching": "retarget_shoulder", "lip": "retarget_mouth", "eye": "retarget_eye"}
CONVERTED_FILE = "liveportrait.safetensors"
_SUBFOLDERS = ("", "base_models", "retargeting_models", "liveportrait", "liveportrait/base_models",
               "liveportrait/retargeting_models")

StateDict = dict[str, torch.Tensor]


def missing_weights_error(what: str) -> WeightsError:
    """The error for absent weights: which official file, where it is published, which flag takes it."""
    return WeightsError(f"LivePortrait needs {what}; download {OFFICIAL_SOURCE} and pass the folder with "
                        "--weights DIR (Python: weights_dir=DIR), or a file written by `magplus convert-weights liveportrait`.")


def find_file(folder: Path, name: str) -> Path | None:
    """``name`` in ``folder`` or one of the official sub-folders, or None."""
    for sub in _SUBFOLDERS:
        candidate = folder / sub / name
        if candidate.is_file():
            return candidate
    return None


def _without_module_prefix(state: Mapping[str, Any], where: str) -> StateDict:
    out: StateDict = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise WeightsError(f"{where}: entry {key!r} is a {type(value).__name__}, not a tensor; give the official LivePortrait files.")
        out[key[len("module."):] if key.startswith("module.") else key] = value
    return out


def _read_state(path: Path) -> StateDict:
    data = load_checkpoint_file(path)
    if not isinstance(data, Mapping):
        raise WeightsError(f"{str(path)!r} holds a {type(data).__name__}, not a state dict; give the official LivePortrait files.")
    return _without_module_prefix(data, f"checkpoint {str(path)!r}")


def split_stitching(data: Mapping[str, Any], where: str) -> dict[str, StateDict]:
    """``{"stitching", "lip", "eye"}`` state dicts from the official stitching-retargeting dict."""
    absent = [entry for entry in STITCHING_ENTRIES.values() if not isinstance(data.get(entry), Mapping)]
    if absent:
        raise WeightsError(f"{where} lacks the entries {absent} (found {sorted(map(str, data))[:6]}); "
                           f"give the official {STITCHING_FILE}.")
    return {name: _without_module_prefix(data[entry], f"{where}[{entry!r}]") for name, entry in STITCHING_ENTRIES.items()}


def read_official_folder(folder: Path, with_mlps: bool = True) -> dict[str, StateDict]:
    """The state dicts of the official files in ``folder`` (the stitching file only when ``with_mlps``).

    Raises:
        WeightsError: a file is missing (named, with the flag that takes the folder) or unreadable.
    """
    states: dict[str, StateDict] = {}
    for name, filename in BASE_FILES.items():
        path = find_file(folder, filename)
        if path is None:
            raise missing_weights_error(f"{filename}, which is not in {str(folder)!r} (nor its base_models/ sub-folder)")
        states[name] = _read_state(path)
    if with_mlps:
        path = find_file(folder, STITCHING_FILE)
        if path is None:
            raise missing_weights_error(f"{STITCHING_FILE} for stitching, which is not in {str(folder)!r} (nor its "
                                        "retargeting_models/ sub-folder); or turn stitching off (stitching=False)")
        data = load_checkpoint_file(path)
        if not isinstance(data, Mapping):
            raise WeightsError(f"{str(path)!r} holds a {type(data).__name__}, not a dict; give the official {STITCHING_FILE}.")
        states.update(split_stitching(data, f"checkpoint {str(path)!r}"))
    return states


def split_flat(state: Mapping[str, torch.Tensor], where: str) -> dict[str, StateDict]:
    """Network state dicts from a flat ``<network>.<key>`` (or ``state/<network>/<key>``) dict."""
    for pattern in ("{}.", "state/{}/"):
        states = {name: strip_prefix(state, pattern.format(name)) for name in BASE_NETWORKS + MLP_NETWORKS}
        states = {name: sd for name, sd in states.items() if sd}
        if states:
            return states
    raise WeightsError(f"{where} has no LivePortrait networks (keys start with e.g. {sorted(state)[:3]}); "
                       "give the official folder or a file written by `magplus convert-weights liveportrait`.")


def stored_config(path: Path) -> dict[str, Any] | None:
    """The config JSON in a safetensors file's metadata (``"config"``), if any."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            text = (handle.metadata() or {}).get("config")
    except Exception as exc:  # safetensors raises several unrelated types
        raise WeightsError(f"cannot read the metadata of {str(path)!r}: {exc}") from exc
    return json.loads(text) if text else None


def read_weights(source: str | os.PathLike[str] | None,
                 with_mlps: bool = True) -> tuple[dict[str, StateDict], dict[str, Any] | None]:
    """``(network state dicts, stored config or None)`` from a folder or a ``.safetensors`` file.

    Raises:
        WeightsError: nothing given, a missing path or file, or an unknown layout.
    """
    if source is None:
        raise missing_weights_error("its five official weight files")
    path = Path(source).expanduser()
    if path.is_dir() and (path / CONVERTED_FILE).is_file():
        path = path / CONVERTED_FILE
    if path.is_dir():
        return read_official_folder(path, with_mlps), None
    if not path.exists():
        raise missing_weights_error(f"its weights, but {str(path)!r} does not exist")
    if path.suffix != ".safetensors":
        raise WeightsError(f"{str(path)!r} is a single file; give the folder of the five official .pth files "
                           f"(--weights DIR) or a converted {CONVERTED_FILE}.")
    states = split_flat(load_checkpoint_file(path), f"checkpoint {str(path)!r}")
    if not with_mlps:
        states = {n: sd for n, sd in states.items() if n not in MLP_NETWORKS}
    return states, stored_config(path)
