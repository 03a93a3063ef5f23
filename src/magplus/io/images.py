"""Single images: read and write PNG / JPEG / BMP (and the other formats OpenCV knows).

Images are float32 tensors ``(3, H, W)``, RGB, in [0, 1]. Grayscale files become three equal
channels, an alpha channel is dropped, 16-bit PNGs keep their precision (scaled by 1/65535).
OpenCV does the coding; the bytes go through numpy so that non-ASCII paths work everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError, VideoReadError
from ..types import check_image
from .atomic import atomic_output

#: Extensions of the image files that a folder of frames may hold (lower case).
FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
#: Extensions :func:`write_image` accepts.
WRITABLE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def decode_image_file(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode an image file into an RGB array ``(H, W, 3)`` of dtype uint8 or uint16.

    Raises:
        VideoReadError: the file is missing, empty or not a decodable image.
    """
    import cv2

    path = Path(path)
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise VideoReadError(f"cannot read image {str(path)!r} ({exc.strerror or exc}); check the path.") from None
    # ANYDEPTH keeps 16-bit PNGs; COLOR turns grayscale into 3 channels and drops alpha.
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH) if data.size else None
    if bgr is None:
        raise VideoReadError(f"cannot decode image {str(path)!r}; it is empty or not an image file.")
    if bgr.dtype not in (np.uint8, np.uint16):
        # 32-bit float TIFF/EXR: bring into uint16 range rather than guess a scale per file.
        bgr = (np.clip(bgr.astype(np.float64), 0.0, 1.0) * 65535.0).round().astype(np.uint16)
    return np.ascontiguousarray(bgr[..., ::-1])


def array_to_image(array: np.ndarray) -> torch.Tensor:
    """RGB array ``(H, W, 3)`` uint8/uint16 -> float tensor ``(3, H, W)`` in [0, 1]."""
    scale = 65535.0 if array.dtype == np.uint16 else 255.0
    return torch.from_numpy(array.astype(np.float32) / np.float32(scale)).permute(2, 0, 1).contiguous()


def read_image(path: str | os.PathLike[str]) -> torch.Tensor:
    """Read an image file.

    Args:
        path: a PNG, JPEG, BMP, TIFF or WebP file.

    Returns:
        ``(3, H, W)`` float32 RGB in [0, 1].

    Raises:
        VideoReadError: the file is missing or cannot be decoded.
    """
    return array_to_image(decode_image_file(path))


def image_to_uint8_bgr(image: torch.Tensor) -> np.ndarray:
    """Float image ``(3, H, W)`` in [0, 1] -> uint8 BGR array ``(H, W, 3)`` for OpenCV (rounded)."""
    rgb = (image.detach().float().clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return np.ascontiguousarray(rgb[..., ::-1])


def encode_image_file(path: Path, bgr: np.ndarray, params: tuple[int, ...] = ()) -> None:
    """Encode a BGR uint8 array into ``path`` (format from its extension), without atomicity."""
    import cv2

    ext = path.suffix.lower()
    ok, buffer = cv2.imencode(ext, bgr, list(params))
    if not ok:
        raise InputError(f"OpenCV could not encode an image of shape {bgr.shape} as {ext!r}; use .png.")
    path.write_bytes(buffer.tobytes())


def write_image(path: str | os.PathLike[str], image: torch.Tensor, jpeg_quality: int = 95) -> Path:
    """Write an image atomically (temporary file + rename).

    Args:
        path: target file; the extension picks the format (.png lossless, .jpg/.jpeg lossy, ...).
        image: ``(3, H, W)`` float in [0, 1]; quantised to 8 bits by rounding.
        jpeg_quality: 1..100, used for JPEG only.

    Returns:
        The written path.

    Raises:
        InputError: unknown extension or bad quality; ShapeError: bad image.
    """
    import cv2

    check_image(image, "image")
    target = Path(path)
    ext = target.suffix.lower()
    if ext not in WRITABLE_EXTENSIONS:
        raise InputError(f"image path {str(target)!r} has extension {ext!r}; use one of {', '.join(WRITABLE_EXTENSIONS)}.")
    if not (1 <= int(jpeg_quality) <= 100):
        raise InputError(f"jpeg_quality must be in 1..100, got {jpeg_quality}.")
    bgr = image_to_uint8_bgr(image)
    params = (cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)) if ext in (".jpg", ".jpeg") else ()
    with atomic_output(target) as tmp:
        encode_image_file(tmp, bgr, params)
    return target
