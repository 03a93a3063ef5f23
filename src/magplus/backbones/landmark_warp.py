"""The offline default backbone: warp the source face through transferred landmark motion.

A training-free reenactment model (warp-based portrait animation):

1. MediaPipe landmarks of the source, and tracked landmarks of the driving clip.
2. Relative motion: each driving frame's landmarks minus the driving reference frame's, mapped
   into the source face by the similarity (scale + rotation) that aligns the driving reference
   face to the source face. Absolute mode instead imposes the aligned driving landmarks.
3. A dense displacement field through a thin-plate spline over the landmarks plus a ring of
   still anchors around the face and on the image border (so the background stays still),
   evaluated at a coarse grid and upsampled (the field is smooth).
4. The source is backward-warped through the inverse of that field with ``grid_sample``.

Like learned backbones it has a noise floor: the landmark tracker's jitter (≈0.6–1.2 px on a
still face, DOMAIN.md §1) is of the size of a micro-expression, which is why MagPlus magnifies
first. Optional temporal smoothing of the landmark tracks reduces it at the cost of timing; its
time constant is in seconds, so a 200 fps clip is smoothed over the same time span as a 30 fps one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..context import clip_fps, clip_label
from ..errors import InputError
from ..ops.flow_utils import invert_flow
from ..ops.tps import ThinPlateSpline
from ..ops.warp import backward_warp, pixel_grid
from ..types import check_frames, check_image, to_uint8
from .base import AnimationBackbone, MotionBuilder
from .motion import LandmarkMotion


@dataclass
class LandmarkSource:
    """Prepared source: the image ``(3, H, W)``, its landmarks ``(478, 2)`` and the TPS operator."""

    image: torch.Tensor
    landmarks: np.ndarray
    controls: np.ndarray
    spline: ThinPlateSpline
    grid_size: tuple[int, int]


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity (Umeyama) mapping ``src`` ``(N, 2)`` onto ``dst``: ``dst ≈ s R src + t``.

    Returns:
        ``(s, R (2, 2), t (2,))``.
    """
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    u, sigma, vt = np.linalg.svd(b.T @ a / len(src))
    d = np.sign(np.linalg.det(u @ vt))
    correction = np.diag([1.0, d])
    rotation = u @ correction @ vt
    scale = float(np.trace(np.diag(sigma) @ correction) / a.var(0).sum())
    return scale, rotation, mu_d - scale * rotation @ mu_s


def anchor_points(landmarks: np.ndarray, height: int, width: int, ring_scale: float = 1.35, count: int = 36) -> np.ndarray:
    """Still control points: a ring around the face (``ring_scale`` × its radius) and the image border."""
    center = landmarks.mean(0)
    radius = np.percentile(np.linalg.norm(landmarks - center, axis=1), 95) * ring_scale
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    ring = center + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    side = np.linspace(0, 1, 9)
    border = np.concatenate([
        np.stack([side * (width - 1), np.zeros_like(side)], 1),
        np.stack([side * (width - 1), np.full_like(side, height - 1)], 1),
        np.stack([np.zeros_like(side[1:-1]), side[1:-1] * (height - 1)], 1),
        np.stack([np.full_like(side[1:-1], width - 1), side[1:-1] * (height - 1)], 1),
    ])
    return np.concatenate([ring, border]).astype(np.float32)


