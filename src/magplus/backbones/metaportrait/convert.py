"""``magplus convert-weights metaportrait``: official ``ckpt_base.pth.tar`` -> generator ``.safetensors``.

The result holds only the generator state dict (the optimiser and discriminator are dropped),
checked key by key against the re-implementation before it is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ...errors import CheckpointMismatchError, InputError, OutputPathError
from ...weights import compare_state_dict, load_checkpoint_file, save_safetensors
from .checkpoint import CHECKPOINT_HELP, generator_state
from .generator import MetaPortraitConfig, MetaPortraitGenerator


def convert(inputs: list[str], out_dir: str) -> list[Path]:
    """Convert each official checkpoint in ``inputs`` to ``<out_dir>/<stem>_generator.safetensors``.

    An input ending in ``.yaml``/``.yml`` is read as the official config (its widths are checked
    and stored in the metadata); otherwise the official ``meta_portrait_256_eval`` widths are used.

    Raises:
        InputError: no input. OutputPathError: ``out_dir`` is not a folder or would overwrite an input.
        WeightsError / CheckpointMismatchError: unreadable file or keys that do not match the model.
    """
    configs = [name for name in inputs if str(name).endswith((".yaml", ".yml"))]
    inputs = [name for name in inputs if name not in configs]
    config = MetaPortraitConfig.from_yaml_file(configs[-1]) if configs else MetaPortraitConfig()
    if not inputs:
        raise InputError(f"convert-weights metaportrait needs at least one input; {CHECKPOINT_HELP}")
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"output folder {str(folder)!r} is a file; pass a folder.")
    folder.mkdir(parents=True, exist_ok=True)
    with torch.device("meta"):
        reference = MetaPortraitGenerator(config)
    written = []
    for name in inputs:
        source = Path(name)
        target = folder / f"{source.name.split('.')[0]}_generator.safetensors"
        if target.resolve() == source.resolve():
            raise OutputPathError(f"output {str(target)!r} would overwrite the input; choose another folder.")
        state = generator_state(load_checkpoint_file(source), repr(str(source)))
        report = compare_state_dict(reference, state)
        if not report.ok:
            raise CheckpointMismatchError(
                f"{str(source)!r} does not match the MetaPortrait base generator: {report.summary()}.", report)
        meta = {"model": "MetaPortrait base generator (meta_portrait_256_eval)", "source_file": source.name,
                "config": json.dumps(config.to_dict())}
        save_safetensors(state, target, metadata=meta)
        written.append(target)
    return written
