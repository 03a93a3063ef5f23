"""Training data for MagPlus / DeMagPlus, made offline with exact ground truth.

A sample is rendered from a source image (a scikit-image photo, a procedural texture or a
user's image) through a known *backward map* ``B`` (pixels, a random smooth field):

    I0(q) = S(q),   It(q) = S(q + B(q)),   target(q) = S(q + α·B(q))

where ``S`` samples the (pre-blurred, possibly down-scaled) source. The target is the frame
whose motion is α times the input's, by definition of the generator; nothing is estimated.
The network's field (``(α-1)·u`` with ``Î = warp(It, (α-1)·u)``) should then equal ``(α-1)·B``
to first order; that is returned as ``field`` for an auxiliary loss.

Inputs get sensor noise and uint8 quantisation; targets are quantised only. Every sample is a
pure function of ``(seed, index)``, so training is deterministic and resumable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..ops.warp import pixel_grid, pixels_to_normalized

#: scikit-image photos used for training; the benchmark uses only the held-out ones.
TRAIN_IMAGES = ("astronaut", "coffee", "rocket", "camera", "brick", "grass", "gravel", "text", "moon",
                "immunohistochemistry", "hubble_deep_field")
HELD_OUT_IMAGES = ("chelsea", "coins", "clock", "page", "retina", "colorwheel")


@dataclass
class MotionRange:
    """How α and the motion amplitude are drawn for one network.

    Attributes:
        alpha_min, alpha_max: α is log-uniform in this range.
        amp_min, amp_max: peak displacement in pixels, log-uniform; of the *output* motion for
            the magnifier (so α·|B| stays learnable), of the *input* motion for the de-magnifier.
        amp_of_output: which of the two the amplitude describes.
        still_fraction: share of samples with no motion at all (teaches a still face to stay still).
    """

    alpha_min: float
    alpha_max: float
    amp_min: float
    amp_max: float
    amp_of_output: bool
    still_fraction: float = 0.08


MAGNIFY_RANGE = MotionRange(1.0, 32.0, 0.25, 6.0, amp_of_output=True)
DEMAGNIFY_RANGE = MotionRange(1.0 / 32.0, 1.0, 0.25, 8.0, amp_of_output=False)


def _to_rgb_tensor(array: np.ndarray) -> torch.Tensor:
    """Any scikit-image / PIL array -> float ``(3, H, W)`` in [0, 1]."""
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.float32)
    elif array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    else:
        array = array.astype(np.float32)
        array = (array - array.min()) / max(float(array.max() - array.min()), 1e-6)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    return torch.from_numpy(np.ascontiguousarray(array[..., :3])).permute(2, 0, 1).float()


def load_skimage_photos(names: Sequence[str]) -> list[torch.Tensor]:
    """The named photos shipped with scikit-image, each ``(3, H, W)`` in [0, 1]."""
    import skimage.data

    images = []
    for name in names:
        loader = getattr(skimage.data, name, None)
        if loader is None:
            raise InputError(f"scikit-image has no photo {name!r}; pick one of {', '.join(TRAIN_IMAGES + HELD_OUT_IMAGES)}.")
        images.append(_to_rgb_tensor(loader()))
    return images


def load_image_folder(folder: str | Path, limit: int = 500) -> list[torch.Tensor]:
    """Images (png/jpg/bmp) of a user's folder as ``(3, H, W)`` tensors (used as sources)."""
    import cv2

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"--images {str(folder)!r} is not a folder; give a folder of png/jpg images.")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp"})[:limit]
    if not files:
        raise InputError(f"--images {str(folder)!r} holds no png/jpg/bmp image.")
    images = []
    for path in files:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is not None and min(bgr.shape[:2]) >= 32:
            images.append(_to_rgb_tensor(bgr[..., ::-1]))
    return images