def gaussian_smooth_track(track: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Temporal Gaussian smoothing of ``(T, N, 2)`` tracks (reflect at the ends)."""
    if sigma_frames <= 0 or track.shape[0] < 3:
        return track
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(track.astype(np.float64), sigma_frames, axis=0, mode="nearest").astype(np.float32)


#: Default σ of the driving-track smoothing: 15 ms is a sixth of the shortest onset-to-apex times
#: (p10 90 ms, DOMAIN.md §1), so a fast rise keeps >90 % of its peak, while at 200 fps it still
#: averages ~3 frames of independent detector jitter.
DEFAULT_SMOOTHING_SECONDS = 0.015
#: Largest σ accepted: beyond 100 ms the filter removes the micro-expression with the jitter.
MAX_SMOOTHING_SECONDS = 0.1


class LandmarkTrackBuilder(MotionBuilder):
    """Landmark tracks of a driving clip taken chunk by chunk.

    Landmarks are detected per chunk (image mode: each frame alone; video mode: one tracker kept
    across chunks); face-less gaps are bridged and the tracks smoothed over time only in
    :meth:`finish`, on the whole track, so chunking changes nothing.
    """

    def __init__(self, backbone: "LandmarkWarpBackbone", fps: float | None = None):
        from ..face.landmarks import FaceLandmarker, shared_landmarker

        self.smoothing_seconds, self.fps = backbone.smoothing_seconds, fps
        self._video = backbone.tracking == "video"
        # Driving frames are face crops of one subject: with max_faces=1 MediaPipe's tracker runs
        # its face detector only when it loses the face, not on every frame as it does while it
        # tracks fewer faces than max_faces (same landmarks on crops, 1.6x faster).
        self._marker = FaceLandmarker(video=True, max_faces=1) if self._video else shared_landmarker()
        self._points: list[np.ndarray] = []
        self._found: list[np.ndarray] = []

    def add(self, frames: torch.Tensor) -> None:
        check_frames(frames, "driving_frames")
        points, found = self._marker.find_all(to_uint8(frames))
        self._points.append(points)
        self._found.append(found)

    def finish(self) -> LandmarkMotion:
        from ..face.gaps import bridge_gaps

        if self._video:
            self._marker.close()
        if not self._points:
            raise InputError("no driving frame was added to the landmark builder.")
        rate, _ = clip_fps(self.fps)
        points = bridge_gaps(np.concatenate(self._points), np.concatenate(self._found), clip_label(), rate)
        return LandmarkMotion(gaussian_smooth_track(points, self.smoothing_seconds * rate))


class LandmarkWarpBackbone(AnimationBackbone):
    """Training-free reenactment by thin-plate-spline warping through MediaPipe landmarks.

    Args:
        smoothing_seconds: σ (seconds) of the temporal Gaussian smoothing of the driving landmark
            tracks, in [0, MAX_SMOOTHING_SECONDS]; turned into frames with the clip's frame rate
            (the ``fps`` of :meth:`extract_motion`, else :func:`~magplus.context.clip_context`, else 30).
        regularization: TPS smoothing λ.
        grid_divisor: the displacement field is solved on an ``H/grid_divisor`` grid and upsampled.
        ring_scale: radius of the still anchor ring relative to the face radius.
        inverse_iterations: fixed-point iterations to invert the forward displacement field.
        tracking: "static" detects every driving frame independently (measured here on a still,
            noisy 256² clip: 0.09 px landmark std, 19 ms/frame); "video" uses MediaPipe's tracking
            mode, which drifted by up to 2.8 px on identical frames (0.22 px std, 52 ms/frame).
    """

    name = "landmark-warp"
    resolution = 256
    needs_weights = False
    motion_scalable = True

    def __init__(self, smoothing_seconds: float = DEFAULT_SMOOTHING_SECONDS, regularization: float = 1e-3, grid_divisor: int = 2,
                 ring_scale: float = 1.35, inverse_iterations: int = 4, tracking: str = "static",
                 device: str | torch.device = "cpu"):
        if tracking not in ("static", "video"):
            raise InputError(f"tracking must be 'static' or 'video', got {tracking!r}.")
        if grid_divisor < 1:
            raise InputError(f"grid_divisor must be >= 1, got {grid_divisor}.")
        if not 0.0 <= float(smoothing_seconds) <= MAX_SMOOTHING_SECONDS:
            raise InputError(
                f"smoothing_seconds must lie in [0, {MAX_SMOOTHING_SECONDS}] s, got {smoothing_seconds}: a wider "
                "filter flattens the micro-expression itself (its onset-to-apex takes 90-265 ms)."
            )
        self.smoothing_seconds = float(smoothing_seconds)
        self.regularization = float(regularization)
        self.grid_divisor = int(grid_divisor)
        self.ring_scale = float(ring_scale)
        self.inverse_iterations = int(inverse_iterations)
        self.tracking = tracking
        self.device = torch.device(device)

    def prepare_source(self, source_img: torch.Tensor) -> LandmarkSource:
        from ..face.landmarks import detect_landmarks

        check_image(source_img, "source_img")
        landmarks = detect_landmarks(source_img)
        h, w = source_img.shape[-2:]
        anchors = anchor_points(landmarks, h, w, self.ring_scale)
        controls = np.concatenate([landmarks, anchors]).astype(np.float32)
        gh, gw = max(2, h // self.grid_divisor), max(2, w // self.grid_divisor)
        # Query points: the coarse grid's pixel centres expressed in full-resolution pixels.
        qy, qx = torch.meshgrid(torch.linspace(0, h - 1, gh), torch.linspace(0, w - 1, gw), indexing="ij")
        queries = torch.stack([qx.reshape(-1), qy.reshape(-1)], 1)
        spline = ThinPlateSpline(torch.from_numpy(controls), queries, self.regularization)
        return LandmarkSource(source_img, landmarks, controls, spline, (gh, gw))

    def extract_motion(self, frames: torch.Tensor, fps: float | None = None) -> LandmarkMotion:
        """Landmark tracks ``(T, 478, 2)`` of the driving frames (smoothed over time).

        Args:
            frames: ``(T, 3, H, W)`` in [0, 1]; face-less frames are bridged or refused by
                :func:`magplus.face.gaps.bridge_gaps`.
            fps: the clip's frame rate (default: the clip context's, else 30).
        """
        builder = self.motion_builder(fps)
        builder.add(frames)
        return builder.finish()

    @property
    def extraction_device(self) -> torch.device:
        """The CPU: MediaPipe finds the landmarks whatever device renders."""
        return torch.device("cpu")

    def motion_builder(self, fps: float | None = None) -> "LandmarkTrackBuilder":
        """Chunk-by-chunk :meth:`extract_motion` (detection per chunk; bridging and smoothing at the end)."""
        return LandmarkTrackBuilder(self, fps)

    def source_displacements(self, source: LandmarkSource, motion: np.ndarray, reference: np.ndarray | None,
                             relative: bool) -> np.ndarray:
        """Per-frame landmark displacements on the source face ``(T, 478, 2)``."""
        reference = motion[0] if reference is None else reference
        scale, rotation, shift = similarity_transform(reference, source.landmarks)
        if relative:
            return scale * (motion - reference[None]) @ rotation.T
        aligned = scale * motion @ rotation.T + shift
        return aligned - source.landmarks[None]

    def displacement_fields(self, source: LandmarkSource, displacements: np.ndarray) -> torch.Tensor:
        """Dense forward displacement fields ``(T, 2, H, W)`` on the source image."""
        t = displacements.shape[0]
        values = np.zeros((t, source.controls.shape[0], 2), dtype=np.float32)
        values[:, : displacements.shape[1]] = displacements  # anchors stay at zero
        coarse = source.spline(torch.from_numpy(values))  # (T, gh*gw, 2)
        gh, gw = source.grid_size
        coarse = coarse.reshape(t, gh, gw, 2).permute(0, 3, 1, 2)
        h, w = source.image.shape[-2:]
        return F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=True)

    def warp(self, image: torch.Tensor, forward_field: torch.Tensor) -> torch.Tensor:
        """Move the pixel at ``p`` to ``p + D(p)``: backward warp with the inverted field."""
        displacement = invert_flow(forward_field, self.inverse_iterations)
        return backward_warp(image[None].expand(forward_field.shape[0], -1, -1, -1), displacement).clamp(0, 1)

    def render(self, source: LandmarkSource, motion: LandmarkMotion, reference: LandmarkMotion | None = None,
               relative: bool = True, progress: Callable[[int], None] | None = None, batch: int = 32) -> torch.Tensor:
        for value, what in ((motion, "motion"), (reference, "reference")):
            if value is not None and (not isinstance(value, LandmarkMotion) or value.relative):
                raise InputError(f"{what} must be an absolute LandmarkMotion from extract_motion, got {type(value).__name__}.")
        ref_points = None if reference is None else reference.points[0]
        displacements = self.source_displacements(source, motion.points, ref_points, relative)
        out = []
        for start in range(0, displacements.shape[0], batch):
            fields = self.displacement_fields(source, displacements[start:start + batch])
            out.append(self.warp(source.image, fields))
            if progress is not None:
                progress(fields.shape[0])
        return torch.cat(out)
