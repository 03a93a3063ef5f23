"""Face landmarks: MediaPipe face mesh (478 points with iris refinement), on images and clips.

Coordinates follow :mod:`magplus.types`: ``(N, 2)`` float32 pixel ``(x, y)`` in the frame they
were detected in. MediaPipe's normalised outputs are scaled by the image width and height, so
``x = 0`` is the left edge of the first pixel column (MediaPipe's convention), not its centre.

"Left" and "right" in :mod:`magplus.face.mesh` are the SUBJECT's sides, as in FACS L/R codes
(MediaPipe's ``LEFT_EYE`` is the subject's left eye: on the image's right in a non-mirrored frontal
photo).

The bundled models of MediaPipe 0.10.21 are used; nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
import tempfile
from typing import Any, Iterator

import numpy as np
import torch

from ..context import clip_fps, clip_label
from ..errors import DependencyError, InputError, NoFaceError, ShapeError
from ..types import NUM_FACE_LANDMARKS, check_frames, describe_shape, to_uint8
from .gaps import bridge_gaps, format_runs, missing_runs
from .smoothing import smooth_track

_INSTALL_HINT = (
    "install it with `pip install --no-deps mediapipe==0.10.21` plus absl-py, attrs, flatbuffers, "
    "'protobuf<5', 'numpy<2' and opencv-contrib-python-headless==4.11.*"
)


# Lines MediaPipe's C++ side prints on every graph start although nothing is wrong:
# absl INFO/WARNING records ("I0000 ...", "W0000 ..."), TFLite's delegate notice, absl's banner.
_NOISE = re.compile(rb"^(?:[IW]\d{4} |INFO: |WARNING: All log messages before absl::InitializeLog)")


_FILTER_DEPTH = 0  # > 0 while a filter is active: inner calls reuse it (one descriptor dance per clip)


@contextlib.contextmanager
def _filtered_stderr(enabled: bool = True) -> Iterator[None]:
    """Capture file descriptor 2 around MediaPipe calls, then re-emit every line except known noise.

    absl's C++ logging ignores environment variables, so the only way to drop its INFO/WARNING
    lines is at the file-descriptor level. ERROR/FATAL records and anything unexpected are written
    back to stderr unchanged, so no failure is hidden. Nested uses share the outermost capture, so
    a clip costs one ``dup`` and one temporary file, not one per frame.
    """
    global _FILTER_DEPTH
    try:
        fd = sys.stderr.fileno() if enabled and _FILTER_DEPTH == 0 else -1
    except (AttributeError, OSError, ValueError):  # pytest capture, notebooks: no real descriptor
        fd = -1
    if fd < 0:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    _FILTER_DEPTH += 1
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), fd)
        try:
            yield
        finally:
            _FILTER_DEPTH -= 1
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            sink.seek(0)
            kept = [line for line in sink.read().splitlines(keepends=True) if not _NOISE.match(line)]
            if kept:
                os.write(fd, b"".join(kept))


def _import_face_mesh() -> Any:
    """Import MediaPipe's face-mesh solution or say how to install it."""
    try:
        from mediapipe.python.solutions import face_mesh
    except ImportError as exc:
        raise DependencyError(f"the face landmark detector needs MediaPipe 0.10.21 ({exc}); {_INSTALL_HINT}.") from exc
    return face_mesh


def image_to_uint8(image: Any, name: str = "image") -> np.ndarray:
    """Bring an image to MediaPipe's input: a contiguous uint8 ``(H, W, 3)`` RGB array.

    Args:
        image: uint8 ``(H, W, 3)`` RGB numpy array, or float tensor ``(3, H, W)`` in [0, 1].
        name: argument name used in errors.
    """
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] != 3:
            raise ShapeError(f"{name} must be a float tensor (3, H, W) in [0, 1], got {describe_shape(image)}.")
        check_frames(image[None], name)
        return np.ascontiguousarray(to_uint8(image)[0])
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ShapeError(f"{name} must be a uint8 RGB array (H, W, 3), got {describe_shape(image)}.")
        return np.ascontiguousarray(image)
    raise ShapeError(f"{name} must be a uint8 (H, W, 3) array or a float (3, H, W) tensor, got {describe_shape(image)}.")


def _largest_face(faces: list, width: int, height: int) -> np.ndarray:
    """Pixel landmarks ``(478, 2)`` of the face with the largest landmark bounding box."""
    best, best_area = None, -1.0
    for face in faces:
        pts = np.array([(p.x * width, p.y * height) for p in face.landmark], dtype=np.float32)
        extent = pts.max(axis=0) - pts.min(axis=0)
        area = float(extent[0] * extent[1])
        if area > best_area:
            best, best_area = pts, area
    return best