def procedural_texture(gen: torch.Generator, size: int) -> torch.Tensor:
    """A random colour texture ``(3, size, size)``: multi-octave noise plus oriented stripes."""
    out = torch.zeros(3, size, size)
    for octave in range(2, 7):
        cells = 2 ** octave
        noise = torch.rand(1, 3, cells, cells, generator=gen)
        out += F.interpolate(noise, size=(size, size), mode="bilinear", align_corners=False)[0] / (1.4 ** octave)
    grid = pixel_grid(size, size)
    angle = float(torch.rand(1, generator=gen)) * math.pi
    period = 4.0 + 20.0 * float(torch.rand(1, generator=gen))
    phase = grid[0] * math.cos(angle) + grid[1] * math.sin(angle)
    out += 0.5 * torch.sin(2 * math.pi * phase / period) * torch.rand(3, 1, 1, generator=gen)
    out = (out - out.amin(dim=(1, 2), keepdim=True)) / (out.amax(dim=(1, 2), keepdim=True) - out.amin(dim=(1, 2), keepdim=True) + 1e-6)
    return out.clamp(0, 1)


def smooth_field(gen: torch.Generator, size: int, peak: float, translation: bool = False) -> torch.Tensor:
    """Random smooth displacement ``(2, size, size)`` in pixels whose largest magnitude is ``peak``.

    A mix of a global translation and a bicubic up-sampled coarse random field (2-6 cells), so
    it covers rigid shifts and local, face-like deformations. ``translation=True`` gives a pure
    translation in a random direction (the Oh et al. test of magnifiers moves whole frames).
    """
    if translation:
        angle = 2.0 * math.pi * float(torch.rand(1, generator=gen))
        direction = torch.tensor([math.cos(angle), math.sin(angle)]).view(2, 1, 1)
        return (peak * direction).expand(2, size, size).clone()
    cells = int(torch.randint(2, 7, (1,), generator=gen))
    coarse = torch.randn(1, 2, cells, cells, generator=gen)
    field = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True)[0]
    field = field + torch.randn(2, 1, 1, generator=gen) * float(torch.rand(1, generator=gen)) * 2.0
    magnitude = field.norm(dim=0).max().clamp_min(1e-6)
    return field * (peak / magnitude)


def sample_source(source: torch.Tensor, origin: tuple[float, float], scale: float, disp: torch.Tensor) -> torch.Tensor:
    """Sample ``source`` ``(3, Hs, Ws)`` at ``origin + scale·(q + disp(q))`` (bilinear)."""
    size = disp.shape[-1]
    coords = pixel_grid(size, size)[None] + disp[None]
    coords = coords * scale + torch.tensor(origin).view(1, 2, 1, 1)
    grid = pixels_to_normalized(coords, source.shape[-2], source.shape[-1])
    return F.grid_sample(source[None], grid, mode="bilinear", padding_mode="reflection", align_corners=True)[0]


def _degrade(image: torch.Tensor, sigma: float, gen: torch.Generator) -> torch.Tensor:
    """Sensor noise then uint8 quantisation."""
    noisy = image + sigma * torch.randn(image.shape, generator=gen)
    return (noisy.clamp(0, 1) * 255).round() / 255


def log_uniform(gen: torch.Generator, low: float, high: float) -> float:
    """A number log-uniform in ``[low, high]``."""
    u = float(torch.rand(1, generator=gen))
    return math.exp(math.log(low) + u * (math.log(high) - math.log(low)))


