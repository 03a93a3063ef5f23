"""Convert the published FSRT checkpoints to ``.safetensors`` (no pickle needed afterwards).

``magplus convert-weights fsrt kp_detector.pt vox256.pt OUT_DIR`` writes
``OUT_DIR/kp_detector.safetensors`` (a bare state dict) and ``OUT_DIR/vox256.safetensors``
(keys ``"<module>.<key>"`` for encoder, decoder and expression_encoder; training state is
dropped). Both load with :class:`magplus.backbones.fsrt.FSRTBackbone` like the originals.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from ...errors import InputError, OutputPathError
from ...weights import load_checkpoint_file, save_safetensors
from .config import resolve_config
from .loading import read_kp_checkpoint, split_model_state
from .model import VOX_MODULES


def _is_model_checkpoint(data: Mapping[str, Any]) -> bool:
    return any(isinstance(data.get(name), Mapping) for name in VOX_MODULES) or any(
        key.startswith(tuple(name + "." for name in VOX_MODULES)) for key in data)


def convert(inputs: list[str], out_dir: str) -> list[Path]:
    """Convert FSRT checkpoints to safetensors.

    Args:
        inputs: paths of ``kp_detector.pt`` and/or ``vox256.pt`` (any order; recognised by content).
        out_dir: folder to write ``<input stem>.safetensors`` into (created if missing). The
            model file's metadata ``config`` holds the architecture as JSON.

    Returns:
        The written files, in the order of ``inputs``.

    Raises:
        InputError: no inputs, or two files of the same kind. OutputPathError: bad folder, or an
            output would overwrite an input. WeightsError: unreadable or foreign checkpoint.
    """
    if not inputs:
        raise InputError("convert needs the FSRT checkpoint paths (kp_detector.pt and/or vox256.pt); got none.")
    folder = Path(out_dir).expanduser()
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"output {str(folder)!r} is a file; give a folder.")
    plans, kinds = [], []
    for item in inputs:
        path = Path(item).expanduser()
        data = load_checkpoint_file(path)
        if not isinstance(data, Mapping):
            raise InputError(f"{str(path)!r} holds a {type(data).__name__}, not an FSRT checkpoint dict.")
        if _is_model_checkpoint(data):
            kind = "model"
            modules = split_model_state(data, f"checkpoint {str(path)!r}")
            state = {f"{name}.{key}": value for name, sd in modules.items() for key, value in sd.items()}
        else:
            kind, state = "kp_detector", dict(read_kp_checkpoint(data))
        if kind in kinds:
            raise InputError(f"two {kind} checkpoints given ({inputs}); pass one kp_detector.pt and one vox256.pt.")
        kinds.append(kind)
        target = folder / (path.name.split(".")[0] + ".safetensors")
        if target.resolve() == path.resolve():
            raise OutputPathError(f"output {str(target)!r} would overwrite its input; choose another folder.")
        metadata = {"format": "magplus-fsrt", "kind": kind, "source": path.name}
        if kind == "model":
            # The architecture cannot be read from the weights (vox256 and vox256_2Source are the
            # same networks); record the preset the file name implies so loading can restore it.
            metadata["config"] = json.dumps(resolve_config(None, path.name).to_dict())
        plans.append((target, state, metadata))
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for target, state, metadata in plans:
        save_safetensors(state, target, metadata)
        written.append(target)
    return written
