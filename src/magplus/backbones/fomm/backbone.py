"""FOMM behind the :class:`~magplus.backbones.base.AnimationBackbone` interface.

Faster than the official demo loop with identical outputs: the source's keypoints, encoder
features, downscaled image and Gaussians are computed once per source; driving keypoints are
detected in batches; frames are generated in batches under ``torch.inference_mode``; and the
full-size "deformed" preview that the official generator computes (and the demo discards) is
skipped.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch

from ...errors import InputError, ShapeError
from ...runtime import torch_device
from ...types import check_frames, check_image
from ...weights import load_state_dict_strict
from ..base import AnimationBackbone
from .animate import find_best_frame as _find_best_frame
from .animate import movement_scale, normalize_kp
from .blocks import kp2gaussian
from .config import build_modules, load_config
from .fast import inference_copy
from .loading import checkpoint_config, read_checkpoint
from .motion import FOMMMotion

__all__ = ["FOMMBackbone", "FOMMSource", "PRECISIONS"]

#: Accepted ``precision`` values: float32 is exact, bfloat16 approximate.
PRECISIONS = ("float32", "bfloat16")

KP = Mapping[str, torch.Tensor]


@dataclass
class FOMMSource:
    """Everything about the source that does not depend on the driving frames.

    Attributes:
        image: ``(1, 3, H, W)`` on the model device.
        kp: ``{"value": (1, K, 2), "jacobian": (1, K, 2, 2)}``.
        features: generator encoder output ``(1, C, H/4, W/4)``.
        small: source at the dense-motion resolution ``(1, 3, h, w)``.
        gaussians: source keypoint Gaussians ``(1, K, h, w)``.
    """

    image: torch.Tensor
    kp: dict[str, torch.Tensor]
    features: torch.Tensor
    small: torch.Tensor
    gaussians: torch.Tensor


def _slice_kp(kp: KP, start: int, stop: int) -> dict[str, torch.Tensor]:
    return {k: v[start:stop] for k, v in kp.items()}


class FOMMBackbone(AnimationBackbone):
    """First Order Motion Model (official ``vox-cpk.pth.tar`` weights, re-implemented modules).

    Args:
        checkpoint: ``vox-cpk.pth.tar``, a plain state dict or a converted ``.safetensors``.
        config: ``model_params`` dict or official YAML path; default: stored with the checkpoint,
            else vox-256.
        device: torch device ("cpu", "cuda", ...).
        align_corners: ``grid_sample`` convention. False (default) is what the official code
            computes on torch >= 1.3 (the golden vectors reproduce it bit for bit); True is the
            torch-1.0 behaviour the model was trained under. FOMM's grids are corner-aligned, so
            only True makes "no motion" an exact identity; False samples a W/(W-1) zoom about the
            centre (+-0.5 px at the borders of the 64x64 warped maps, up to 2 px at 256x256).
            Measured on the golden miniature case: predictions differ by up to 0.45 (mean 0.047).
        relative: relative motion (official demo ``--relative``) rather than absolute keypoints.
        adapt_movement_scale: scale relative motion by the source/driving convex-hull size ratio
            (demo ``--adapt_scale``; batch element 0 only, as upstream).
        find_best_frame: use the driving frame whose face landmarks best match the source as the
            relative-motion reference (demo ``--find_best_frame``; needs MediaPipe).
        batch_size: driving frames per forward pass.
        strict: refuse checkpoints with missing/unexpected keys.
        landmark_fn: landmark detector for ``find_best_frame`` (default MediaPipe face mesh).
        optimise: run inference on copies with BatchNorm folded into the convolutions and
            channels-last weights (:mod:`.fast`; equal to the reference modules up to float32
            rounding, measured <= 1e-6 on the golden case). False runs the reference modules.
        precision: ``"float32"`` (exact) or ``"bfloat16"`` (approximate: dense motion and decoder
            under bfloat16 autocast, keypoints stay float32; see benchmarks/results/backbones.md
            for the measured error).
    """

    name = "fomm"
    resolution = 256
    needs_weights = True
    motion_scalable = True

    def __init__(self, checkpoint: str | os.PathLike[str] | None = None, config: Any = None, device: str | torch.device = "cpu",
                 align_corners: bool = False, relative: bool = True, adapt_movement_scale: bool = True,
                 find_best_frame: bool = False, batch_size: int = 4, strict: bool = True,
                 landmark_fn: Callable[[torch.Tensor], Any] | None = None, optimise: bool = True,
                 precision: str = "float32"):
        generator_state, kp_state = read_checkpoint(checkpoint)
        if config is None:
            config = checkpoint_config(checkpoint)
        self._build(generator_state, kp_state, config, device, align_corners, relative, adapt_movement_scale,
                    find_best_frame, batch_size, strict, landmark_fn, optimise, precision)

    @classmethod
    def from_state_dicts(cls, generator_state: Mapping[str, torch.Tensor], kp_detector_state: Mapping[str, torch.Tensor],
                         config: Any = None, **kwargs: Any) -> "FOMMBackbone":
        """Build from in-memory state dicts (tests, golden vectors); ``kwargs`` as the constructor."""
        self = cls.__new__(cls)
        options = dict(device="cpu", align_corners=False, relative=True, adapt_movement_scale=True,
                       find_best_frame=False, batch_size=4, strict=True, landmark_fn=None, optimise=True,
                       precision="float32")
        unknown = set(kwargs) - set(options)
        if unknown:
            raise InputError(f"FOMMBackbone.from_state_dicts got unknown option(s) {sorted(unknown)}; allowed: {sorted(options)}.")
        options.update(kwargs)
        self._build(generator_state, kp_detector_state, config, **options)
        return self

    def _build(self, generator_state, kp_state, config, device, align_corners, relative, adapt_movement_scale,
               find_best_frame, batch_size, strict, landmark_fn, optimise, precision) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size must be an integer >= 1, got {batch_size!r}.")
        if precision not in PRECISIONS:
            raise InputError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}.")
        self.config = load_config(config)
        self.kp_detector, self.generator = build_modules(self.config, align_corners=bool(align_corners))
        load_state_dict_strict(self.kp_detector, kp_state, what="FOMM keypoint detector", strict=strict)
        load_state_dict_strict(self.generator, generator_state, what="FOMM generator", strict=strict)
        self.relative = bool(relative)
        self.adapt_movement_scale = bool(adapt_movement_scale)
        self.find_best_frame = bool(find_best_frame)
        self.batch_size = batch_size
        self.landmark_fn = landmark_fn
        self.precision = precision
        self._optimise = bool(optimise)
        self._inference: tuple[torch.nn.Module, torch.nn.Module] | None = None
        self.device = torch.device("cpu")
        self.to(device)

    @property
    def optimise(self) -> bool:
        """Whether inference runs on the folded channels-last copies (see :mod:`.fast`)."""
        return self._optimise

    @optimise.setter
    def optimise(self, value: bool) -> None:
        self._optimise = bool(value)
        self._inference = None

    def _modules(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        """``(kp_detector, generator)`` used for inference, built on first use after a change.

        The copies are taken from the reference modules' weights at that moment; after editing
        ``kp_detector``/``generator`` weights in place, set ``optimise`` again to rebuild them.
        """
        if self._inference is None:
            if self._optimise:
                self._inference = (inference_copy(self.kp_detector), inference_copy(self.generator))
            else:
                self._inference = (self.kp_detector, self.generator)
        return self._inference

    def _autocast(self):
        """bfloat16 autocast for the generator when ``precision == "bfloat16"``, else a no-op."""
        enabled = self.precision == "bfloat16"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    @property
    def align_corners(self) -> bool:
        return self.generator.align_corners

    @align_corners.setter
    def align_corners(self, value: bool) -> None:
        self.generator.align_corners = value
        if self._inference is not None:
            self._inference[1].align_corners = value

    def to(self, device: str | torch.device) -> "FOMMBackbone":
        self.device = torch_device(device)
        self.kp_detector.to(self.device)
        self.generator.to(self.device)
        self._inference = None
        return self

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this (128 for vox-256)."""
        kp = self.config["kp_detector_params"]
        gen = self.config["generator_params"]
        dense = gen.get("dense_motion_params") or {"scale_factor": 1, "num_blocks": 0}
        needs = [round(1 / kp.get("scale_factor", 1)) * 2 ** kp["num_blocks"],
                 round(1 / dense.get("scale_factor", 1)) * 2 ** dense["num_blocks"], 2 ** gen["num_down_blocks"]]
        return math.lcm(*needs)

    def _check_size(self, frames: torch.Tensor, name: str) -> None:
        multiple = self.size_multiple
        height, width = frames.shape[-2:]
        if height % multiple or width % multiple:
            raise ShapeError(f"{name} is {height}x{width} but FOMM needs sides divisible by {multiple}; "
                             f"resize face crops to {self.resolution}x{self.resolution}.")

    @torch.inference_mode()
    def detect_keypoints(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """Keypoints of ``frames`` ``(T, 3, H, W)`` in batches: ``value (T, K, 2)``, ``jacobian (T, K, 2, 2)``."""
        kp_detector = self._modules()[0]
        chunks = [kp_detector(frames[i:i + self.batch_size].to(self.device, torch.float32))
                  for i in range(0, frames.shape[0], self.batch_size)]
        return {key: torch.cat([c[key] for c in chunks]) for key in chunks[0]}

    @torch.inference_mode()
    def prepare_source(self, source_img: torch.Tensor) -> FOMMSource:
        """Encode the source once. ``source_img``: ``(3, H, W)`` in [0, 1]."""
        check_image(source_img, "source_img")
        self._check_size(source_img, "source_img")
        image = source_img[None].to(self.device, torch.float32)
        kp_detector, generator = self._modules()
        kp = kp_detector(image)
        dense = generator.dense_motion_network
        small = dense.downscale(image)
        with self._autocast():
            features = generator.encode_source(image)
        return FOMMSource(image=image, kp=kp, features=features, small=small,
                          gaussians=kp2gaussian(kp, small.shape[2:], dense.kp_variance))

    def extract_motion(self, frames: torch.Tensor) -> FOMMMotion:
        """Driving keypoints and Jacobians of ``frames`` ``(T, 3, H, W)`` in [0, 1]."""
        check_frames(frames, "frames")
        self._check_size(frames, "frames")
        return FOMMMotion.from_keypoints(self.detect_keypoints(frames))

    @torch.inference_mode()
    def render(self, source: FOMMSource, motion: KP, reference: KP | None = None, relative: bool | None = None,
               progress: Callable[[int], None] | None = None) -> torch.Tensor:
        """Generate one frame per driving keypoint set.

        Args:
            source: from :meth:`prepare_source`.
            motion: from :meth:`extract_motion` (``value (T, K, 2)``...).
            reference: keypoints of the reference driving frame (batch 1); default frame 0.
            relative: default: the backbone's ``relative`` setting.
            progress: called with the number of frames finished after each batch.

        Returns:
            ``(T, 3, H, W)`` float32 in [0, 1], on the CPU.
        """
        if not isinstance(source, FOMMSource):
            raise InputError(f"source must come from FOMMBackbone.prepare_source, got {type(source).__name__}.")
        relative = self.relative if relative is None else bool(relative)
        motion = {k: v.to(self.device) for k, v in motion.items()}
        reference = _slice_kp(motion, 0, 1) if reference is None else {k: v.to(self.device) for k, v in reference.items()}
        scale = movement_scale(source.kp, reference) if (relative and self.adapt_movement_scale) else 1.0
        generator = self._modules()[1]
        dense = generator.dense_motion_network
        frames = []
        for start in range(0, motion["value"].shape[0], self.batch_size):
            kp_driving = _slice_kp(motion, start, start + self.batch_size)
            kp_norm = normalize_kp(source.kp, kp_driving, reference, scale, relative, relative)
            with self._autocast():
                flow = dense(None, kp_norm, source.kp, small_source=source.small, source_gaussians=source.gaussians)
                frames.append(generator.decode(source.features, flow).float().cpu())
            if progress is not None:
                progress(kp_driving["value"].shape[0])
        return torch.cat(frames)

    def animate(self, source_img: torch.Tensor, driving_frames: torch.Tensor, relative: bool | None = None,
                progress: Callable[[int], None] | None = None) -> torch.Tensor:
        """Animate ``source_img`` ``(3, H, W)`` with ``driving_frames`` ``(T, 3, H, W)`` -> ``(T, 3, H, W)``.

        With ``find_best_frame`` the reference is the driving frame closest to the source in
        normalised landmarks (the official demo animates forwards and backwards from it, which,
        frames being independent, equals using it as the reference for every frame).
        """
        source = self.prepare_source(source_img)
        motion = self.extract_motion(driving_frames)
        reference = None
        if self.find_best_frame:
            best = _find_best_frame(source_img, driving_frames, self.landmark_fn)
            reference = _slice_kp(motion, best, best + 1)
        return self.render(source, motion, reference, relative=relative, progress=progress)
