"""LivePortrait behind the :class:`~magplus.backbones.base.AnimationBackbone` interface.

The same outputs as the official per-frame loop (to float32 rounding): the source's keypoints,
appearance volume and the source-only part of the dense-motion network (compressed volume, source
Gaussians) are computed once; driving motion is extracted and frames are rendered in batches under
``torch.inference_mode``. On the CPU this saves per-call overhead, not arithmetic: the 3-D
convolutions dominate, so the official architecture runs at the official loop's speed (measured:
benchmarks/results/backbones.md).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F

from ...errors import InputError, ShapeError
from ...types import check_frames, check_image
from ...weights import load_state_dict_strict
from ..base import AnimationBackbone
from .animate import SourceKeypoints, driving_keypoints
from .config import LivePortraitNetworks
from .convert import read_config_file
from .kinematics import refine_kp_info, rotation_matrix, transform_keypoints
from .loading import read_weights
from .motion import LivePortraitMotion
from .warping import DenseMotionSource

__all__ = ["LivePortraitBackbone", "LivePortraitSource", "PRECISIONS"]

#: Rendering precisions: name -> autocast dtype (None: plain float32). The official code renders
#: under float16 autocast on GPUs by default (``flag_use_half_precision``).
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class LivePortraitSource:
    """Everything about the source that does not depend on the driving frames.

    Attributes:
        keypoints: kinematic info and ``x_s`` (batch 1).
        feature_3d: appearance volume ``(1, C, D, h, w)``.
        dense: source-only inputs of the dense-motion network.
        size: ``(H, W)`` of the source image as given.
    """

    keypoints: SourceKeypoints
    feature_3d: torch.Tensor
    dense: DenseMotionSource
    size: tuple[int, int]


def _check_options(batch_size: Any, driving_multiplier: Any, precision: Any) -> None:
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be an integer >= 1, got {batch_size!r}.")
    if not (isinstance(driving_multiplier, (int, float)) and math.isfinite(driving_multiplier) and driving_multiplier > 0):
        raise InputError(f"driving_multiplier must be a finite number > 0 (1 = off), got {driving_multiplier!r}.")


def size_multiple(config: Mapping[str, Any]) -> int:
    """Input sides must be multiples of this: 32 for the ConvNeXt strides, and the appearance
    downsampling times the 3-D hourglass pooling (128 for the official model)."""
    app = config["appearance_feature_extractor_params"]["num_down_blocks"]
    hourglass = config["warping_module_params"]["dense_motion_params"]["num_blocks"]
    return math.lcm(32, 2 ** (app + hourglass))


class LivePortraitBackbone(AnimationBackbone):
    """LivePortrait (Guo et al. 2024), clean-room re-implementation loading the official weights.

    Args:
        weights_dir: folder of the official ``.pth`` files (or ``liveportrait.safetensors``, or that file).
        weights: the same as ``weights_dir`` (what ``magplus reenact --weights`` passes).
        config: architecture (``model_params`` dict or the path of ``models.yaml``); default: stored with
            converted weights, else the official one.
        device: torch device.
        relative: relative motion (official default) rather than absolute pose and expression.
        stitching: apply the stitching MLP (official default on; needs the stitching file).
        expression_friendly: the official ``driving_option="expression-friendly"`` hull-volume multiplier.
        driving_multiplier: the official plain motion scale ``x_s + k (x_d − x_s)`` (1 = off).
        input_size: side the networks see (frames are resized to it; 256 as upstream); None: as given.
        native_output: return the decoder's own resolution (2x the input with the official config)
            instead of resizing the result to the source image's size.
        batch_size: frames per forward pass.
        precision: ``"float32"`` (exact), or ``"bfloat16"`` / ``"float16"``: warping and decoding under
            autocast (approximate; motion stays float32). float16 is for GPUs (the official default
            there): CPUs without float16 convolution kernels fall back to a path ~400x slower.
        strict: refuse weights with missing or unexpected keys.
    """

    name = "liveportrait"
    resolution = 256
    needs_weights = True
    motion_scalable = True

    def __init__(self, weights_dir: str | os.PathLike[str] | None = None, weights: str | os.PathLike[str] | None = None,
                 config: Mapping[str, Any] | None = None, device: str | torch.device = "cpu", relative: bool = True,
                 stitching: bool = True, expression_friendly: bool = True, driving_multiplier: float = 1.0,
                 input_size: int | None = 256, native_output: bool = False, batch_size: int = 4,
                 precision: str = "float32", strict: bool = True):
        if weights_dir is not None and weights is not None and os.fspath(weights_dir) != os.fspath(weights):
            raise InputError(f"give the LivePortrait weights once: weights_dir={weights_dir!r} and weights={weights!r} differ.")
        _check_options(batch_size, driving_multiplier, precision)  # before the (slow) weights are read
        states, stored = read_weights(weights_dir if weights_dir is not None else weights, with_mlps=stitching)
        if isinstance(config, (str, os.PathLike)):
            config = read_config_file(os.fspath(config))
        networks = LivePortraitNetworks(config if config is not None else stored, with_mlps=stitching)
        for name in networks.names():
            load_state_dict_strict(getattr(networks, name), states.get(name, {}), what=f"LivePortrait {name}", strict=strict)
        self._setup(networks, device, relative, stitching, expression_friendly, driving_multiplier, input_size,
                    native_output, batch_size, precision)

    @classmethod
    def from_networks(cls, networks: LivePortraitNetworks, **options: Any) -> "LivePortraitBackbone":
        """Wrap already-loaded networks (tests, golden vectors, benchmarks); ``options`` as the constructor's."""
        self = cls.__new__(cls)
        defaults = dict(device="cpu", relative=True, stitching=networks.stitching is not None, expression_friendly=True,
                        driving_multiplier=1.0, input_size=256, native_output=False, batch_size=4, precision="float32")
        unknown = set(options) - set(defaults)
        if unknown:
            raise InputError(f"LivePortraitBackbone.from_networks got unknown option(s) {sorted(unknown)}; allowed: {sorted(defaults)}.")
        defaults.update(options)
        self._setup(networks, **defaults)
        return self

    def _setup(self, networks, device, relative, stitching, expression_friendly, driving_multiplier, input_size,
               native_output, batch_size, precision) -> None:
        _check_options(batch_size, driving_multiplier, precision)
        multiple = size_multiple(networks.config)
        if input_size is not None and (not isinstance(input_size, int) or input_size < multiple or input_size % multiple):
            raise InputError(f"input_size must be a multiple of {multiple} (e.g. 256) or None, got {input_size!r}.")
        if stitching and networks.stitching is None:
            raise InputError("stitching=True needs the stitching MLP; load stitching_retargeting_module.pth.")
        self.networks = networks.eval()
        for parameter in self.networks.parameters():
            parameter.requires_grad_(False)
        self.relative, self.stitching, self.expression_friendly = bool(relative), bool(stitching), bool(expression_friendly)
        self.driving_multiplier = float(driving_multiplier)
        self.input_size, self.native_output, self.batch_size = input_size, bool(native_output), batch_size
        self.precision = precision
        self.device = torch.device("cpu")
        self.to(device)

    def to(self, device: str | torch.device) -> "LivePortraitBackbone":
        self.device = torch.device(device)
        self.networks.to(self.device)
        return self

    def _network_input(self, frames: torch.Tensor, name: str) -> torch.Tensor:
        """``(T, 3, H, W)`` on the device, resized to ``input_size`` (antialiased when shrinking)."""
        frames = frames.to(self.device, torch.float32)
        size = self.input_size
        if size is None:
            multiple = size_multiple(self.networks.config)
            if frames.shape[-1] % multiple or frames.shape[-2] % multiple:
                raise ShapeError(f"{name} is {tuple(frames.shape[-2:])}; LivePortrait needs sides divisible by "
                                 f"{multiple} (or set input_size, e.g. 256).")
            return frames
        if frames.shape[-2:] == (size, size):
            return frames
        shrink = max(frames.shape[-2:]) > size
        return F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink).clamp(0, 1)

    @torch.inference_mode()
    def prepare_source(self, source_img: torch.Tensor) -> LivePortraitSource:
        """Encode the source once. ``source_img``: ``(3, H, W)`` in [0, 1]."""
        check_image(source_img, "source_img")
        image = self._network_input(source_img[None], "source_img")
        info = refine_kp_info(self.networks.motion_extractor(image))
        rotation = rotation_matrix(info["pitch"], info["yaw"], info["roll"])
        x_s = transform_keypoints(info["kp"], rotation, info["exp"], info["scale"], info["t"])
        keypoints = SourceKeypoints(info["kp"], info["exp"], rotation, info["scale"], info["t"], x_s)
        feature_3d = self.networks.appearance_feature_extractor(image)
        dense = self.networks.warping_module.dense_motion_network.prepare_source(feature_3d, x_s)
        return LivePortraitSource(keypoints, feature_3d, dense, tuple(source_img.shape[-2:]))

    @torch.inference_mode()
    def extract_motion(self, frames: torch.Tensor) -> LivePortraitMotion:
        """Absolute motion of driving frames ``(T, 3, H, W)`` in [0, 1], batch by batch."""
        check_frames(frames, "frames")
        parts = []
        for start in range(0, frames.shape[0], self.batch_size):
            batch = self._network_input(frames[start:start + self.batch_size], "frames")
            info = refine_kp_info(self.networks.motion_extractor(batch))
            parts.append(LivePortraitMotion(kp=info["kp"], rotation=rotation_matrix(info["pitch"], info["yaw"], info["roll"]),
                                            exp=info["exp"], scale=info["scale"], translation=info["t"]))
        return LivePortraitMotion.concat(parts)

    def keypoints(self, source: LivePortraitSource, motion: LivePortraitMotion, reference: LivePortraitMotion | None = None,
                  relative: bool | None = None) -> torch.Tensor:
        """Driving keypoints ``(T, K, 3)`` for ``source`` (composition, multiplier, stitching, driving multiplier)."""
        relative = self.relative if relative is None else bool(relative)
        motion = motion.to(self.device)
        if reference is None and not motion.relative:
            reference = motion.reference(0)
        with torch.inference_mode():
            return driving_keypoints(source.keypoints, motion, None if reference is None else reference.to(self.device),
                                     relative=relative, expression_friendly=self.expression_friendly,
                                     stitching=self.networks.stitching if self.stitching else None,
                                     driving_multiplier=self.driving_multiplier)

    @torch.inference_mode()
    def render(self, source: LivePortraitSource, motion: LivePortraitMotion, reference: LivePortraitMotion | None = None,
               relative: bool | None = None, progress: Callable[[int], None] | None = None) -> torch.Tensor:
        """Render one frame per motion frame.

        Args:
            source: from :meth:`prepare_source`.
            motion: from :meth:`extract_motion` (absolute), possibly rescaled with
                :func:`~magplus.backbones.motion.scale_motion`, or a relative motion.
            reference: one-frame absolute motion of the reference driving frame; default frame 0.
            relative: default: the backbone's ``relative`` setting.
            progress: called with the number of frames finished after each batch.

        Returns:
            ``(T, 3, H, W)`` float32 in [0, 1] on the CPU (the source's size unless ``native_output``).
        """
        if not isinstance(source, LivePortraitSource) or not isinstance(motion, LivePortraitMotion):
            raise InputError("render needs the results of prepare_source and extract_motion of LivePortraitBackbone, got "
                             f"{type(source).__name__} and {type(motion).__name__}.")
        keypoints = self.keypoints(source, motion, reference, relative)
        dtype = PRECISIONS[self.precision]
        autocast = torch.autocast(self.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)
        frames = []
        for start in range(0, keypoints.shape[0], self.batch_size):
            with autocast:
                warped = self.networks.warping_module(source.feature_3d, keypoints[start:start + self.batch_size],
                                                      source=source.dense)
                image = self.networks.spade_generator(warped["out"]).float()
            if not self.native_output and tuple(image.shape[-2:]) != source.size:
                image = F.interpolate(image, size=source.size, mode="bilinear", align_corners=False,
                                      antialias=image.shape[-1] > source.size[-1]).clamp(0, 1)
            frames.append(image.float().cpu())
            if progress is not None:
                progress(image.shape[0])
        return torch.cat(frames)
