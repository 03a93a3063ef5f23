"""FSRT as a magplus :class:`AnimationBackbone` (official vox256 checkpoints required)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ...errors import InputError, ShapeError
from ...runtime import torch_device
from ...types import check_frames, check_shape
from ..base import AnimationBackbone
from ..motion import Motion, unit_shift
from .config import FSRTConfig, resolve_config
from .loading import (CheckpointLike, missing_weights_error, read_kp_checkpoint, read_model_checkpoint,
                      stored_config)
from .model import FSRTModel, SourceEncoding
from .motion import best_reference_frame, relative_keypoints


#: Decoder precisions: name -> autocast dtype (None: plain float32).
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}
#: Driving frames passed through the keypoint detector at once.
MOTION_BATCH = 16


@dataclass
class FSRTMotion(Motion):
    """Motion of driving frames: keypoints ``(T, K, 2)`` in [-1, 1] and expression vectors ``(T, E)``.

    As a :class:`~magplus.backbones.motion.Motion`, a change from a reference frame is the keypoint
    displacement and the expression-vector difference, both scaled linearly.
    """

    keypoints: torch.Tensor
    expression: torch.Tensor
    relative: bool = False

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    def __getitem__(self, index: int) -> "FSRTMotion":
        """The motion of one frame (kept as a length-1 sequence)."""
        return self.select(slice(index, index + 1))

    def select(self, index):
        return FSRTMotion(self.keypoints[index], self.expression[index], self.relative)

    def relative_to(self, reference):
        self._check_reference(reference)
        return FSRTMotion(self.keypoints - reference.keypoints, self.expression - reference.expression, True)

    def scaled(self, k):
        if not self.relative:
            raise InputError("scaled() needs a relative motion: call relative_to(reference) first.")
        return FSRTMotion(self.keypoints * k, self.expression * k, True)

    def applied_to(self, reference):
        self._check_reference(reference)
        if not self.relative:
            raise InputError("applied_to() needs a relative motion.")
        return FSRTMotion(reference.keypoints + self.keypoints, reference.expression + self.expression, False)

    def translated(self, shift, size):
        # Keypoints in [-1, 1]; the expression vector describes the face, not where it is.
        step = torch.as_tensor(unit_shift(shift, len(self), size), dtype=self.keypoints.dtype)
        return FSRTMotion(self.keypoints + step.to(self.keypoints.device)[:, None, :], self.expression, self.relative)

    def coordinates(self):
        if not self.relative:
            raise InputError("coordinates() needs a relative motion: call relative_to(reference) first.")
        flat = torch.cat([self.keypoints.reshape(len(self), -1), self.expression.reshape(len(self), -1)], 1)
        return flat.detach().cpu().double().numpy()


def _check_square(image: torch.Tensor, name: str) -> None:
    if image.shape[-1] != image.shape[-2]:
        raise ShapeError(f"{name} must be square (FSRT works on square face crops), got {tuple(image.shape[-2:])}; crop it first.")


class FSRTBackbone(AnimationBackbone):
    """Facial Scene Representation Transformer (Rochow et al., CVPR 2024), clean-room re-implementation.

    Args:
        checkpoint: ``vox256.pt`` (or ``vox256_2Source.pt``, or their ``.safetensors``
            conversion, or an in-memory ``{"encoder", "decoder", "expression_encoder"}`` dict).
        kp_checkpoint: ``kp_detector.pt`` (path, ``.safetensors`` or state dict).
        config: :class:`FSRTConfig`, a dict of its fields, ``"vox256"`` / ``"vox256_2source"``,
            or None (the config stored by ``convert-weights``, else chosen from the file name).
        device: torch device.
        chunk_size: query pixels decoded at once; bounds memory (the result does not depend on it).
        render_size: decode on a coarser ``render_size`` x ``render_size`` pixel grid and upsample
            bilinearly to the source size (about (size/render_size)^2 times faster; approximate).
            None decodes every pixel, as upstream.
        relative: default motion mode: keypoints relative to a reference driving frame.
        find_best_frame: use the driving frame whose MediaPipe face shape best matches the source
            as the reference (the official ``--find_best_frame``); needs MediaPipe.
        precision: ``"float32"`` (exact) or ``"bfloat16"``: decode under bfloat16 autocast, about
            2-3x faster on CPUs with AVX512-BF16/AMX and on GPUs, approximate (about 1e-2 on [0, 1] images).
        adapt_scale: scale relative motion by the keypoint-hull size ratio (official ``--adapt_scale``,
            used in the official README command).
        strict: strict checkpoint loading (any missing/unexpected/wrong-shape key raises).
        show_progress: show a tqdm bar while rendering.

    Raises:
        WeightsError: a checkpoint is missing or unreadable. CheckpointMismatchError: keys differ.
    """

    name = "fsrt"
    resolution = 256
    needs_weights = True
    motion_scalable = True

    def __init__(self, checkpoint: CheckpointLike | None = None, kp_checkpoint: CheckpointLike | None = None,
                 config: FSRTConfig | Mapping[str, Any] | str | None = None, device: str | torch.device = "cpu",
                 chunk_size: int | None = 8192, render_size: int | None = None, relative: bool = True,
                 find_best_frame: bool = False, precision: str = "float32", adapt_scale: bool = True,
                 strict: bool = True, show_progress: bool = True):
        if checkpoint is None or kp_checkpoint is None:
            raise missing_weights_error("the model checkpoint" if checkpoint is None else "the keypoint-detector checkpoint")
        if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
            raise InputError(f"chunk_size must be a positive integer or None, got {chunk_size!r}.")
        if render_size is not None and (not isinstance(render_size, int) or render_size < 8):
            raise InputError(f"render_size must be an integer >= 8 or None, got {render_size!r}.")
        if precision not in PRECISIONS:
            raise InputError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}.")
        name = os.fspath(checkpoint) if isinstance(checkpoint, (str, os.PathLike)) else ""
        self.config = resolve_config(config if config is not None else stored_config(checkpoint), os.path.basename(name))
        self.model = FSRTModel(self.config).eval()
        self.load_reports = self.model.load_official(read_kp_checkpoint(kp_checkpoint),
                                                     read_model_checkpoint(checkpoint), strict=strict)
        self.device = torch_device(device)
        self.model.to(self.device)
        self.chunk_size, self.render_size = chunk_size, render_size
        self.relative, self.find_best_frame, self.adapt_scale = relative, find_best_frame, adapt_scale
        self.show_progress, self.precision = show_progress, precision

    def to(self, device: str | torch.device) -> "FSRTBackbone":
        self.device = torch_device(device)
        self.model.to(self.device)
        return self

    def prepare_source(self, source_img: torch.Tensor) -> SourceEncoding:
        """Encode the source face once: ``(3, H, W)``, or ``(N, 3, H, W)`` for several sources."""
        images = source_img[None] if source_img.ndim == 3 else source_img
        check_frames(images, "source_img")
        _check_square(images, "source_img")
        with torch.inference_mode():
            return self.model.encode_source(images.to(self.device, torch.float32))

    def extract_motion(self, frames: torch.Tensor) -> FSRTMotion:
        """Keypoints and expression vectors of driving frames ``(T, 3, H, W)``."""
        check_frames(frames, "frames")
        _check_square(frames, "frames")
        keypoints, expression = [], []
        with torch.inference_mode():
            # Batches of frames keep the hourglass activations bounded on long clips.
            for batch in frames.split(MOTION_BATCH):
                kp, ex = self.model.keypoints_and_expression(batch.to(self.device, torch.float32))
                keypoints.append(kp)
                expression.append(ex)
        return FSRTMotion(torch.cat(keypoints), torch.cat(expression))

    def target_keypoints(self, source: SourceEncoding, motion: FSRTMotion, reference: FSRTMotion | None,
                         relative: bool) -> torch.Tensor:
        """Keypoints ``(T, K, 2)`` to render: driving ones, or source + driving motion since ``reference``."""
        if not relative:
            return motion.keypoints
        reference = reference if reference is not None else motion[0]
        check_shape(reference.keypoints, [1, self.config.num_kp, 2], "reference.keypoints")
        return relative_keypoints(source.keypoints[0], motion.keypoints, reference.keypoints[0], self.adapt_scale)

    def render(self, source: SourceEncoding, motion: FSRTMotion, reference: FSRTMotion | None = None,
               relative: bool | None = None, progress: Callable[[int], None] | None = None) -> torch.Tensor:
        """Render frames ``(T, 3, H, W)`` in [0, 1] (decoder output clamped, as the official demo does).

        ``relative=None`` uses the constructor's setting; expression vectors always come from the
        driving frames.
        """
        if not isinstance(source, SourceEncoding) or not isinstance(motion, FSRTMotion):
            raise InputError("render needs the results of prepare_source and extract_motion of this backbone.")
        relative = self.relative if relative is None else relative
        keypoints = self.target_keypoints(source, motion, reference, relative)
        grid = (self.render_size, self.render_size) if self.render_size else source.size
        frames = []
        dtype = PRECISIONS[self.precision]
        autocast = torch.autocast(self.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)
        with torch.inference_mode(), autocast:
            for index in tqdm(range(len(motion)), desc="FSRT", unit="frame", leave=False,
                              disable=not self.show_progress or None):
                rgb = self.model.decode(source, keypoints[index], motion.expression[index], grid, self.chunk_size).float()
                if grid != source.size:
                    rgb = F.interpolate(rgb[None], size=source.size, mode="bilinear", align_corners=False)[0]
                frames.append(rgb.clamp(0.0, 1.0))
                if progress is not None:
                    progress(1)
        return torch.stack(frames).cpu()

    def animate(self, source_img: torch.Tensor, driving_frames: torch.Tensor, relative: bool | None = None,
                progress: Callable[[int], None] | None = None) -> torch.Tensor:
        """Animate ``source_img`` ``(3, H, W)`` with ``driving_frames`` ``(T, 3, H, W)`` -> ``(T, 3, H, W)``.

        With ``find_best_frame`` (and relative motion) the reference is the driving frame that best
        matches the source's face shape instead of the first frame.
        """
        relative = self.relative if relative is None else relative
        source = self.prepare_source(source_img)
        motion = self.extract_motion(driving_frames)
        reference = None
        if relative and self.find_best_frame:
            from ...face.landmarks import detect_landmarks, detect_landmarks_batch

            first_source = source_img if source_img.ndim == 3 else source_img[0]
            index = best_reference_frame(detect_landmarks(first_source), detect_landmarks_batch(driving_frames))
            reference = motion[index]
        return self.render(source, motion, reference, relative=relative, progress=progress)
