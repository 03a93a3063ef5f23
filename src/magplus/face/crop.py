"""Fixed square face crops: box from the onset frame, crop a clip, map landmarks, paste back.

As in the reference reenactment pipelines (FOMM's crop script, the MEGC generation winners) one
square box is computed from the FIRST (onset) frame and kept for the whole clip: a box that
followed the face would itself add motion, of the size of a micro-expression.

Coordinates: continuous pixel coordinates in which an ``H x W`` image spans ``[0, W] x [0, H]``
(pixel ``k`` has its centre at ``k + 0.5``). This is MediaPipe's convention (normalised x times
W) and cv2.resize's, so landmarks from :mod:`magplus.face.landmarks` map exactly. A box
``(x0, y0, size)`` covers ``[x0, x0 + size] x [y0, y0 + size]`` and is resampled to
``S x S`` crop pixels: ``crop_xy = (xy - (x0, y0)) * S / size``.

Parts of a box outside the image are padded by edge replication (default: no black wedges for the
animation network to react to) or zeros (``pad="zeros"``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np
import torch

from ..errors import InputError, ShapeError
from ..types import DEFAULT_RESOLUTION, check_frames, check_landmarks, describe_shape

#: Box side / landmark extent. The 478-point mesh spans forehead to chin; VoxCeleb-style crops
#: (what FOMM, FSRT, MetaPortrait were trained on) show that face over about 55-60 % of the frame,
#: with hair, ears and some neck around it: 1/0.58 ≈ 1.7.
DEFAULT_MARGIN = 1.7
_PADDING = {"edge": cv2.BORDER_REPLICATE, "zeros": cv2.BORDER_CONSTANT}


@dataclass(frozen=True)
class FaceBox:
    """A square box in continuous pixel coordinates (see module docstring).

    Attributes:
        x0, y0: top-left corner (may be negative or beyond the image: padded when cropped).
        size: side length in pixels (> 0).
    """

    x0: float
    y0: float
    size: float

    def __post_init__(self) -> None:
        values = (self.x0, self.y0, self.size)
        if not all(np.isfinite(float(v)) for v in values) or not float(self.size) > 0:
            raise InputError(f"FaceBox needs finite x0, y0 and size > 0, got {values}.")

    @classmethod
    def from_landmarks(
        cls, landmarks: Any, margin: float = DEFAULT_MARGIN, image_size: tuple[int, int] | None = None, shift_y: float = 0.0
    ) -> "FaceBox":
        """Square box centred on the landmarks' bounding box, ``margin`` times its longer side.

        Args:
            landmarks: ``(N, 2)`` pixel (x, y) of ONE frame (normally the onset frame).
            margin: box side / landmark extent, > 0 (default 1.7, see :data:`DEFAULT_MARGIN`).
            image_size: ``(H, W)``; when given and the box fits in the image, the box is shifted
                (never shrunk) to lie inside it, so no padding is needed.
            shift_y: move the centre down by this fraction of the landmark extent (negative: up).
        """
        check_landmarks(landmarks, "landmarks")
        points = np.asarray(landmarks, dtype=np.float64)
        if points.shape[0] < 2 or not np.isfinite(points).all():
            raise InputError(f"landmarks must hold at least 2 finite points, got {points.shape[0]} (finite: {np.isfinite(points).all()}).")
        if not float(margin) > 0:
            raise InputError(f"margin must be > 0 (box side / landmark extent, e.g. {DEFAULT_MARGIN}), got {margin}.")
        low, high = points.min(axis=0), points.max(axis=0)
        extent = float(max(high - low))
        if extent <= 0:
            raise InputError("landmarks all lie on one point; pass the landmarks of a detected face.")
        centre = (low + high) / 2 + np.array([0.0, shift_y * extent])
        size = float(margin) * extent
        x0, y0 = centre - size / 2
        if image_size is not None:
            height, width = check_image_size(image_size, "image_size")
            x0 = _fit(x0, size, width)
            y0 = _fit(y0, size, height)
        return cls(float(x0), float(y0), size)

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FaceBox":
        missing = {"x0", "y0", "size"} - set(data)
        if missing:
            raise InputError(f"a FaceBox dict needs keys x0, y0, size; missing {sorted(missing)}.")
        return cls(float(data["x0"]), float(data["y0"]), float(data["size"]))


def _fit(start: float, size: float, limit: int) -> float:
    # Shift [start, start + size] into [0, limit] when it fits; otherwise keep it centred as given.
    if size > limit:
        return start
    return min(max(start, 0.0), limit - size)


def check_image_size(size: Any, name: str = "size") -> tuple[int, int]:
    """``(H, W)`` as two positive ints, or an InputError naming ``name``."""
    try:
        height, width = (int(v) for v in size)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be the image size (H, W), got {size!r}.") from None
    if height < 1 or width < 1:
        raise InputError(f"{name} must be positive (H, W), got {size!r}.")
    return height, width


def _check_resolution(size: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 2:
        raise InputError(f"size must be an integer crop side >= 2 (e.g. {DEFAULT_RESOLUTION}), got {size!r}.")
    return int(size)


def _as_clip(frames: Any, name: str) -> tuple[torch.Tensor, bool]:
    """``(T, 3, H, W)`` view of frames given as ``(T, 3, H, W)`` or ``(3, H, W)``; True if single."""
    if isinstance(frames, torch.Tensor) and frames.ndim == 3:
        check_frames(frames[None], name)
        return frames[None], True
    check_frames(frames, name)
    return frames, False


def _resample(image: np.ndarray, matrix: np.ndarray, out_hw: tuple[int, int], scale: float, border: int) -> np.ndarray:
    """Bilinear resampling with antialiasing: ``out[i] = image[matrix @ (i, 1)]`` (pixel indices).

    ``scale`` is input pixels per output pixel; above 1 the image is first blurred with a Gaussian
    of sigma ``(scale - 1) / 2`` (scikit-image's antialiasing rule) so that shrinking does not alias.
    """
    if scale > 1.0:
        sigma = (scale - 1.0) / 2.0
        image = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    out = cv2.warpAffine(image, matrix, (out_hw[1], out_hw[0]), flags=flags, borderMode=border, borderValue=0)
    return out.reshape(out_hw + image.shape[2:])


def _crop_to_image_matrix(box: FaceBox, size: int) -> np.ndarray:
    """2x3 matrix from crop pixel indices to image pixel indices (centres at k + 0.5 both sides)."""
    scale = box.size / size
    return np.array([[scale, 0.0, box.x0 + 0.5 * scale - 0.5], [0.0, scale, box.y0 + 0.5 * scale - 0.5]])


def _image_to_crop_matrix(box: FaceBox, size: int) -> np.ndarray:
    return cv2.invertAffineTransform(_crop_to_image_matrix(box, size))


def crop(frames: torch.Tensor, box: FaceBox, size: int = DEFAULT_RESOLUTION, pad: str = "edge") -> torch.Tensor:
    """Cut the same square ``box`` out of every frame and resize it to ``size x size``.

    Args:
        frames: ``(T, 3, H, W)`` or ``(3, H, W)`` float in [0, 1].
        box: the :class:`FaceBox` (fixed over the clip).
        size: output side S in pixels.
        pad: "edge" (replicate border pixels) or "zeros" for parts of the box outside the image.

    Returns:
        ``(T, 3, S, S)`` (or ``(3, S, S)`` for a single image), float32, bilinear with antialiasing
        when the box is larger than S.
    """
    clip, single = _as_clip(frames, "frames")
    size = _check_resolution(size)
    if not isinstance(box, FaceBox):
        raise InputError(f"box must be a FaceBox, got {type(box).__name__}.")
    if pad not in _PADDING:
        raise InputError(f"pad must be one of {sorted(_PADDING)}, got {pad!r}.")
    matrix = _crop_to_image_matrix(box, size)
    images = clip.detach().float().cpu().permute(0, 2, 3, 1).numpy()
    out = np.stack([_resample(img, matrix, (size, size), box.size / size, _PADDING[pad]) for img in images])
    # Back to contiguous (T, 3, S, S): a channels-last view would make every later pass over the
    # crops (range checks, flow, warps) strided, e.g. a min/max 18x slower.
    result = torch.from_numpy(out).permute(0, 3, 1, 2).contiguous().clamp_(0, 1).to(clip.device)
    return result[0] if single else result


def _map_points(landmarks: Any, offset: np.ndarray, factor: float, name: str) -> Any:
    """``(landmarks - offset) * factor`` for ``(N, 2)`` or ``(T, N, 2)`` numpy/torch points."""
    shape = getattr(landmarks, "shape", None)
    if shape is None or len(shape) not in (2, 3) or shape[-1] != 2:
        raise ShapeError(f"{name} must have shape (N, 2) or (T, N, 2), got {describe_shape(landmarks)}.")
    if isinstance(landmarks, torch.Tensor):
        return (landmarks - torch.as_tensor(offset, dtype=landmarks.dtype, device=landmarks.device)) * factor
    points = np.asarray(landmarks)
    dtype = points.dtype if np.issubdtype(points.dtype, np.floating) else np.float32
    return ((points - offset) * factor).astype(dtype)


def crop_landmarks(landmarks: Any, box: FaceBox, size: int = DEFAULT_RESOLUTION) -> Any:
    """Image pixel (x, y) -> crop pixel (x, y): ``(p - (x0, y0)) * size / box.size``.

    Args:
        landmarks: ``(N, 2)`` or ``(T, N, 2)``, numpy or torch (type and dtype are kept).
    """
    size = _check_resolution(size)
    return _map_points(landmarks, np.array([box.x0, box.y0]), size / box.size, "landmarks")


def uncrop_landmarks(landmarks: Any, box: FaceBox, size: int = DEFAULT_RESOLUTION) -> Any:
    """Crop pixel (x, y) -> image pixel (x, y); the inverse of :func:`crop_landmarks`."""
    size = _check_resolution(size)
    scaled = _map_points(landmarks, np.zeros(2), box.size / size, "landmarks")
    offset = np.array([box.x0, box.y0])
    if isinstance(scaled, torch.Tensor):
        return scaled + torch.as_tensor(offset, dtype=scaled.dtype, device=scaled.device)
    return (scaled + offset).astype(scaled.dtype)


def feather_weight(size: int, feather: float) -> np.ndarray:
    """``(S, S)`` blend weight: 1 inside, a smoothstep to 0 over ``feather * S`` pixels at each edge."""
    if not 0.0 <= float(feather) <= 0.5:
        raise InputError(f"feather must lie in [0, 0.5] (fraction of the crop side), got {feather}.")
    centres = np.arange(size, dtype=np.float32) + 0.5
    distance = np.minimum(centres, size - centres)  # to the nearest crop edge, in crop pixels
    width = max(float(feather) * size, 1e-6)
    ramp = np.clip(distance / width, 0.0, 1.0)
    ramp = ramp * ramp * (3.0 - 2.0 * ramp)
    return np.outer(ramp, ramp).astype(np.float32)


def _blend_weights(mask: Any, frames: int, size: int, feather: float) -> np.ndarray:
    """``(T, S, S)`` weights in crop coordinates: feathered box times the optional mask."""
    weight = np.broadcast_to(feather_weight(size, feather), (frames, size, size))
    if mask is None:
        return weight
    values = mask.detach().float().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask, np.float32)
    if values.shape not in ((size, size), (frames, size, size)):
        raise ShapeError(f"mask must have shape ({size}, {size}) or ({frames}, {size}, {size}) in crop pixels, got {values.shape}.")
    if values.min() < -1e-3 or values.max() > 1 + 1e-3:
        raise ShapeError(f"mask values must lie in [0, 1], got range [{values.min():.3g}, {values.max():.3g}].")
    return weight * np.clip(values, 0.0, 1.0)


def paste_back(
    full_frames: torch.Tensor, crops: torch.Tensor, box: FaceBox, feather: float = 0.1, mask: Any = None
) -> torch.Tensor:
    """Put crops back where :func:`crop` took them from, with a soft-edged blend.

    Args:
        full_frames: ``(T, 3, H, W)`` (or ``(3, H, W)``) originals in [0, 1] (not modified).
        crops: ``(T, 3, S, S)`` (or ``(3, S, S)``), e.g. a backbone's output for the cropped clip.
        box: the box the crops were cut with.
        feather: width of the blend ramp at the crop border, as a fraction of S (0 = hard edge).
        mask: optional ``(S, S)`` or ``(T, S, S)`` weight in [0, 1] in crop pixels (e.g. a face
            mask from :mod:`magplus.face.regions`), multiplied with the feathered box.

    Returns:
        ``(T, 3, H, W)`` (or ``(3, H, W)``): ``full * (1 - w) + resampled_crop * w``.
    """
    full, single = _as_clip(full_frames, "full_frames")
    patch, patch_single = _as_clip(crops, "crops")
    if single != patch_single or patch.shape[0] != full.shape[0] or patch.shape[-1] != patch.shape[-2]:
        raise ShapeError(
            f"crops must be square and match full_frames' frame count, got {tuple(crops.shape)} for {tuple(full_frames.shape)}."
        )
    if not isinstance(box, FaceBox):
        raise InputError(f"box must be a FaceBox, got {type(box).__name__}.")
    count, _, height, width = full.shape
    size = int(patch.shape[-1])
    weights = _blend_weights(mask, count, size, feather)
    matrix = _image_to_crop_matrix(box, size)
    scale = size / box.size  # crop pixels per image pixel
    patches = patch.detach().float().cpu().permute(0, 2, 3, 1).numpy()
    result = full.detach().float().cpu().permute(0, 2, 3, 1).numpy().copy()
    for t in range(count):
        # The weight rides along as a 4th channel so colour and weight are resampled identically.
        stacked = np.concatenate([patches[t], weights[t][..., None]], axis=-1)
        warped = _resample(np.ascontiguousarray(stacked), matrix, (height, width), scale, cv2.BORDER_CONSTANT)
        w = np.clip(warped[..., 3:], 0.0, 1.0)
        result[t] = result[t] * (1.0 - w) + np.clip(warped[..., :3], 0.0, 1.0) * w
    out = torch.from_numpy(result).permute(0, 3, 1, 2).to(full.device)
    return out[0] if single else out


def crop_face_clip(
    frames: torch.Tensor, landmarks_of_first: Any = None, margin: float = DEFAULT_MARGIN, size: int = DEFAULT_RESOLUTION
) -> tuple[torch.Tensor, FaceBox]:
    """Detect the face on frame 0 (unless landmarks are given), fix the box, crop every frame.

    Args:
        frames: ``(T, 3, H, W)`` float in [0, 1].
        landmarks_of_first: ``(N, 2)`` landmarks of frame 0, or None to run MediaPipe on it.
        margin, size: as in :meth:`FaceBox.from_landmarks` and :func:`crop`.

    Returns:
        ``(crops (T, 3, S, S), box)``. Raises NoFaceError when frame 0 has no face.
    """
    check_frames(frames, "frames")
    if landmarks_of_first is None:
        from ..context import clip_label
        from .landmarks import shared_landmarker

        what = f"frame 0 (onset) of {clip_label()}"
        landmarks_of_first = shared_landmarker().detect(frames[0], what=what, frame_index=0)
    box = FaceBox.from_landmarks(landmarks_of_first, margin=margin, image_size=tuple(frames.shape[-2:]))
    return crop(frames, box, size), box
