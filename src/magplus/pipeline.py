"""MagPipeline: magnify the driving micro-expression → frozen backbone → de-magnify.

    driving clip ─crop─► MagPlus (α) ─► backbone motion ─► × 1/α (motion space) ─► render ─► result
                                              └─► render ─► DeMagPlus (1/α, image space) ─► result
                         └──────────── direct transfer (baseline, α = 1)

Symmetry: the driving clip is stabilised first (its head translation, the median flow inside the
face, is taken out), the magnifier scales all of the remaining motion and the de-magnifier divides
all of it, and the head translation is put back at its own strength (``stabilise=True``, the
default). So the driving clip's head motion reaches the result once, at 1×, without passing
through the backbone at α× (where the extractor reads a moved face badly), and whatever the backbone
adds in response to magnified motion (motion spread beyond the face, apparent rigid motion)
shrinks by α. With ``stabilise=False`` the head motion is scaled both ways with the expression. De-magnification runs in the
backbone's motion space when the backbone exposes its motion (``motion_scalable``), otherwise in
image space with the paired de-magnifier.

Every stage works on square face crops (fixed box from the onset frame, so no motion is
invented); the result can be pasted back into the full source frame.

The stages run pass by pass over chunks of the clip (:mod:`magplus.pipeline_stream`): a clip in
memory (:meth:`MagPipeline.__call__`) is one chunk, a clip read lazily (:meth:`MagPipeline.stream`)
runs in bounded memory, with the same result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .context import clip_context, current_clip
from .errors import InputError
from .magnify.alpha import DEFAULT_ALPHA_MAX, DEFAULT_MAX_LOCAL_RATIO, DEFAULT_TARGET_AMPLITUDE, MotionAmplitude
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
        head_shift: ``(T, 2)`` the driving head's translation (pixels of the crop) taken out before
            magnifying and put back after de-magnifying; None when the run was not stabilised.
        pasted: ``result`` pasted back into the full source image ``(T, 3, H, W)`` if asked.
        fps: frame rate of the driving clip.
        timings: seconds per stage.
        boxes: face boxes (``"source"``, ``"driving"``) used for cropping.
        frames: number of frames of the clip.

    :meth:`MagPipeline.stream` returns one with the frame fields (``result``, ``driving``, ...)
    left None: its frames went to the sink.
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
    head_shift: np.ndarray | None = None
    pasted: torch.Tensor | None = None
    timings: dict[str, float] = field(default_factory=dict)
    boxes: dict[str, Any] = field(default_factory=dict)
    frames: int = 0


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
            motion and correct for it (:func:`~magplus.magnify.motion_space.motion_gain`), from a
            direct pass over one frame in :func:`~magplus.magnify.motion_space.gain_stride` (every
            frame when ``compute_direct`` renders the direct result anyway; none at α = 1).
        stabilise: take the driving clip's head motion (its translation, the median flow inside
            the face) out before magnifying and put it back, unscaled, after de-magnifying, so that
            only the expression is scaled by α and 1/α (:meth:`~magplus.magnify.base.Magnifier.stabilised`,
            :meth:`~magplus.backbones.motion.Motion.translated`). False scales all motion both ways.
        alpha: ``"auto"`` (lift the driving motion to ``target_amplitude``) or a number ≥ 1.
        target_amplitude: macro amplitude in pixels at a 256-px crop for automatic α.
        alpha_max: upper bound of automatic α.
        max_local_ratio: automatic α also keeps the clip's most moving region (its local
            amplitude, the :data:`~magplus.magnify.alpha.LOCAL_PERCENTILE` of the face's motion)
            within this many times ``target_amplitude``, so that a small or one-sided motion is not
            lifted far beyond a regular expression; None: no such cap.
        max_rigid_px: without ``stabilise``, automatic α also keeps α × the clip's rigid (head)
            motion below this many pixels at a 256-px crop, so that the magnified face stays inside
            the crop.
        resolution: square crop size; None: the backbone's own ``resolution`` (EmoPortraits works
            at 512, the others at 256).
        magnify: False runs the direct-transfer baseline only.
        compute_direct: also render the direct-transfer baseline next to MagPlus.
        keep_macro: motion-space path: also render the backbone's output on the magnified motion
            (``generated_macro``; one more render).
        relative: relative (True) or absolute (False) backbone motion; None keeps the backbone's
            own setting.
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
                 demagnify: str = "auto", calibrate_gain: bool = True, stabilise: bool = True,
                 alpha: float | str = "auto", target_amplitude: float = DEFAULT_TARGET_AMPLITUDE,
                 alpha_max: float = DEFAULT_ALPHA_MAX, max_local_ratio: float | None = DEFAULT_MAX_LOCAL_RATIO,
                 max_rigid_px: float = 24.0, resolution: int | None = None,
                 magnify: bool = True, compute_direct: bool = False, keep_macro: bool = False,
                 relative: bool | None = None, crop: bool = True,
                 crop_margin: float | None = None, face_mask: bool = True, demagnify_mask: bool = False,
                 paste_back: bool = False,
                 backbone_kwargs: dict[str, Any] | None = None, progress: bool = True):
        if alpha != "auto":
            check_alpha(alpha)
            if float(alpha) < 1:
                raise InputError(f"alpha must be 'auto' or >= 1 (the pipeline de-magnifies by 1/alpha itself), got {alpha}.")
        if demagnify not in DEMAGNIFY_PATHS:
            raise InputError(f"demagnify must be one of {', '.join(DEMAGNIFY_PATHS)}, got {demagnify!r}.")
        if not max_rigid_px > 0:
            raise InputError(f"max_rigid_px must be > 0 pixels, got {max_rigid_px}.")
        if max_local_ratio is not None and not max_local_ratio >= 1:
            raise InputError(f"max_local_ratio must be None or >= 1 (times target_amplitude), got {max_local_ratio}.")
        self.backbone = create_backbone(backbone, **(backbone_kwargs or {})) if isinstance(backbone, str) else backbone
        resolution = int(self.backbone.resolution if resolution is None else resolution)
        if resolution < 32:
            raise InputError(f"resolution must be >= 32 pixels, got {resolution}.")
        if getattr(self.backbone, "find_best_frame", False):
            # Magnification and de-magnification are relative to the onset frame; a reference
            # chosen elsewhere in the clip would make the magnified motion relative to two frames.
            raise InputError(f"backbone {self.backbone.name!r} has find_best_frame on, which MagPipeline does not "
                             "support (motion is magnified relative to the onset frame); create it with "
                             "find_best_frame=False, or call backbone.animate() for direct transfer.")
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
        self.stabilise = bool(stabilise)
        self.alpha = alpha
        self.target_amplitude = float(target_amplitude)
        self.alpha_max = float(alpha_max)
        self.max_local_ratio = None if max_local_ratio is None else float(max_local_ratio)
        self.max_rigid_px = float(max_rigid_px)
        self.resolution = resolution
        self.magnify = bool(magnify)
        self.compute_direct = bool(compute_direct)
        self.keep_macro = bool(keep_macro)
        self.relative = None if relative is None else bool(relative)
        self.crop = bool(crop)
        self.crop_margin = crop_margin
        self.face_mask = bool(face_mask)
        self.demagnify_mask = bool(demagnify_mask)
        self.paste_back = bool(paste_back)
        self.progress = bool(progress)

    # -- stages -------------------------------------------------------------------------------
    def crop_faces(self, image_or_frames: torch.Tensor, what: str):
        """Crop ``(T, 3, H, W)`` around the face of frame 0 -> ``(crops, box, landmarks_in_crop)``."""
        from .face.crop import FaceBox, crop_landmarks
        from .face.landmarks import detect_landmarks

        landmarks = detect_landmarks(image_or_frames[0], what=what)
        if not self.crop:
            # Frames are stretched to S×S, so x and y scale separately.
            h, w = image_or_frames.shape[-2:]
            scale = np.array([self.resolution / w, self.resolution / h], dtype=np.float32)
            return self.crop_with(image_or_frames, None), None, landmarks * scale
        kwargs = {} if self.crop_margin is None else {"margin": self.crop_margin}
        box = FaceBox.from_landmarks(landmarks, image_size=tuple(image_or_frames.shape[-2:]), **kwargs)
        return self.crop_with(image_or_frames, box), box, crop_landmarks(landmarks, box, self.resolution)

    def crop_with(self, frames: torch.Tensor, box) -> torch.Tensor:
        """Crops ``(T, 3, S, S)`` of ``frames`` ``(T, 3, H, W)`` with a box from :meth:`crop_faces`
        (None: resized whole, ``crop=False``); frame by frame, so a clip may be cropped in chunks."""
        from .face.crop import crop

        return resize_frames(frames, self.resolution) if box is None else crop(frames, box, self.resolution)

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

    def render(self, source_state: Any, motion: Any, label: str, reference: Any = None, bar: Any = None) -> torch.Tensor:
        """Render prepared source under ``motion``, relative to ``reference`` (None: its frame 0),
        with a progress bar (``bar``: an open one, e.g. of the whole clip rendered in chunks)."""
        relative = {} if self.relative is None else {"relative": self.relative}
        if bar is None:
            with self._bar(len(motion), label) as bar:
                return self.backbone.render(source_state, motion, reference, progress=bar.update, **relative)
        return self.backbone.render(source_state, motion, reference, progress=bar.update, **relative)

    def transfer(self, source_state: Any, driving: torch.Tensor, label: str) -> torch.Tensor:
        """Run the backbone on prepared source + driving crops, with a progress bar."""
        return self.render(source_state, self.extract(driving), label)

    def choose_alpha(self, flows: torch.Tensor, mask: torch.Tensor | None) -> tuple[float, MotionAmplitude | None]:
        """α for driving flows ``(T, 2, S, S)``: fixed, or lifting the non-rigid peak to the target
        while keeping the local amplitude within ``max_local_ratio`` × the target and, when not
        stabilised, α × rigid motion within ``max_rigid_px``."""
        from .pipeline_stream import AlphaStats

        if self.alpha != "auto":
            return float(self.alpha), None
        stats = AlphaStats(self, mask)
        stats.add(flows)
        return stats.result()

    def streaming_refusal(self) -> str | None:
        """Why this pipeline cannot run a clip chunk by chunk (:meth:`stream`), or None when it can."""
        if self.backbone.motion_builder() is None:
            return (f"backbone {self.backbone.name!r} takes a driving clip only as a whole (see its motion_builder), "
                    "so it cannot be streamed")
        stages = [("magnifier", self.magnifier)] if self.magnify else []
        if self.magnify and self.demagnify == "image":
            stages.append(("de-magnifier", self.demagnifier))
        for role, stage in stages:
            if not getattr(stage, "frame_by_frame", False):
                return (f"{role} {getattr(stage, 'name', type(stage).__name__)!r} mixes frames over time (a temporal "
                        "filter), so a clip cannot be processed in chunks; turn its temporal filter off "
                        "(LagrangianMagnifier(temporal_sigma_s=0), EulerianMagnifier(temporal_filter='reference')) "
                        "or run the clip whole")
        return None

    # -- main entry ---------------------------------------------------------------------------
    def __call__(self, source_img: torch.Tensor, driving: Clip | torch.Tensor, fps: float | None = None) -> PipelineResult:
        """Animate ``source_img`` ``(3, H, W)`` with a driving clip ``(T, 3, H', W')`` (or a Clip)."""
        frames = driving.frames if isinstance(driving, Clip) else driving
        fps = float(fps or (driving.fps if isinstance(driving, Clip) else 30.0))
        check_image(source_img, "source_img")
        check_frames(frames, "driving", min_frames=2)
        # Stages deep inside (landmark gap bridging, smoothing in seconds) read the clip's rate and
        # label from the context; an outer context (the CLI's) keeps its label.
        with clip_context(what=None if current_clip().what else "the driving clip", fps=fps):
            return self._run(source_img, frames, fps)

    def stream(self, source_img: torch.Tensor, frames: Any, sink: Any, fps: float | None = None,
               chunk_frames: int | None = None) -> PipelineResult:
        """Run a clip read lazily, chunk by chunk, in memory flat in its length; frames go to ``sink``.

        Same result as :meth:`__call__` up to float rounding (every stage works frame by frame;
        clip-level steps run on the whole, small motion).

        Args:
            source_img: ``(3, H, W)`` in [0, 1].
            frames: a :class:`~magplus.io.video.VideoReader`, a :class:`~magplus.pipeline_stream.ClipFrames`
                (a frame range of one), or frames ``(T, 3, H', W')`` (processed in chunks all the same).
            sink: takes each chunk: ``write(first_frame, part)`` with ``part`` a PipelineResult of that
                chunk's frames, and ``needs_inputs`` (also fill ``part.driving`` / ``magnified_driving``);
                e.g. :class:`~magplus.pipeline_stream.VideoSink` or :class:`~magplus.pipeline_stream.Collector`.
            fps: frame rate (default: the reader's, else 30).
            chunk_frames: frames per chunk (default :data:`~magplus.pipeline_stream.CHUNK_FRAMES`;
                ignored for a ClipFrames, which has its own).

        Returns:
            The run's PipelineResult with the frame fields None (α, amplitude, motion gain,
            timings, boxes, source crop and frame count are set).

        Raises:
            InputError: bad inputs, or a stage that cannot run in chunks (:meth:`streaming_refusal`),
                before any work.
        """
        from .pipeline_stream import CHUNK_FRAMES, ClipFrames, PipelineRun, VideoSink

        check_image(source_img, "source_img")
        refusal = self.streaming_refusal()
        if refusal is not None:
            raise InputError(f"{refusal}.")
        if not (hasattr(sink, "write") and hasattr(sink, "needs_inputs")):
            raise InputError(f"sink must have write(first_frame, part) and needs_inputs, got {type(sink).__name__}.")
        if isinstance(sink, VideoSink) and sink.needs_inputs and self.magnify and not self.compute_direct:
            raise InputError("a side-by-side shows the direct transfer next to MagPlus: create the pipeline with "
                             "compute_direct=True.")
        clip = frames if isinstance(frames, ClipFrames) else ClipFrames(
            frames, chunk_frames=CHUNK_FRAMES if chunk_frames is None else chunk_frames)
        if len(clip) < 2:
            raise InputError(f"the driving clip has {len(clip)} frame; the pipeline needs at least 2.")
        fps = float(fps or clip.fps or 30.0)
        with clip_context(what=None if current_clip().what else "the driving clip", fps=fps):
            return PipelineRun(self, clip, fps)(source_img, sink)

    def _run(self, source_img: torch.Tensor, frames: torch.Tensor, fps: float) -> PipelineResult:
        from .pipeline_stream import ClipFrames, Collector, PipelineRun

        collector = Collector()
        return collector.fill(PipelineRun(self, ClipFrames.whole(frames), fps)(source_img, collector))


def resize_frames(frames: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``(T, 3, H, W)`` to ``(T, 3, size, size)`` (antialiased when shrinking)."""
    if frames.shape[-2:] == (size, size):
        return frames
    shrink = max(frames.shape[-2:]) > size
    return F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink).clamp(0, 1)
