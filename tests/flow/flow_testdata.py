"""Textured test images with exact sub-pixel translations (helpers shared by tests/flow)."""

from __future__ import annotations

import math

import torch


def make_texture(size: int = 128, sigma: float = 1.5, seed: int = 0, channels: int = 3) -> torch.Tensor:
    """Periodic smooth random texture ``(1, C, size, size)`` float64 in [0, 1] (std 0.15 around 0.5).

    Gaussian-filtered white noise: band-limited, so a Fourier shift of it is an exact translation.
    """
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(1, channels, size, size, generator=gen, dtype=torch.float64)
    freq = torch.fft.fftfreq(size, dtype=torch.float64)
    fy, fx = torch.meshgrid(freq, freq, indexing="ij")
    lowpass = torch.exp(-2.0 * (math.pi * sigma) ** 2 * (fx**2 + fy**2))
    image = torch.fft.ifft2(torch.fft.fft2(noise) * lowpass).real
    image = (image - image.mean()) / image.std() * 0.15 + 0.5
    return image.clamp(0, 1)


def fourier_shift(image: torch.Tensor, dx: float, dy: float) -> torch.Tensor:
    """Translate a periodic image by ``(dx, dy)`` pixels: ``out(p) = image(p - d)``.

    So the flow from ``image`` to ``out`` is the constant ``(dx, dy)`` (``out(p + d) = image(p)``).
    """
    height, width = image.shape[-2:]
    fy, fx = torch.meshgrid(torch.fft.fftfreq(height, dtype=torch.float64),
                            torch.fft.fftfreq(width, dtype=torch.float64), indexing="ij")
    phase = torch.exp(-2j * math.pi * (fx * dx + fy * dy))
    return torch.fft.ifft2(torch.fft.fft2(image.double()) * phase).real.to(image.dtype)


def interior_epe(flow: torch.Tensor, dx: float, dy: float, border: int = 10) -> float:
    """Mean end-point error of ``(B, 2, H, W)`` against a constant flow, ignoring ``border`` pixels."""
    truth = torch.tensor([dx, dy], dtype=flow.dtype).view(1, 2, 1, 1)
    error = (flow - truth).norm(dim=1)
    return float(error[:, border:-border, border:-border].mean())


def _cosine_image(x: torch.Tensor, y: torch.Tensor, seed: int = 1, terms: int = 48) -> torch.Tensor:
    """A band-limited continuous image (sum of random cosines, up to 0.15 cycles/px) at (x, y) -> [0, 1]."""
    gen = torch.Generator().manual_seed(seed)
    freq = (torch.rand(terms, 2, generator=gen, dtype=torch.float64) - 0.5) * 0.3
    phase = torch.rand(terms, generator=gen, dtype=torch.float64) * 2 * math.pi
    arg = 2 * math.pi * (freq[:, 0, None, None] * x + freq[:, 1, None, None] * y) + phase[:, None, None]
    return 0.5 + 0.5 * torch.cos(arg).sum(dim=0) / math.sqrt(2 * terms) * 0.6


def nonrigid_pair(size: int = 96, amplitude: float = 1.5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(src, tgt, flow)`` with exact ground truth for a smooth non-rigid motion.

    ``tgt(q) = I(q - G(q))`` for a smooth field ``G``, so the pixel ``p`` of ``src = I`` moves to
    ``q = p + G(q)``; that fixed point is solved to machine precision and ``flow(p) = q - p``.
    Returns src and tgt ``(1, 3, size, size)`` float32 and flow ``(1, 2, size, size)`` float32.
    """
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64),
                            indexing="ij")

    def field(x, y):
        gx = amplitude * torch.sin(2 * math.pi * x / (1.3 * size)) * torch.cos(2 * math.pi * y / (1.1 * size) + 0.4)
        gy = amplitude * 0.7 * torch.cos(2 * math.pi * (x + y) / (1.7 * size) + 1.0)
        return gx, gy

    gx, gy = field(xs, ys)
    tgt = _cosine_image(xs - gx, ys - gy)
    qx, qy = xs.clone(), ys.clone()
    for _ in range(60):  # contraction: |dG/dq| < 0.1, so this converges far below float32 precision
        gx, gy = field(qx, qy)
        qx, qy = xs + gx, ys + gy
    src = _cosine_image(xs, ys)
    flow = torch.stack([qx - xs, qy - ys])[None].float()
    as_rgb = lambda img: img.clamp(0, 1)[None, None].expand(1, 3, -1, -1).float()  # noqa: E731
    return as_rgb(src), as_rgb(tgt), flow
