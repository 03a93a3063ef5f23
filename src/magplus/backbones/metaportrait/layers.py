"""Small layers of the MetaPortrait generator, written to load the official state dict as stored.

* Spectral-normalised convolutions keep ``weight_orig``, ``weight_u`` and ``weight_v`` (the names
  ``torch.nn.utils.spectral_norm`` writes). This is an inference-only re-implementation, so the
  weight is always ``weight_orig / (u . (W_mat v))`` with the STORED ``u``/``v``: eval-mode
  spectral norm does no power iteration, and the stored vectors are not exact singular vectors,
  so recomputing sigma (e.g. by SVD) would not reproduce the official outputs.
* ``EqualLinear`` stores ``weight_orig`` and scales it by ``sqrt(2 / fan_in)`` on use.
* ``LayerNorm2d`` normalises over ``(C, H, W)`` jointly with per-channel ``(C, 1, 1)`` affine.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _random_unit(size: int) -> torch.Tensor:
    vector = torch.randn(size)
    return vector / (vector.norm() + 1e-12)


class _StoredSpectralNorm(nn.Module):
    """Base of the spectral-norm layers: holds ``weight_orig`` and the stored ``u``/``v`` buffers.

    ``matrix_dim`` is the weight dimension that becomes the rows of ``W_mat`` (0 for convolutions
    and linears, 1 for transposed convolutions, as torch's spectral_norm does).
    """

    matrix_dim = 0

    def _init_spectral(self, weight_shape: tuple[int, ...], bias: bool) -> None:
        weight = torch.empty(weight_shape)
        nn.init.kaiming_normal_(weight, a=0.2)
        self.weight_orig = nn.Parameter(weight)
        rows = weight_shape[self.matrix_dim]
        self.register_buffer("weight_u", _random_unit(rows))
        self.register_buffer("weight_v", _random_unit(weight.numel() // rows))
        self.bias = nn.Parameter(torch.zeros(rows)) if bias else None

    def normalised_weight(self) -> torch.Tensor:
        """``weight_orig / sigma`` with ``sigma = u . (W_mat v)`` from the stored vectors."""
        weight = self.weight_orig
        if self.matrix_dim != 0:
            order = [self.matrix_dim] + [d for d in range(weight.ndim) if d != self.matrix_dim]
            matrix = weight.permute(*order).reshape(weight.shape[self.matrix_dim], -1)
        else:
            matrix = weight.reshape(weight.shape[0], -1)
        sigma = torch.dot(self.weight_u, torch.mv(matrix, self.weight_v))
        return weight / sigma


class SNConv2d(_StoredSpectralNorm):
    """Spectral-normalised ``Conv2d`` (square kernel). Input ``(B, Cin, H, W)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, bias: bool = True):
        super().__init__()
        self.stride, self.padding = stride, padding
        self._init_spectral((out_channels, in_channels, kernel_size, kernel_size), bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.normalised_weight(), self.bias, self.stride, self.padding)


class SNConvTranspose2d(_StoredSpectralNorm):
    """Spectral-normalised ``ConvTranspose2d`` (stride 1, no padding): ``(B, Cin, H, W)`` -> ``(B, Cout, H+k-1, W+k-1)``."""

    matrix_dim = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True):
        super().__init__()
        self._init_spectral((in_channels, out_channels, kernel_size, kernel_size), bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, self.normalised_weight(), self.bias)


class _EqualLinearCore(nn.Module):
    """The ``linear`` child of :class:`EqualLinear`: ``weight_orig`` scaled by ``sqrt(2 / fan_in)``."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight_orig = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = math.sqrt(2.0 / in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight_orig * self.scale, self.bias)


class EqualLinear(nn.Module):
    """Equalised-learning-rate linear layer (StyleGAN style); state keys ``linear.weight_orig``, ``linear.bias``."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.linear = _EqualLinearCore(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class AdaptiveInstanceNorm(nn.Module):
    """AdaIN driven by the identity code: ``gamma * IN(x) + beta`` with ``[gamma, beta] = style(id)``.

    Input ``x`` ``(B, C, H, W)``, ``style`` ``(B, style_dim)``. ``gamma`` starts at 1, ``beta`` at 0.
    """

    def __init__(self, channels: int, style_dim: int):
        super().__init__()
        self.style = EqualLinear(style_dim, 2 * channels)
        with torch.no_grad():
            self.style.linear.bias[:channels] = 1.0

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.style(style)[:, :, None, None].chunk(2, dim=1)
        return gamma * F.instance_norm(x, eps=1e-5) + beta


class StyleAdaIN(nn.Module):
    """Norm of the dense-motion hourglass: ``IN(x) * (1 + gamma(s)) + beta(s)`` from a style vector.

    ``gamma``/``beta`` come from a two-layer MLP (``mlp_shared`` with ReLU, then linear heads) of
    the ladder-encoder style code ``s`` ``(B, style_dim)``.
    """

    def __init__(self, channels: int, style_dim: int, hidden: int = 128):
        super().__init__()
        self.mlp_shared = nn.Sequential(nn.Linear(style_dim, hidden), nn.ReLU())
        self.mlp_gamma = nn.Linear(hidden, channels)
        self.mlp_beta = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        hidden = self.mlp_shared(style.reshape(style.shape[0], -1))
        gamma = self.mlp_gamma(hidden)[:, :, None, None]
        beta = self.mlp_beta(hidden)[:, :, None, None]
        return F.instance_norm(x, eps=1e-5) * (1 + gamma) + beta


class LayerNorm2d(nn.Module):
    """Layer norm over ``(C, H, W)`` of ``(B, C, H, W)`` with per-channel affine stored as ``(C, 1, 1)``."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape[1:]
        return F.layer_norm(x, shape, self.weight.expand(shape), self.bias.expand(shape), eps=1e-5)


def coordinate_grid(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Corner-aligned grid ``(H, W, 2)`` of ``(x, y)`` in [-1, 1]: ``x_j = 2 j / (W - 1) - 1``."""
    xs = 2 * (torch.arange(width, device=device, dtype=dtype) / (width - 1)) - 1
    ys = 2 * (torch.arange(height, device=device, dtype=dtype) / (height - 1)) - 1
    return torch.stack([xs[None, :].expand(height, width), ys[:, None].expand(height, width)], dim=-1)


def gaussian_heatmaps(points: torch.Tensor, height: int, width: int, variance: float) -> torch.Tensor:
    """Isotropic Gaussians ``exp(-|g - p|^2 / (2 var))`` on the corner-aligned grid.

    Args:
        points: ``(B, K, 2)`` ``(x, y)`` in [-1, 1].

    Returns:
        ``(B, K, H, W)``.
    """
    grid = coordinate_grid(height, width, points.device, points.dtype)
    diff = grid[None, None] - points[:, :, None, None, :]
    return torch.exp(-0.5 * (diff ** 2).sum(-1) / variance)
