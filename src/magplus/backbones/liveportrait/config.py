"""LivePortrait architecture config (the official ``src/config/models.yaml`` human model) and builders.

A config is a dict with the official ``*_params`` sections. Two widths that the official code
hard-codes are explicit here with the official values as defaults: the motion extractor's ConvNeXt
``depths``/``dims`` (tiny) and the decoder's ``out_channels`` (64). The golden miniature case sets
smaller values through the same keys.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

import torch
from torch import nn

from ...errors import InputError
from .appearance import AppearanceFeatureExtractor
from .decoder import SPADEDecoder
from .motion_extractor import TINY_DEPTHS, TINY_DIMS, MotionExtractor
from .stitching import StitchingRetargetingNetwork
from .warping import WarpingNetwork

#: The five official networks, by state-dict name (the three MLPs share one checkpoint file).
BASE_NETWORKS = ("appearance_feature_extractor", "motion_extractor", "warping_module", "spade_generator")
MLP_NETWORKS = ("stitching", "lip", "eye")

#: ``models.yaml`` ``model_params`` of the human model, with the hard-coded widths made explicit.
FULL_CONFIG: dict[str, Any] = {
    "appearance_feature_extractor_params": {"image_channel": 3, "block_expansion": 64, "num_down_blocks": 2,
                                            "max_features": 512, "reshape_channel": 32, "reshape_depth": 16,
                                            "num_resblocks": 6},
    "motion_extractor_params": {"num_kp": 21, "backbone": "convnextv2_tiny", "depths": list(TINY_DEPTHS),
                                "dims": list(TINY_DIMS), "num_bins": 66},
    "warping_module_params": {"num_kp": 21, "block_expansion": 64, "max_features": 512, "num_down_blocks": 2,
                              "reshape_channel": 32, "estimate_occlusion_map": True,
                              "dense_motion_params": {"block_expansion": 32, "max_features": 1024, "num_blocks": 5,
                                                      "reshape_depth": 16, "compress": 4}},
    "spade_generator_params": {"upscale": 2, "block_expansion": 64, "max_features": 512, "num_down_blocks": 2,
                               "out_channels": 64},
    "stitching_retargeting_module_params": {
        "stitching": {"input_size": 126, "hidden_sizes": [128, 128, 64], "output_size": 65},
        "lip": {"input_size": 65, "hidden_sizes": [128, 128, 64], "output_size": 63},
        "eye": {"input_size": 66, "hidden_sizes": [256, 256, 128, 128, 64], "output_size": 63},
    },
}

_SECTIONS = ("appearance_feature_extractor_params", "motion_extractor_params", "warping_module_params",
             "spade_generator_params", "stitching_retargeting_module_params")


def resolve_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """A full config: ``None`` gives :data:`FULL_CONFIG`; a dict (``model_params`` or the whole YAML
    with a ``model_params`` key) must have the five sections; missing hard-coded widths get the official values.

    Raises:
        InputError: a section is missing, or the appearance volume does not fit ``max_features``.
    """
    if config is None:
        return copy.deepcopy(FULL_CONFIG)
    if not isinstance(config, Mapping):
        raise InputError(f"config must be a dict of LivePortrait model_params, got a {type(config).__name__}.")
    config = config.get("model_params", config)
    missing = [s for s in _SECTIONS if s not in config]
    if missing:
        raise InputError(f"LivePortrait config lacks {missing}; give the model_params of src/config/models.yaml.")
    out = copy.deepcopy(dict(config))
    motion = out["motion_extractor_params"]
    motion.setdefault("depths", list(TINY_DEPTHS))
    motion.setdefault("dims", list(TINY_DIMS))
    motion.setdefault("num_bins", 66)
    out["spade_generator_params"].setdefault("out_channels", 64)
    app = out["appearance_feature_extractor_params"]
    if app["reshape_channel"] * app["reshape_depth"] != app["max_features"]:
        raise InputError(f"appearance reshape_channel x reshape_depth ({app['reshape_channel']} x {app['reshape_depth']}) "
                         f"must equal max_features ({app['max_features']}).")
    return out


class LivePortraitNetworks(nn.Module):
    """The seven official networks under their official names (state-dict prefix ``<name>.``).

    The three MLPs are None when built without them (``with_mlps=False``: no stitching file).
    """

    def __init__(self, config: Mapping[str, Any] | None = None, with_mlps: bool = True):
        super().__init__()
        self.config = resolve_config(config)
        c = self.config
        self.appearance_feature_extractor = AppearanceFeatureExtractor(**c["appearance_feature_extractor_params"])
        self.motion_extractor = MotionExtractor(**c["motion_extractor_params"])
        self.warping_module = WarpingNetwork(**c["warping_module_params"])
        self.spade_generator = SPADEDecoder(**c["spade_generator_params"])
        mlps = c["stitching_retargeting_module_params"]
        for name in MLP_NETWORKS:
            setattr(self, name, StitchingRetargetingNetwork(**mlps[name]) if with_mlps else None)

    @property
    def num_kp(self) -> int:
        return int(self.config["motion_extractor_params"]["num_kp"])

    def names(self) -> tuple[str, ...]:
        """Names of the networks present."""
        return tuple(n for n in BASE_NETWORKS + MLP_NETWORKS if getattr(self, n) is not None)

    def network_states(self) -> dict[str, dict[str, torch.Tensor]]:
        """``{network name: its state dict}``."""
        return {name: getattr(self, name).state_dict() for name in self.names()}
