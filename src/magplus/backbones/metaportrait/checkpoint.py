"""Loading the official MetaPortrait base checkpoint (``ckpt_base.pth.tar``, entry ``generator``)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from ...errors import WeightsError
from ...weights import load_checkpoint_file, load_state_dict_strict
from .generator import MetaPortraitConfig, MetaPortraitGenerator

CHECKPOINT_HELP = (
    "MetaPortrait needs the official base checkpoint ckpt_base.pth.tar (linked from the README of "
    "github.com/Meta-Portrait/MetaPortrait, section 'Inference Base Model'); pass its path with --checkpoint."
)


def generator_state(checkpoint: Mapping[str, object], source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The generator state dict inside an official checkpoint dict, or a bare/converted one.

    Accepts ``{"generator": state, ...}`` (as ``utils.save_ckpt`` writes), a bare generator state
    dict, and keys prefixed ``module.`` (DDP) or ``generator.``.
    """
    state = checkpoint.get("generator", checkpoint) if isinstance(checkpoint, Mapping) else None
    if not isinstance(state, Mapping) or not state:
        raise WeightsError(f"{source} holds no 'generator' state dict; {CHECKPOINT_HELP}")
    cleaned = {}
    for key, value in state.items():
        for prefix in ("module.", "generator."):
            if key.startswith(prefix):
                key = key[len(prefix):]
        if isinstance(value, torch.Tensor):
            cleaned[key] = value
    if not cleaned:
        raise WeightsError(f"{source} has a 'generator' entry without tensors; {CHECKPOINT_HELP}")
    return cleaned


def check_checkpoint_path(path: str | Path | None) -> Path:
    """The checkpoint path, or :class:`WeightsError` saying where to get it (None) or that it is missing."""
    if path is None:
        raise WeightsError(CHECKPOINT_HELP)
    if not Path(path).is_file():
        raise WeightsError(f"checkpoint {str(path)!r} does not exist. {CHECKPOINT_HELP}")
    return Path(path)


def load_generator(path: str | Path | None, config: MetaPortraitConfig | None = None,
                   device: str | torch.device = "cpu", strict: bool = True) -> MetaPortraitGenerator:
    """Build the generator and load ``path`` (``.pth.tar`` or converted ``.safetensors``) strictly, eval mode.

    Raises:
        WeightsError: no path, missing/unsafe file. CheckpointMismatchError: keys or shapes differ.
    """
    path = check_checkpoint_path(path)
    state = generator_state(load_checkpoint_file(path), repr(str(path)))
    model = MetaPortraitGenerator(config)
    load_state_dict_strict(model, state, what="MetaPortrait generator", strict=strict)
    return model.eval().to(device)