class FaceLandmarker:
    """A MediaPipe face-mesh graph kept alive between calls (building it costs tens of ms).

    Args:
        video: False for independent images (detector on every call); True for consecutive
            frames of one clip (MediaPipe tracks the face from the previous frame; create one
            landmarker per clip, or call :meth:`reset`).
        max_faces: how many faces MediaPipe may return; the largest is kept. > 1 so that a
            small background face cannot win over the subject.
        min_detection_confidence / min_tracking_confidence: MediaPipe's thresholds in (0, 1].
        quiet: drop MediaPipe's routine C++ INFO/WARNING lines from stderr (errors still show).

    Not thread-safe: MediaPipe graphs and the stderr filter are per process; use one landmarker
    per thread (or a lock).

    Example:
        >>> with FaceLandmarker() as marker:  # doctest: +SKIP
        ...     points = marker.detect(image)  # (478, 2) float32 pixel (x, y)
    """

    def __init__(
        self,
        video: bool = False,
        max_faces: int = 4,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        quiet: bool = True,
    ):
        if int(max_faces) < 1:
            raise InputError(f"max_faces must be >= 1, got {max_faces}.")
        for name, value in (("min_detection_confidence", min_detection_confidence), ("min_tracking_confidence", min_tracking_confidence)):
            if not 0.0 < float(value) <= 1.0:
                raise InputError(f"{name} must lie in (0, 1], got {value}.")
        self.video = bool(video)
        self._options = dict(
            static_image_mode=not self.video,
            max_num_faces=int(max_faces),
            refine_landmarks=True,  # adds the 10 iris points: 468 -> 478
            min_detection_confidence=float(min_detection_confidence),
            min_tracking_confidence=float(min_tracking_confidence),
        )
        self.quiet = bool(quiet)
        self._mesh = None

    def _graph(self) -> Any:
        if self._mesh is None:
            self._mesh = _import_face_mesh().FaceMesh(**self._options)
        return self._mesh

    def find(self, image: Any) -> np.ndarray | None:
        """Landmarks ``(478, 2)`` float32 pixel ``(x, y)`` of the largest face, or None when there is none."""
        rgb = image_to_uint8(image)
        height, width = rgb.shape[:2]
        with _filtered_stderr(self.quiet):
            result = self._graph().process(rgb)
        faces = result.multi_face_landmarks or []
        if not faces:
            return None
        points = _largest_face(faces, width, height)
        if points.shape[0] != NUM_FACE_LANDMARKS:
            raise DependencyError(
                f"MediaPipe returned {points.shape[0]} landmarks instead of {NUM_FACE_LANDMARKS}; {_INSTALL_HINT}."
            )
        return points

    def detect(self, image: Any, what: str = "the image", frame_index: int | None = None) -> np.ndarray:
        """Landmarks of the largest face in ``image``.

        Args:
            image: uint8 ``(H, W, 3)`` RGB array or float ``(3, H, W)`` tensor in [0, 1].
            what: how the error message names the image (e.g. "frame 7 of clip.mp4").
            frame_index: stored on the :class:`NoFaceError` when given.

        Returns:
            ``(478, 2)`` float32 pixel ``(x, y)``.

        Raises:
            NoFaceError: when MediaPipe finds no face.
        """
        points = self.find(image)
        if points is None:
            height, width = image_to_uint8(image).shape[:2]
            raise NoFaceError(
                f"no face found in {what} ({width}x{height}); pass an image with a visible, roughly frontal face "
                "or lower min_detection_confidence.",
                frame_index=frame_index,
            )
        return points

    def find_all(self, clip: np.ndarray, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Landmarks of every frame of a uint8 clip ``(T, H, W, 3)``, under one stderr filter.

        Returns:
            ``(points (T, 478, 2) float32, found (T,) bool)``; rows without a face are NaN.
        """
        from tqdm.auto import tqdm

        points = np.full((clip.shape[0], NUM_FACE_LANDMARKS, 2), np.nan, dtype=np.float32)
        found = np.zeros(clip.shape[0], dtype=bool)
        with _filtered_stderr(self.quiet):
            for index in tqdm(range(clip.shape[0]), desc="landmarks", unit="frame", disable=not progress):
                face = self.find(clip[index])
                if face is not None:
                    points[index], found[index] = face, True
        return points, found

    def reset(self) -> None:
        """Forget the tracking state (start of a new clip)."""
        self.close()

    def close(self) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def __enter__(self) -> "FaceLandmarker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@functools.lru_cache(maxsize=4)
def _shared_image_landmarker(max_faces: int, min_detection_confidence: float) -> FaceLandmarker:
    # Image mode keeps no state between calls, so one graph can serve every caller.
    return FaceLandmarker(video=False, max_faces=max_faces, min_detection_confidence=min_detection_confidence)


def shared_landmarker(max_faces: int = 4, min_detection_confidence: float = 0.5) -> FaceLandmarker:
    """The process-wide image-mode :class:`FaceLandmarker` for these settings (built once)."""
    return _shared_image_landmarker(int(max_faces), float(min_detection_confidence))


def detect_landmarks(image: Any, max_faces: int = 4, min_detection_confidence: float = 0.5,
                     what: str | None = None) -> np.ndarray:
    """Landmarks of the largest face in one image.

    Args:
        image: uint8 ``(H, W, 3)`` RGB array or float tensor ``(3, H, W)`` in [0, 1].
        max_faces: faces MediaPipe may return; the one with the largest bounding box is kept.
        min_detection_confidence: MediaPipe's face-detector threshold in (0, 1].
        what: how an error names the image, e.g. "the source image 'face.png'" (default "the
            image"; a single image is not "the clip" of a clip context).

    Returns:
        ``(478, 2)`` float32 pixel ``(x, y)``; "left" groups are the subject's left
        (see :mod:`magplus.face.mesh`).

    Raises:
        NoFaceError: no face in the image. ShapeError: wrong image type/shape.
        DependencyError: MediaPipe is missing.
    """
    return shared_landmarker(max_faces, min_detection_confidence).detect(image, what=what or "the image")


def _clip_frames(frames: Any) -> np.ndarray:
    """uint8 ``(T, H, W, 3)`` from float frames ``(T, 3, H, W)`` or a uint8 array of that layout."""
    if isinstance(frames, np.ndarray):
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ShapeError(f"frames must be a uint8 array (T, H, W, 3) or float frames (T, 3, H, W), got {describe_shape(frames)}.")
        return frames
    check_frames(frames, "frames")
    return to_uint8(frames)


def track_landmarks(
    frames: Any,
    smooth: str | None = None,
    max_faces: int = 4,
    min_detection_confidence: float = 0.5,
    progress: bool = False,
    *,
    what: str | None = None,
    fps: float | None = None,
    **smooth_options: Any,
) -> np.ndarray:
    """Landmarks over a clip with MediaPipe's video mode (tracks from one frame to the next).

    Face-less frames are bridged or refused by :func:`magplus.face.gaps.bridge_gaps`.

    Args:
        frames: float ``(T, 3, H, W)`` in [0, 1] or uint8 ``(T, H, W, 3)``.
        smooth: None (default: raw tracker output, right for measuring motion), "savgol"
            (Savitzky–Golay, zero lag, offline) or "one_euro" (causal, adaptive); see
            :func:`magplus.face.smoothing.smooth_track` for ``smooth_options``.
        max_faces, min_detection_confidence: as in :func:`detect_landmarks`.
        progress: show a tqdm bar.
        what: how messages name the clip, e.g. "driving clip 'x.mp4'" (default: the
            :func:`~magplus.context.clip_context` label, else "the clip").
        fps: frame rate, for the longest bridged gap (and the One-Euro filter); default: the
            context's, else 30.

    Returns:
        ``(T, 478, 2)`` float32 pixel ``(x, y)``.

    Raises:
        NoFaceError: frame 0 has no face or the face-less gaps are too long; ``frames`` lists them.
    """
    clip = _clip_frames(frames)
    with FaceLandmarker(video=True, max_faces=max_faces, min_detection_confidence=min_detection_confidence) as marker:
        points, found = marker.find_all(clip, progress=progress)
    out = bridge_gaps(points, found, clip_label(what), fps)
    if smooth is not None:
        if smooth == "one_euro" and "fps" not in smooth_options:
            smooth_options["fps"] = clip_fps(fps)[0]
        out = smooth_track(out, method=smooth, **smooth_options)
    return out


def detect_landmarks_batch(frames: Any, max_faces: int = 4, min_detection_confidence: float = 0.5, *,
                           what: str | None = None, fps: float | None = None, bridge: bool = True) -> np.ndarray:
    """Landmarks of every frame detected independently (image mode: no tracking between frames).

    Args:
        frames: float ``(T, 3, H, W)`` in [0, 1] or uint8 ``(T, H, W, 3)``.
        max_faces, min_detection_confidence: as in :func:`detect_landmarks`.
        what, fps: as in :func:`track_landmarks`.
        bridge: True (a clip): face-less frames are bridged or refused by
            :func:`magplus.face.gaps.bridge_gaps`; False (unrelated images): any face-less frame is
            an error.

    Returns:
        ``(T, 478, 2)`` float32. Raises NoFaceError with ``frame_index`` and ``frames`` set.
    """
    clip = _clip_frames(frames)
    points, found = shared_landmarker(max_faces, min_detection_confidence).find_all(clip)
    label = clip_label(what, "the batch")
    if not bridge and not found.all():
        missing = [int(i) for i in np.flatnonzero(~found)]
        raise NoFaceError(f"no face found in {format_runs(missing_runs(found))} of {label}; every image needs a "
                          "visible, roughly frontal face.", frame_index=missing[0], frames=missing)
    return bridge_gaps(points, found, label, fps)
