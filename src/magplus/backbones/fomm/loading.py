"""Reading FOMM checkpoints: the official ``.pth.tar``, plain state dicts and safetensors.

Accepted layouts (the discriminator, optimizer states and epoch of training checkpoints are
ignored):

* a dict with ``"generator"`` and ``"kp_detector"`` state dicts (official ``vox-cpk.pth.tar``);
* a flat dict whose keys start with ``generator.`` / ``kp_detector.`` (what
  ``magplus convert-weights fomm`` writes) or ``state/generator/`` / ``state/kp_detector/``
  (the golden-vector files);
* DataParallel ``module.`` prefixes inside either module are dropped.

A safetensors file may carry its ``model_params`` as JSON in the metadata key ``"config"``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import torch

from ...errors import WeightsError
from ...weights import load_checkpoint_file

__all__ = ["OFFICIAL_CHECKPOINT", "split_state", "read_checkpoint", "checkpoint_config"]

#: Where users get the weights (nothing is downloaded at run time).
OFFICIAL_CHECKPOINT = (
    "vox-cpk.pth.tar (config/vox-256.yaml) from the official first-order-model release "
    "(github.com/AliaksandrSiarohin/first-order-model, README 'Pre-trained checkpoint')"
)

_PREFIXES = (("generator.", "kp_detector."), ("state/generator/", "state/kp_detector/"))


def _clean(state: Mapping[str, Any], what: str, source: str) -> dict[str, torch.Tensor]:
    """Drop ``module.`` prefixes and check every value is a tensor."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise WeightsError(f"{source}: entry {what}[{key!r}] is a {type(value).__name__}, not a tensor; give a FOMM state dict.")
        out[key[len("module."):] if key.startswith("module.") else key] = value
    return out


def split_state(state: Any, source: str = "checkpoint") -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(generator_state, kp_detector_state)`` from any accepted layout.

    Raises:
        WeightsError: neither layout found (the message lists the top-level keys seen).
    """
    if not isinstance(state, Mapping):
        raise WeightsError(f"{source} holds a {type(state).__name__}, not a dict; give vox-cpk.pth.tar or a converted .safetensors.")
    gen, kp = state.get("generator"), state.get("kp_detector")
    if isinstance(gen, Mapping) and isinstance(kp, Mapping):
        return _clean(gen, "generator", source), _clean(kp, "kp_detector", source)
    for gen_prefix, kp_prefix in _PREFIXES:
        gen = {k[len(gen_prefix):]: v for k, v in state.items() if k.startswith(gen_prefix)}
        kp = {k[len(kp_prefix):]: v for k, v in state.items() if k.startswith(kp_prefix)}
        if gen and kp:
            return _clean(gen, "generator", source), _clean(kp, "kp_detector", source)
    seen = sorted({str(k).split(".")[0].split("/")[0] for k in state})[:10]
    raise WeightsError(
        f"{source} has no 'generator' and 'kp_detector' state dicts (top-level names seen: {', '.join(seen) or 'none'}); "
        f"give {OFFICIAL_CHECKPOINT} or a file written by `magplus convert-weights fomm`."
    )


def checkpoint_config(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """``model_params`` stored with a checkpoint, if any.

    Looks at the safetensors metadata key ``"config"``, then a sibling ``<name>.json`` with a
    ``model_params`` entry (what ``convert-weights`` writes). Returns None when there is none.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                text = (handle.metadata() or {}).get("config")
        except Exception as exc:  # safetensors raises several unrelated types
            raise WeightsError(f"cannot read safetensors file {str(path)!r}: {exc}") from exc
        if text:
            return json.loads(text)
    sibling = path.with_name(path.name.split(".")[0] + ".json")
    if sibling.is_file():
        data = json.loads(sibling.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("model_params"), dict):
            return data["model_params"]
    return None


def read_checkpoint(path: str | os.PathLike[str] | None,
                    map_location: str | torch.device = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Read a FOMM checkpoint file safely and split it into the two module state dicts.

    Raises:
        WeightsError: no path, missing file, unsafe pickle, or an unknown layout.
    """
    if path is None or not Path(path).is_file():
        shown = "no checkpoint was given" if path is None else f"checkpoint {str(path)!r} does not exist"
        raise WeightsError(
            f"FOMM needs its official weights but {shown}; download {OFFICIAL_CHECKPOINT} and pass its path "
            "with --checkpoint (Python: checkpoint=...)."
        )
    return split_state(load_checkpoint_file(path, map_location=map_location), source=f"checkpoint {str(path)!r}")
