"""Building blocks of the LivePortrait networks: 3-D conv blocks, the 3-D hourglass, grids, Gaussians,
and the two normalisations of ConvNeXt V2 (channels-first LayerNorm, global response norm).

Attribute names (``conv``, ``norm``, ``down_blocks``, ``up_blocks``, ``gamma``/``beta``, ...) follow the
official state dicts, so the published ``.pth`` files load with ``strict=True``.

Coordinates: keypoints and sampling grids live in ``[-1, 1]^3`` ordered ``(x, y, z)`` with x along the
width, y along the height and z along the depth of a ``(D, H, W)`` volume, built corner-aligned
(``x_j = 2 j / (W - 1) - 1``) although ``grid_sample`` runs with ``align_corners=False`` — what the
official code computes.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..fomm.blocks import SameBlock2d

__all__ = ["coordinate_grid_3d", "gaussian_heatmaps_3d", "LeakySameBlock2d", "ResBlock3d", "DownBlock3d",
           "UpBlock3d", "Hourglass3d", "ChannelsFirstLayerNorm", "GlobalResponseNorm", "channel_width"]


def channel_width(block_expansion: int, level: int, max_features: int) -> int:
    """Channels at pyramid ``level``: ``block_expansion * 2**level``, capped at ``max_features``."""
    return min(max_features, block_expansion * (2 ** level))


def coordinate_grid_3d(spatial_size: Sequence[int], dtype: torch.dtype = torch.float32,
                       device: torch.device | str | None = None) -> torch.Tensor:
    """Corner-aligned normalised coordinates of a ``(D, H, W)`` volume -> ``(D, H, W, 3)`` as ``(x, y, z)``."""
    depth, height, width = (int(s) for s in spatial_size)

    def axis(n: int) -> torch.Tensor:
        # Same operation order as the reference (divide, double, shift) so rounding matches bit for bit.
        return 2 * (torch.arange(n, dtype=dtype, device=device) / (n - 1)) - 1

    xs = axis(width).view(1, 1, width).expand(depth, height, width)
    ys = axis(height).view(1, height, 1).expand(depth, height, width)
    zs = axis(depth).view(depth, 1, 1).expand(depth, height, width)
    return torch.stack([xs, ys, zs], dim=3)


def gaussian_heatmaps_3d(keypoints: torch.Tensor, spatial_size: Sequence[int], variance: float = 0.01) -> torch.Tensor:
    """``exp(-|p - kp|^2 / (2 variance))`` per keypoint: ``(B, K, 3)`` -> ``(B, K, D, H, W)``."""
    grid = coordinate_grid_3d(spatial_size, keypoints.dtype, keypoints.device)
    diff = grid[None, None] - keypoints[:, :, None, None, None, :]
    return torch.exp(-0.5 * (diff ** 2).sum(-1) / variance)


class LeakySameBlock2d(SameBlock2d):
    """Conv, BN, leaky ReLU (slope 0.01) at constant resolution (the warping module's ``third`` block)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.norm(self.conv(x)))


class ResBlock3d(nn.Module):
    """Pre-activation residual block ``x + conv2(relu(bn2(conv1(relu(bn1(x))))))``, 3x3x3 convs."""

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv3d(features, features, kernel_size=3, padding=1)
        self.conv2 = nn.Conv3d(features, features, kernel_size=3, padding=1)
        self.norm1 = nn.BatchNorm3d(features, affine=True)
        self.norm2 = nn.BatchNorm3d(features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        return self.conv2(F.relu(self.norm2(out))) + x


class DownBlock3d(nn.Module):
    """Conv3d, BN, ReLU, then average pooling over H and W only: ``(B, C, D, H, W) -> (B, C', D, H/2, W/2)``."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.conv = nn.Conv3d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(out_features, affine=True)
        self.pool = nn.AvgPool3d(kernel_size=(1, 2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(F.relu(self.norm(self.conv(x))))


class UpBlock3d(nn.Module):
    """Legacy-nearest upsampling of H and W by 2, then Conv3d, BN, ReLU."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.conv = nn.Conv3d(in_features, out_features, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.interpolate(x, scale_factor=(1, 2, 2))  # legacy "nearest", as upstream
        return F.relu(self.norm(self.conv(out)))


class _Encoder3d(nn.Module):
    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DownBlock3d(in_features if i == 0 else channel_width(block_expansion, i, max_features),
                        channel_width(block_expansion, i + 1, max_features)) for i in range(num_blocks))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class _Decoder3d(nn.Module):
    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            # The deepest block sees only the bottleneck; the others see [upsampled, skip].
            factor = 1 if i == num_blocks - 1 else 2
            blocks.append(UpBlock3d(factor * channel_width(block_expansion, i + 1, max_features),
                                    channel_width(block_expansion, i, max_features)))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = block_expansion + in_features
        self.conv = nn.Conv3d(self.out_filters, self.out_filters, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(self.out_filters, affine=True)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        skips = list(features)
        out = skips.pop()
        for block in self.up_blocks:
            out = torch.cat([block(out), skips.pop()], dim=1)
        return F.relu(self.norm(self.conv(out)))


class Hourglass3d(nn.Module):
    """3-D U-Net pooling H and W only: ``(B, in_features, D, H, W) -> (B, out_filters, D, H, W)``.

    ``H`` and ``W`` must be divisible by ``2 ** num_blocks``; ``out_filters = block_expansion + in_features``.
    """

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        self.encoder = _Encoder3d(block_expansion, in_features, num_blocks, max_features)
        self.decoder = _Decoder3d(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class ChannelsFirstLayerNorm(nn.Module):
    """LayerNorm over the channels of ``(B, C, H, W)`` (ConvNeXt's downsampling norm), eps 1e-6.

    Written out (mean, biased variance, rsqrt) rather than through ``F.layer_norm`` because that
    is the reference's arithmetic, so rounding matches.
    """

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class GlobalResponseNorm(nn.Module):
    """ConvNeXt V2 GRN on channels-last ``(B, H, W, C)``: ``gamma * (x * N(x)) + beta + x``,
    ``N(x) = |x|_2 over (H, W) / (its channel mean + 1e-6)``."""

    def __init__(self, channels: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, channels))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norms = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        ratio = norms / (norms.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * ratio) + self.beta + x
