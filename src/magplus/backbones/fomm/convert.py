"""``magplus convert-weights fomm CHECKPOINT [CONFIG.yaml] OUT_DIR``: official weights -> safetensors.

Writes ``OUT_DIR/fomm.safetensors`` (keys ``generator.*`` and ``kp_detector.*``; the
``model_params`` JSON in its metadata key ``"config"``) and ``OUT_DIR/fomm.json`` (the config plus
provenance: source file name and SHA-256, key counts). The converted file is checked by building
the model and loading it strictly before anything is written.
"""

from __future__ import annotations

import json
from pathlib import Path

from ...errors import InputError, OutputPathError
from ...io.atomic import atomic_output
from ...weights import file_sha256, load_state_dict_strict, save_safetensors
from .config import build_modules, load_config
from .loading import checkpoint_config, read_checkpoint

__all__ = ["convert"]


def convert(inputs: list[str], out_dir: str) -> list[Path]:
    """Convert a FOMM checkpoint (and optional official YAML config) to safetensors + JSON.

    Args:
        inputs: ``[checkpoint]`` or ``[checkpoint, config.yaml]``.
        out_dir: existing or creatable folder (its parent must exist).

    Returns:
        The paths written: ``[fomm.safetensors, fomm.json]``.

    Raises:
        InputError: wrong number of inputs. WeightsError / CheckpointMismatchError: bad checkpoint.
        OutputPathError: the output folder cannot be used.
    """
    if not 1 <= len(inputs) <= 2:
        raise InputError(f"convert-weights fomm takes CHECKPOINT [CONFIG.yaml], got {len(inputs)} input(s); give vox-cpk.pth.tar and optionally config/vox-256.yaml.")
    checkpoint = Path(inputs[0])
    generator_state, kp_state = read_checkpoint(checkpoint)
    config = load_config(inputs[1] if len(inputs) == 2 else checkpoint_config(checkpoint))
    kp_detector, generator = build_modules(config)
    load_state_dict_strict(kp_detector, kp_state, what="FOMM keypoint detector")
    load_state_dict_strict(generator, generator_state, what="FOMM generator")

    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"output folder {str(folder)!r} is a file; give a folder path.")
    if not folder.parent.is_dir():
        raise OutputPathError(f"parent of output folder {str(folder)!r} does not exist; create it first.")
    folder.mkdir(exist_ok=True)
    weights_path, card_path = folder / "fomm.safetensors", folder / "fomm.json"
    if checkpoint.resolve() in (weights_path.resolve(), card_path.resolve()):
        raise OutputPathError(f"output {str(weights_path)!r} would overwrite the input; choose another folder.")

    state = {f"generator.{k}": v for k, v in generator_state.items()}
    state.update({f"kp_detector.{k}": v for k, v in kp_state.items()})
    save_safetensors(state, weights_path, metadata={"config": json.dumps(config), "format": "magplus-fomm-1"})
    card = {
        "model": "First Order Motion Model (FOMM)",
        "upstream": "https://github.com/AliaksandrSiarohin/first-order-model (MIT)",
        "converted_from": checkpoint.name,
        "source_sha256": file_sha256(checkpoint),
        "num_tensors": {"generator": len(generator_state), "kp_detector": len(kp_state)},
        "model_params": config,
    }
    with atomic_output(card_path) as tmp:
        tmp.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    return [weights_path, card_path]
