"""Reading FSRT checkpoints: the published ``.pt`` files, converted ``.safetensors``, or in-memory dicts.

Accepted layouts:

- keypoint detector: a bare state dict (``kp_detector.pt`` / ``kp_detector.safetensors``);
- model: a dict of state dicts ``{"encoder", "decoder", "expression_encoder", ...}``
  (``vox256.pt``; extra training entries are ignored), or the flat safetensors form written by
  :func:`magplus.backbones.fsrt.convert.convert`, whose keys are ``"<module>.<key>"``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import torch

from ...errors import WeightsError
from ...weights import load_checkpoint_file, strip_prefix
from .model import VOX_MODULES

#: Where the official files are published, for error messages.
OFFICIAL_SOURCE = "the official FSRT release (github.com/andrerochow/fsrt, 'Pretrained Checkpoints', folder fsrt_checkpoints/)"

StateDict = Mapping[str, torch.Tensor]
CheckpointLike = str | os.PathLike[str] | Mapping[str, Any]


def missing_weights_error(what: str) -> WeightsError:
    """The error for an absent checkpoint: which official file, where it is, which flag takes it."""
    return WeightsError(
        f"the FSRT backbone needs {what}: download vox256.pt (model, flag --checkpoint) and kp_detector.pt "
        f"(keypoint detector, flag --kp-checkpoint) from {OFFICIAL_SOURCE} and pass their paths "
        "(or set MAGPLUS_FSRT_CHECKPOINT / MAGPLUS_FSRT_KP_CHECKPOINT).")


def _read(source: CheckpointLike) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        return source
    if isinstance(source, (str, os.PathLike)):
        data = load_checkpoint_file(Path(source).expanduser())
        if not isinstance(data, Mapping):
            raise WeightsError(f"checkpoint {str(source)!r} holds a {type(data).__name__}, not a dict of tensors; "
                               "pass the official FSRT files.")
        return data
    raise WeightsError(f"a checkpoint must be a path or a dict of tensors, got a {type(source).__name__}.")


def _without_wrapper_prefix(state: StateDict) -> StateDict:
    """Drop the ``module.`` prefix a ``DataParallel`` wrapper adds to every key."""
    if state and all(isinstance(key, str) and key.startswith("module.") for key in state):
        return strip_prefix(state, "module.")
    return state


def split_model_state(data: Mapping[str, Any], where: str = "the checkpoint") -> dict[str, StateDict]:
    """``{"encoder": ..., "decoder": ..., "expression_encoder": ...}`` from the nested or the flat layout."""
    if any(isinstance(data.get(name), Mapping) for name in VOX_MODULES):
        return {name: _without_wrapper_prefix(data[name]) for name in VOX_MODULES if isinstance(data.get(name), Mapping)}
    flat = {name: strip_prefix(data, name + ".") for name in VOX_MODULES}
    flat = {name: state for name, state in flat.items() if state}
    if not flat:
        raise WeightsError(f"{where} has none of the FSRT entries {list(VOX_MODULES)} (found e.g. "
                           f"{sorted(data)[:5]}); pass vox256.pt as --checkpoint and kp_detector.pt as --kp-checkpoint.")
    return flat


def read_model_checkpoint(source: CheckpointLike) -> dict[str, StateDict]:
    """The three model state dicts of ``vox256.pt`` (or its safetensors conversion, or a dict)."""
    where = f"checkpoint {str(source)!r}" if not isinstance(source, Mapping) else "the model state"
    return split_model_state(_read(source), where)


def read_kp_checkpoint(source: CheckpointLike) -> StateDict:
    """The keypoint detector's state dict (``kp_detector.pt``, its conversion, or a dict)."""
    data = _read(source)
    if any(isinstance(value, Mapping) for value in data.values()):
        nested = [key for key, value in data.items() if isinstance(value, Mapping)]
        if "kp_detector" in nested:
            return _without_wrapper_prefix(data["kp_detector"])
        raise WeightsError(f"the keypoint-detector checkpoint is a dict of {nested}, not a state dict; "
                           "pass kp_detector.pt as --kp-checkpoint (vox256.pt goes to --checkpoint).")
    return _without_wrapper_prefix(data)


def stored_config(source: CheckpointLike) -> dict[str, Any] | None:
    """The architecture recorded by :func:`~magplus.backbones.fsrt.convert.convert` in a safetensors file, if any."""
    if isinstance(source, Mapping) or Path(source).suffix != ".safetensors" or not Path(source).is_file():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(source), framework="pt") as handle:
            text = (handle.metadata() or {}).get("config")
        return json.loads(text) if text else None
    except Exception as exc:  # a damaged header: report it like any unreadable checkpoint
        raise WeightsError(f"cannot read the metadata of {str(source)!r}: {exc}") from exc
