"""``magplus convert-weights liveportrait WEIGHTS_DIR [models.yaml] OUT_DIR``: the official ``.pth`` files -> one safetensors.

Writes ``OUT_DIR/liveportrait.safetensors`` (keys ``<network>.<key>`` for the seven networks, the
architecture as JSON in the metadata key ``"config"``) and ``OUT_DIR/liveportrait.json`` (config
plus provenance: the source files' names and SHA-256, tensor counts). Every network is built and
loaded strictly before anything is written.
"""

from __future__ import annotations

import json
from pathlib import Path

from ...errors import InputError, OutputPathError
from ...io.atomic import atomic_output
from ...weights import file_sha256, load_state_dict_strict, save_safetensors
from .config import LivePortraitNetworks
from .loading import BASE_FILES, CONVERTED_FILE, STITCHING_FILE, find_file, read_weights

__all__ = ["convert"]


def read_config_file(path: str) -> dict:
    """Architecture from the official ``models.yaml`` (or a JSON file of the same layout)."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise InputError(f"LivePortrait config {path!r} does not exist; give src/config/models.yaml or omit it.")
    data = yaml.safe_load(file.read_text(encoding="utf-8"))  # JSON is YAML too
    if not isinstance(data, dict):
        raise InputError(f"LivePortrait config {path!r} is not a mapping; give src/config/models.yaml.")
    return data


def convert(inputs: list[str], out_dir: str) -> list[Path]:
    """Convert the official LivePortrait folder to safetensors + JSON.

    Args:
        inputs: ``[weights_dir]`` or ``[weights_dir, config]``: the folder with the five official
            ``.pth`` files (or their ``base_models/`` and ``retargeting_models/`` sub-folders), and
            optionally the architecture (official ``models.yaml`` or a JSON of its ``model_params``;
            default: the official human model).
        out_dir: existing or creatable folder (its parent must exist).

    Returns:
        ``[liveportrait.safetensors, liveportrait.json]``.

    Raises:
        InputError: not exactly one input folder. WeightsError / CheckpointMismatchError: bad weights.
        OutputPathError: the output folder cannot be used or would overwrite an input.
    """
    if not 1 <= len(inputs) <= 2:
        raise InputError(f"convert-weights liveportrait takes WEIGHTS_DIR (the folder of the five official .pth "
                         f"files) and optionally models.yaml, got {len(inputs)} input(s): {inputs}.")
    if not Path(inputs[0]).is_dir():
        raise InputError(f"WEIGHTS_DIR {inputs[0]!r} is not a folder; give the folder of the five official .pth files.")
    source = Path(inputs[0])
    states, _ = read_weights(source)
    networks = LivePortraitNetworks(read_config_file(inputs[1]) if len(inputs) == 2 else None)
    for name in networks.names():
        load_state_dict_strict(getattr(networks, name), states[name], what=f"LivePortrait {name}")

    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"output folder {str(folder)!r} is a file; give a folder path.")
    if not folder.parent.is_dir():
        raise OutputPathError(f"parent of output folder {str(folder)!r} does not exist; create it first.")
    weights_path, card_path = folder / CONVERTED_FILE, folder / "liveportrait.json"
    files = [find_file(source, name) for name in (*BASE_FILES.values(), STITCHING_FILE)]
    if any(path is not None and path.resolve() in (weights_path.resolve(), card_path.resolve()) for path in files):
        raise OutputPathError(f"output {str(weights_path)!r} would overwrite an input; choose another folder.")
    folder.mkdir(exist_ok=True)
    flat = {f"{name}.{key}": value for name, state in states.items() for key, value in state.items()}
    save_safetensors(flat, weights_path, metadata={"config": json.dumps(networks.config), "format": "magplus-liveportrait-1"})
    card = {
        "model": "LivePortrait (human)",
        "upstream": "https://github.com/KwaiVGI/LivePortrait (MIT)",
        "converted_from": {path.name: file_sha256(path) for path in files if path is not None},
        "num_tensors": {name: len(state) for name, state in states.items()},
        "model_params": networks.config,
    }
    with atomic_output(card_path) as tmp:
        tmp.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    return [weights_path, card_path]