class SyntheticPairs(torch.utils.data.Dataset):
    """Triplets ``(ref, frame, target)`` with α and the exact field, rendered on demand.

    Args:
        sources: source images ``(3, H, W)`` in [0, 1]; procedural textures are added on top.
        motion: :class:`MotionRange` (``MAGNIFY_RANGE`` or ``DEMAGNIFY_RANGE``).
        size: crop side in pixels (a multiple of 8).
        length: nominal number of samples per epoch.
        seed: base seed; sample ``i`` depends only on ``(seed, i)``.
        texture_fraction: share of samples drawn on a procedural texture.
        max_noise: the input noise σ is uniform in ``[0, max_noise]``.
        translation_fraction: share of samples whose field is a pure translation (0 keeps the
            recipe of the shipped weights: the random draws of the other samples do not change).

    Each item is a dict: ``ref``, ``frame``, ``target`` ``(3, S, S)``, ``alpha`` ``()``,
    ``field`` ``(2, S, S)`` = ``(α-1)·B``, ``supervised`` ``()`` (1: target is exact),
    ``field_valid`` ``()`` (1: ``field`` is known; 0 for pairs whose motion is not, e.g. backbone output).
    """

    def __init__(self, sources: Sequence[torch.Tensor], motion: MotionRange, size: int = 96, length: int = 10**7,
                 seed: int = 0, texture_fraction: float = 0.25, max_noise: float = 0.01,
                 translation_fraction: float = 0.0):
        if size % 8:
            raise InputError(f"size must be a multiple of 8, got {size}.")
        if not sources and texture_fraction <= 0:
            raise InputError("SyntheticPairs needs source images or texture_fraction > 0.")
        self.sources = list(sources)
        self.motion, self.size, self.length, self.seed = motion, size, length, seed
        self.texture_fraction, self.max_noise = texture_fraction, max_noise
        if not 0.0 <= translation_fraction <= 1.0:
            raise InputError(f"translation_fraction must be in [0, 1], got {translation_fraction}.")
        self.translation_fraction = translation_fraction
        self._blurred: dict[tuple[int, int], torch.Tensor] = {}

    def __len__(self) -> int:
        return self.length

    def _source(self, gen: torch.Generator) -> tuple[torch.Tensor, float]:
        """A source image and the down-scaling at which it is sampled (pre-blurred to match)."""
        if not self.sources or float(torch.rand(1, generator=gen)) < self.texture_fraction:
            return procedural_texture(gen, 2 * self.size), float(1.0 + torch.rand(1, generator=gen))
        which = int(torch.randint(len(self.sources), (1,), generator=gen))
        source = self.sources[which]
        largest = min(source.shape[-2:]) / (self.size + 32)
        scale = min(max(log_uniform(gen, 0.7, 3.0), 0.5), max(largest, 0.5))
        if scale > 1.2:  # anti-alias before sampling sparsely (blurred copies are cached)
            k = int(2 * round(scale) + 1)
            if (which, k) not in self._blurred:
                self._blurred[(which, k)] = F.avg_pool2d(source[None], k, stride=1, padding=k // 2, count_include_pad=False)[0]
            source = self._blurred[(which, k)]
        return source, scale

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + int(index))
        m = self.motion
        source, scale = self._source(gen)
        alpha = log_uniform(gen, m.alpha_min, m.alpha_max)
        amplitude = log_uniform(gen, m.amp_min, m.amp_max)
        peak = amplitude / alpha if m.amp_of_output else amplitude
        if float(torch.rand(1, generator=gen)) < m.still_fraction:
            peak = 0.0
        # Drawn only when asked for, so that a zero share leaves every other draw as it was.
        translation = self.translation_fraction > 0 and float(torch.rand(1, generator=gen)) < self.translation_fraction
        backward_map = smooth_field(gen, self.size, peak, translation)
        margin = (max(peak, peak * alpha) + 4) * scale
        span = self.size * scale + 2 * margin
        free_x, free_y = max(source.shape[-1] - span, 0.0), max(source.shape[-2] - span, 0.0)
        origin = (margin + float(torch.rand(1, generator=gen)) * free_x, margin + float(torch.rand(1, generator=gen)) * free_y)
        zero = torch.zeros_like(backward_map)
        sigma = float(torch.rand(1, generator=gen)) * self.max_noise
        return {
            "ref": _degrade(sample_source(source, origin, scale, zero), sigma, gen),
            "frame": _degrade(sample_source(source, origin, scale, backward_map), sigma, gen),
            "target": _degrade(sample_source(source, origin, scale, alpha * backward_map), 0.0, gen),
            "alpha": torch.tensor(alpha, dtype=torch.float32),
            "field": (alpha - 1.0) * backward_map,
            "supervised": torch.tensor(1.0),
            "field_valid": torch.tensor(1.0),
        }
