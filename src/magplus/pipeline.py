"""MagPipeline: magnify the driving micro-expression → frozen backbone → de-magnify.

    driving clip ─crop─► MagPlus (α) ─► backbone motion ─► × 1/α (motion space) ─► render ─► result
                                              └─► render ─► DeMagPlus (1/α, image space) ─► result
                         └──────────── direct transfer (baseline, α = 1)

Symmetry: the magnifier scales *all* motion of the driving clip (expression and head motion
alike) and the de-magnifier divides all of it, so the driving clip's head motion reaches the result
once, at its own strength, and whatever the backbone adds in response to magnified motion (motion
spread beyond the face, apparent rigid motion) shrinks by α with it. De-magnification runs in the
backbone's motion space when the backbone exposes its motion (``motion_scalable``), otherwise in
image space with the paired de-magnifier.

Every stage works on square face crops (fixed box from the onset frame, so no motion is
invented); the result can be pasted back into the full source frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .errors import InputError
from .magnify.alpha import (DEFAULT_ALPHA_MAX, DEFAULT_TARGET_AMPLITUDE, MotionAmplitude, choose_alpha,
                            measure_amplitude, rigid_alpha_limit)
from .registry import create_backbone, create_magnifier
from .types import Clip, check_alpha, check_frames, check_image

#: De-magnifier used with each magnifier when none is given (image-space de-magnification).
DEFAULT_DEMAGNIFIER = {"magplus": "demagplus", "lagrangian": "lagrangian", "eulerian": "eulerian"}
#: Ways of de-magnifying: in the backbone's motion space, or on the generated frames.
DEMAGNIFY_PATHS = ("auto", "motion", "image")


@dataclass
class PipelineResult:
    """Everything a MagPipeline run produced (all frames ``(T, 3, S, S)`` in [0, 1]).

    Attributes:
        result: the final clip (MagPlus–DeMagPlus, or direct transfer when ``magnify=False``).
        direct: direct-transfer baseline (driving → backbone, no magnification), if computed.
        source: source face crop ``(3, S, S)``.
        driving: driving face crops.
        magnified_driving: driving crops magnified by ``alpha``.
        generated_macro: backbone output on the magnified driving clip (before de-magnifying).
        alpha: magnification factor used (1.0 when not magnifying).
        amplitude: measured driving motion (when α was chosen automatically).
        demagnify_path: ``"motion"`` (backbone motion space), ``"image"`` (de-magnifier on the
            generated frames) or ``"none"`` (no magnification).
        motion_gain: motion-space path only: the backbone's measured gain on this clip and the
            scale applied (:class:`~magplus.magnify.motion_space.MotionDemagnification`).
        pasted: ``result`` pasted back into the full source image ``(T, 3, H, W)`` if asked.
        fps: frame rate of the driving clip.
        timings: seconds per stage.
        boxes: face boxes (``"source"``, ``"driving"``) used for cropping.
    """

    result: torch.Tensor
    source: torch.Tensor
    driving: torch.Tensor
    alpha: float
    fps: float
    direct: torch.Tensor | None = None
    magnified_driving: torch.Tensor | None = None
    generated_macro: torch.Tensor | None = None
    amplitude: MotionAmplitude | None = None
    demagnify_path: str = "none"
    motion_gain: Any = None
    pasted: torch.Tensor | None = None
    timings: dict[str, float] = field(default_factory=dict)
    boxes: dict[str, Any] = field(default_factory=dict)


class _Stopwatch:
    def __init__(self, timings: dict[str, float], name: str):
        self.timings, self.name = timings, name

    def __enter__(self):
        self.start = time.perf_counter()

    def __exit__(self, *exc):
        self.timings[self.name] = self.timings.get(self.name, 0.0) + time.perf_counter() - self.start


class MagPipeline:
    """The MagPlus pipeline around a frozen animation backbone.

    Args:
        backbone: registered name (see :func:`magplus.list_backbones`) or an instance.
        magnifier: registered magnifier name or instance (α > 1); it must scale all motion (the
            default Lagrangian does) for the pipeline to be symmetric.
        demagnifier: registered name or instance used with 1/α on the image-space path; defaults
            to the magnifier's pair.
        demagnify: ``"motion"`` (scale the backbone's motion of the magnified clip by 1/α and
            render once), ``"image"`` (render the magnified clip, then de-magnify the frames) or
            ``"auto"``: motion space when the backbone supports it and no de-magnifier was named.
        calibrate_gain: motion-space path: measure the backbone's gain on this clip's magnified
            motion and correct for it (:func:`~magplus.magnify.motion_space.motion_gain`).
        alpha: ``"auto"`` (lift the driving motion to ``target_amplitude``) or a number ≥ 1.
        target_amplitude: macro amplitude in pixels at a 256-px crop for automatic α.
        alpha_max: upper bound of automatic α.
        max_rigid_px: automatic α also keeps α × the clip's rigid (head) motion below this many
            pixels at a 256-px crop, so that the magnified face stays inside the crop.
        resolution: square crop size.
        magnify: False runs the direct-transfer baseline only.
        compute_direct: also render the direct-transfer baseline next to MagPlus.
        keep_macro: motion-space path: also render the backbone's output on the magnified motion
            (``generated_macro``; one more render).
        relative: relative (True) or absolute backbone motion.
        crop: crop faces from the inputs (False: inputs already are aligned face crops).
        crop_margin: face-box enlargement (None: the face module's default).
        face_mask: restrict magnification of the driving clip to its face region (the background
            and hair stay still).
        demagnify_mask: image-space path: restrict de-magnification to the source face too. Off
            by default: the backbone spreads the magnified motion beyond the face oval (jaw, neck,
            hair), and that motion must shrink by 1/α as well.
        paste_back: paste the result back into the full source image.
        backbone_kwargs: arguments for the backbone factory (checkpoints, ...).
        progress: show progress bars.
    """

    def __init__(self, backbone: Any = "landmark-warp", magnifier: Any = "lagrangian", demagnifier: Any = None,
                 demagnify: str = "auto", calibrate_gain: bool = True,
                 alpha: float | str = "auto", target_amplitude: float = DEFAULT_TARGET_AMPLITUDE,
                 alpha_max: float = DEFAULT_ALPHA_MAX, max_rigid_px: float = 24.0, resolution: int = 256,
                 magnify: bool = True, compute_direct: bool = False, keep_macro: bool = False,
                 relative: bool = True, crop: bool = True,
                 crop_margin: float | None = None, face_mask: bool = True, demagnify_mask: bool = False,
                 paste_back: bool = False,
                 backbone_kwargs: dict[str, Any] | None = None, progress: bool = True):
        if alpha != "auto":
            check_alpha(alpha)
            if float(alpha) < 1:
                raise InputError(f"alpha must be 'auto' or >= 1 (the pipeline de-magnifies by 1/alpha itself), got {alpha}.")
        if resolution < 32:
            raise InputError(f"resolution must be >= 32 pixels, got {resolution}.")
        if demagnify not in DEMAGNIFY_PATHS:
            raise InputError(f"demagnify must be one of {', '.join(DEMAGNIFY_PATHS)}, got {demagnify!r}.")
        if not max_rigid_px > 0:
            raise InputError(f"max_rigid_px must be > 0 pixels, got {max_rigid_px}.")
        self.backbone = create_backbone(backbone, **(backbone_kwargs or {})) if isinstance(backbone, str) else backbone
        if demagnify == "motion" and not self.backbone.motion_scalable:
            raise InputError(f"backbone {self.backbone.name!r} does not expose its motion; use demagnify='image'.")
        if demagnify == "auto":
            demagnify = "motion" if self.backbone.motion_scalable and demagnifier is None else "image"
        self.demagnify = demagnify
        self.magnifier = create_magnifier(magnifier) if isinstance(magnifier, str) else magnifier
        if demagnifier is None:
            demagnifier = DEFAULT_DEMAGNIFIER.get(magnifier, magnifier) if isinstance(magnifier, str) else magnifier
        self.demagnifier = create_magnifier(demagnifier) if isinstance(demagnifier, str) else demagnifier
        self.calibrate_gain = bool(calibrate_gain)
        self.alpha = alpha
        self.target_amplitude = float(target_amplitude)
        self.alpha_max = float(alpha_max)
        self.max_rigid_px = float(max_rigid_px)
        self.resolution = int(resolution)
        self.magnify = bool(magnify)
        self.compute_direct = bool(compute_direct)
        self.keep_macro = bool(keep_macro)
        self.relative = bool(relative)
        self.crop = bool(crop)
        self.crop_margin = crop_margin
        self.face_mask = bool(face_mask)
        self.demagnify_mask = bool(demagnify_mask)
        self.paste_back = bool(paste_back)
        self.progress = bool(progress)

    # -- stages -------------------------------------------------------------------------------
    def crop_faces(self, image_or_frames: torch.Tensor, what: str):
        """Crop ``(T, 3, H, W)`` around the face of frame 0 -> ``(crops, box, landmarks_in_crop)``."""
        from .face.crop import FaceBox, crop, crop_landmarks
        from .face.landmarks import detect_landmarks

        landmarks = detect_landmarks(image_or_frames[0])
        if not self.crop:
            resized = resize_frames(image_or_frames, self.resolution)
            # Frames are stretched to S×S, so x and y scale separately.
            h, w = image_or_frames.shape[-2:]
            return resized, None, landmarks * np.array([self.resolution / w, self.resolution / h], dtype=np.float32)
        kwargs = {} if self.crop_margin is None else {"margin": self.crop_margin}
        box = FaceBox.from_landmarks(landmarks, image_size=tuple(image_or_frames.shape[-2:]), **kwargs)
        return crop(image_or_frames, box, self.resolution), box, crop_landmarks(landmarks, box, self.resolution)

    def mask_for(self, landmarks) -> torch.Tensor | None:
        """Soft face mask ``(S, S)`` from crop landmarks, or None when masking is off."""
        if not self.face_mask:
            return None
        from .face.regions import region_masks

        return region_masks(landmarks, size=(self.resolution, self.resolution))["face"]

    def _bar(self, frames: int, label: str):
        from tqdm.auto import tqdm

        return tqdm(total=frames, desc=f"backbone ({label})", unit="frame", disable=not self.progress, leave=False)

    def extract(self, driving: torch.Tensor) -> Any:
        """The backbone's motion of driving crops ``(T, 3, S, S)``."""
        return self.backbone.extract_motion(driving)

    def render(self, source_state: Any, motion: Any, label: str) -> torch.Tensor:
        """Render prepared source under ``motion`` (relative to its frame 0), with a progress bar."""
        with self._bar(len(motion), label) as bar:
            return self.backbone.render(source_state, motion, None, relative=self.relative, progress=bar.update)

    def transfer(self, source_state: Any, driving: torch.Tensor, label: str) -> torch.Tensor:
        """Run the backbone on prepared source + driving crops, with a progress bar."""
        return self.render(source_state, self.extract(driving), label)

    def choose_alpha(self, flows: torch.Tensor, mask: torch.Tensor | None) -> tuple[float, MotionAmplitude | None]:
        """α for driving flows ``(T, 2, S, S)``: fixed, or lifting the non-rigid peak to the target
        while keeping α × rigid motion within ``max_rigid_px``."""
        if self.alpha != "auto":
            return float(self.alpha), None
        amplitude = measure_amplitude(flows, mask)
        alpha = choose_alpha(amplitude.peak, self.target_amplitude, self.alpha_max, resolution=self.resolution)
        limit = rigid_alpha_limit(flows, mask, self.max_rigid_px * self.resolution / 256.0)
        return float(max(1.0, min(alpha, limit))), amplitude

    # -- main entry ---------------------------------------------------------------------------
    def __call__(self, source_img: torch.Tensor, driving: Clip | torch.Tensor, fps: float | None = None) -> PipelineResult:
        """Animate ``source_img`` ``(3, H, W)`` with a driving clip ``(T, 3, H', W')`` (or a Clip)."""
        from .flow.clip import clip_flows

        frames = driving.frames if isinstance(driving, Clip) else driving
        fps = float(fps or (driving.fps if isinstance(driving, Clip) else 30.0))
        check_image(source_img, "source_img")
        check_frames(frames, "driving", min_frames=2)
        timings: dict[str, float] = {}
        with _Stopwatch(timings, "crop"):
            source, source_box, source_lm = self.crop_faces(source_img[None], "source")
            driving_crop, driving_box, driving_lm = self.crop_faces(frames, "driving")
            source = source[0]
        with _Stopwatch(timings, "backbone_prepare"):
            source_state = self.backbone.prepare_source(source)
        out = PipelineResult(result=driving_crop, source=source, driving=driving_crop, alpha=1.0, fps=fps,
                             timings=timings, boxes={"source": source_box, "driving": driving_box})
        direct_motion = None
        if self.compute_direct or not self.magnify or (self.demagnify == "motion" and self.calibrate_gain):
            with _Stopwatch(timings, "backbone_direct"):
                direct_motion = self.extract(driving_crop)
                if self.compute_direct or not self.magnify:
                    out.direct = out.result = self.render(source_state, direct_motion, "direct")
        if not self.magnify:
            return self._finish(out, source_img)
        ref = driving_crop[0]
        with _Stopwatch(timings, "alpha"):
            mask = self.mask_for(driving_lm)
            flows = self.magnifier.clip_flows(ref, driving_crop)
            if self.alpha == "auto" and flows is None:
                flows = clip_flows(driving_crop, ref)
            out.alpha, out.amplitude = self.choose_alpha(flows, mask)
        with _Stopwatch(timings, "magnify"):
            out.magnified_driving = self.magnifier(ref, driving_crop, out.alpha, mask, fps=fps, flows=flows)
        if self.demagnify == "motion":
            self._demagnify_in_motion_space(out, source_state, direct_motion)
        else:
            self._demagnify_in_image_space(out, source_state, source_lm)
        return self._finish(out, source_img)

    def _demagnify_in_motion_space(self, out: PipelineResult, source_state: Any, direct_motion: Any) -> None:
        from .magnify.motion_space import demagnify_motion

        out.demagnify_path = "motion"
        with _Stopwatch(out.timings, "backbone_magnified"):
            magnified_motion = self.extract(out.magnified_driving)
            if self.keep_macro:
                out.generated_macro = self.render(source_state, magnified_motion, "magnified")
        with _Stopwatch(out.timings, "demagnify"):
            motion, out.motion_gain = demagnify_motion(magnified_motion, out.alpha,
                                                       direct_motion if self.calibrate_gain else None)
            out.result = self.render(source_state, motion, "de-magnified")

    def _demagnify_in_image_space(self, out: PipelineResult, source_state: Any, source_lm) -> None:
        out.demagnify_path = "image"
        with _Stopwatch(out.timings, "backbone_magnified"):
            out.generated_macro = self.transfer(source_state, out.magnified_driving, "magnified")
        with _Stopwatch(out.timings, "demagnify"):
            source_mask = self.mask_for(source_lm) if self.demagnify_mask else None
            out.result = self.demagnifier(out.generated_macro[0], out.generated_macro, 1.0 / out.alpha, source_mask,
                                          fps=out.fps)

    def _finish(self, out: PipelineResult, source_img: torch.Tensor) -> PipelineResult:
        if self.paste_back and out.boxes.get("source") is not None:
            from .face.crop import paste_back

            with _Stopwatch(out.timings, "paste_back"):
                full = source_img[None].expand(out.result.shape[0], -1, -1, -1)
                out.pasted = paste_back(full, out.result, out.boxes["source"])
        return out


def resize_frames(frames: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``(T, 3, H, W)`` to ``(T, 3, size, size)`` (antialiased when shrinking)."""
    if frames.shape[-2:] == (size, size):
        return frames
    shrink = max(frames.shape[-2:]) > size
    return F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink).clamp(0, 1)
