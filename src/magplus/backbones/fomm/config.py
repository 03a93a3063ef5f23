"""FOMM model configuration: the official ``config/vox-256.yaml`` ``model_params`` layout.

A config is a plain dict ``{"common_params": ..., "kp_detector_params": ...,
"generator_params": ...}`` (the ``model_params`` block of the official YAML). It can be given as
that dict, as a full official YAML/JSON dict containing ``model_params``, as a path to such a file,
or left out for the built-in vox-256 values.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Mapping

from ...errors import InputError

__all__ = ["VOX_256", "load_config", "build_modules"]

#: ``model_params`` of the official ``config/vox-256.yaml`` (the config of ``vox-cpk.pth.tar``).
VOX_256: dict[str, Any] = {
    "common_params": {"num_kp": 10, "num_channels": 3, "estimate_jacobian": True},
    "kp_detector_params": {"temperature": 0.1, "block_expansion": 32, "max_features": 1024,
                           "scale_factor": 0.25, "num_blocks": 5},
    "generator_params": {"block_expansion": 64, "max_features": 512, "num_down_blocks": 2,
                         "num_bottleneck_blocks": 6, "estimate_occlusion_map": True,
                         "dense_motion_params": {"block_expansion": 64, "max_features": 1024,
                                                 "num_blocks": 5, "scale_factor": 0.25}},
}

_SECTIONS = ("common_params", "kp_detector_params", "generator_params")


def _read_file(path: Path) -> Any:
    if not path.is_file():
        raise InputError(f"FOMM config {str(path)!r} does not exist; give the official config/vox-256.yaml or omit it for vox-256.")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"FOMM config {str(path)!r} is not valid YAML ({exc}); give the official config file.") from exc


def load_config(config: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Normalise a FOMM config to its ``model_params`` dict.

    Args:
        config: None (vox-256), a ``model_params`` dict, a dict with ``model_params``
            (official YAML or a magplus JSON), or a path to a ``.yaml``/``.yml``/``.json`` file.

    Returns:
        A fresh ``model_params`` dict with the three sections.

    Raises:
        InputError: missing file, bad YAML, or a section missing.
    """
    if config is None:
        return copy.deepcopy(VOX_256)
    data = _read_file(Path(config)) if isinstance(config, (str, os.PathLike)) else config
    if not isinstance(data, Mapping):
        raise InputError(f"FOMM config must be a mapping with model_params, got {type(data).__name__}.")
    params = data.get("model_params", data)
    missing = [s for s in _SECTIONS if not isinstance(params.get(s), Mapping)]
    if missing:
        raise InputError(
            f"FOMM config lacks {', '.join(missing)} under model_params; use the official config/vox-256.yaml layout."
        )
    return {s: copy.deepcopy(dict(params[s])) for s in _SECTIONS}


def build_modules(config: str | os.PathLike[str] | Mapping[str, Any] | None = None, align_corners: bool = False):
    """Instantiate ``(kp_detector, generator)`` from a config, in eval mode, as the official demo does.

    Raises:
        InputError: a parameter the modules do not accept.
    """
    from .generator import OcclusionAwareGenerator
    from .keypoint_detector import KPDetector

    params = load_config(config)
    common = params["common_params"]
    try:
        kp_detector = KPDetector(**params["kp_detector_params"], **common)
        generator = OcclusionAwareGenerator(**params["generator_params"], **common, align_corners=align_corners)
    except TypeError as exc:
        raise InputError(f"FOMM config has a parameter the model does not take ({exc}); check it against config/vox-256.yaml.") from exc
    return kp_detector.eval(), generator.eval()
