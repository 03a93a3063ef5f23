"""Face images for the synthetic generator, and their landmarks (detected once, then cached).

Two public-domain faces ship with the installed dependencies, so nothing is downloaded:

* :func:`default_face`: scikit-image's ``astronaut`` (Eileen Collins, NASA photo, public domain).
* :func:`second_face`: matplotlib's ``grace_hopper.jpg`` sample (Grace Hopper, U.S. Navy photo,
  public domain) — a different person, age, pose and lighting, used as the *target* identity when a
  program rendered on the first face is the driving clip and the same program rendered on the
  second face is the ground truth of a transfer.

Both are cropped to a square around the face (:func:`crop_face`) and resized to 256², the
resolution at which amplitudes are stated (DOMAIN.md §1: "displacement on a 256-px face crop").
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..types import DEFAULT_RESOLUTION, check_image, check_landmarks

#: Side of the square crop relative to the landmark box's larger side. The mesh spans
#: forehead to chin; 1.7x leaves hair, ears and some background, like FOMM / MEGC crops.
CROP_SCALE = 1.7
# The mesh's top landmark (10) sits at the hairline, so its box centre lies low on the face;
# shifting the crop centre up by this fraction of the box height centres the whole head.
_CROP_SHIFT_UP = 0.08

_LANDMARK_CACHE: dict[str, np.ndarray] = {}
_LANDMARK_CACHE_SIZE = 16


def _image_key(image: torch.Tensor) -> str:
    data = image.detach().cpu().contiguous().float().numpy()
    return hashlib.sha1(data.tobytes() + str(data.shape).encode()).hexdigest()


def face_landmarks(image: torch.Tensor) -> np.ndarray:
    """MediaPipe face-mesh landmarks of the largest face, cached by image content.

    Args:
        image: ``(3, H, W)`` float RGB in [0, 1].

    Returns:
        ``(478, 2)`` float64 pixel ``(x, y)`` (a copy: callers may modify it).

    Raises:
        NoFaceError: no face found. ShapeError: bad image.
    """
    check_image(image, "face")
    key = _image_key(image)
    if key not in _LANDMARK_CACHE:
        from ..face.landmarks import detect_landmarks

        if len(_LANDMARK_CACHE) >= _LANDMARK_CACHE_SIZE:
            _LANDMARK_CACHE.pop(next(iter(_LANDMARK_CACHE)))
        _LANDMARK_CACHE[key] = np.asarray(detect_landmarks(image), dtype=np.float64)
    return _LANDMARK_CACHE[key].copy()


def crop_box(landmarks: np.ndarray, scale: float = CROP_SCALE) -> tuple[float, float, float]:
    """Square crop ``(centre_x, centre_y, side)`` in pixels around a face's landmarks."""
    check_landmarks(landmarks, "landmarks")
    low, high = landmarks.min(axis=0), landmarks.max(axis=0)
    extent = high - low
    side = float(extent.max()) * scale
    centre = (low + high) / 2.0
    return float(centre[0]), float(centre[1] - _CROP_SHIFT_UP * extent[1]), side


def crop_face(image: torch.Tensor, landmarks: np.ndarray | None = None, size: int = DEFAULT_RESOLUTION,
              scale: float = CROP_SCALE) -> torch.Tensor:
    """Crop a square around the face and resize it to ``size``² (bicubic, anti-aliased).

    Pixels outside the image are filled by replicating the border.

    Args:
        image: ``(3, H, W)`` float RGB in [0, 1].
        landmarks: ``(N, 2)`` pixel landmarks of ``image``; detected when None.
        size: output side in pixels (>= 32).
        scale: crop side / larger side of the landmark box.

    Returns:
        ``(3, size, size)`` float32 in [0, 1].
    """
    check_image(image, "image")
    if int(size) < 32:
        raise InputError(f"size must be >= 32 pixels, got {size}.")
    if landmarks is None:
        landmarks = face_landmarks(image)
    cx, cy, side = crop_box(np.asarray(landmarks, dtype=np.float64), scale)
    half = side / 2.0
    x0, y0 = int(np.floor(cx - half)), int(np.floor(cy - half))
    n = int(np.ceil(side))
    _, height, width = image.shape
    pad = (max(0, -x0), max(0, x0 + n - width), max(0, -y0), max(0, y0 + n - height))
    padded = F.pad(image[None], pad, mode="replicate")[0] if any(pad) else image
    x0, y0 = x0 + pad[0], y0 + pad[2]
    patch = padded[:, y0:y0 + n, x0:x0 + n]
    out = F.interpolate(patch[None], size=(int(size), int(size)), mode="bicubic", align_corners=False,
                        antialias=n > size)
    return out[0].clamp(0.0, 1.0).contiguous()


@functools.lru_cache(maxsize=2)
def _cached_crop(name: str, size: int) -> torch.Tensor:
    if name == "astronaut":
        from skimage import data

        array = data.astronaut()
    else:
        from matplotlib import cbook
        from PIL import Image

        with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as img:
            array = np.asarray(img.convert("RGB"))
    image = torch.from_numpy(np.array(array, dtype=np.uint8)).permute(2, 0, 1).float() / 255.0
    return crop_face(image, size=size)


def default_face(size: int = DEFAULT_RESOLUTION) -> torch.Tensor:
    """The default face: scikit-image's public-domain ``astronaut``, cropped and resized.

    Returns:
        ``(3, size, size)`` float32 RGB in [0, 1] (a fresh copy).
    """
    return _cached_crop("astronaut", int(size)).clone()


def second_face(size: int = DEFAULT_RESOLUTION) -> torch.Tensor:
    """A different person for transfer ground truth: matplotlib's public-domain Grace Hopper photo.

    Returns:
        ``(3, size, size)`` float32 RGB in [0, 1] (a fresh copy).
    """
    return _cached_crop("grace_hopper", int(size)).clone()


def as_face_tensor(face: Any) -> torch.Tensor:
    """Accept a face as a ``(3, H, W)`` float tensor or a uint8 ``(H, W, 3)`` array; None -> default."""
    if face is None:
        return default_face()
    if isinstance(face, np.ndarray) and face.dtype == np.uint8 and face.ndim == 3 and face.shape[2] == 3:
        face = torch.from_numpy(np.ascontiguousarray(face)).permute(2, 0, 1).float() / 255.0
    check_image(face, "face")
    return face.float()
