"""Building blocks shared by FOMM-family models (FOMM, FSRT's keypoint detector, MetaPortrait).

Module and attribute names (``conv``, ``norm``, ``down_blocks``, ``up_blocks``, ``weight`` of the
anti-alias filter, ...) follow the state-dict layout of the official first-order-model
checkpoints, so published weights load with ``strict=True``. The official code uses
``SynchronizedBatchNorm2d``; in eval mode it is exactly ``nn.BatchNorm2d`` (same keys, same math),
so plain BatchNorm is used here.

Coordinates: keypoints and sampling grids live in ``[-1, 1]`` with ``x`` along the width, built
*corner-aligned* (``x_j = 2 j / (W - 1) - 1``) even though :func:`torch.nn.functional.grid_sample`
is called with ``align_corners=False`` by default — this mix is what the official code computes on
torch >= 1.3 and what its checkpoints are used with today.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "make_coordinate_grid",
    "kp2gaussian",
    "ResBlock2d",
    "UpBlock2d",
    "DownBlock2d",
    "SameBlock2d",
    "Encoder",
    "Decoder",
    "Hourglass",
    "AntiAliasInterpolation2d",
]


def make_coordinate_grid(spatial_size: Sequence[int], dtype: torch.dtype = torch.float32,
                         device: torch.device | str | None = None) -> torch.Tensor:
    """Corner-aligned normalised pixel coordinates.

    Args:
        spatial_size: ``(H, W)``.

    Returns:
        ``(H, W, 2)`` with ``[..., 0] = x_j = 2 j / (W - 1) - 1`` and ``[..., 1] = y_i`` alike.
    """
    height, width = int(spatial_size[0]), int(spatial_size[1])
    # Same operation order as the reference (divide, double, shift) so rounding matches bit for bit.
    xs = 2 * (torch.arange(width, dtype=dtype, device=device) / (width - 1)) - 1
    ys = 2 * (torch.arange(height, dtype=dtype, device=device) / (height - 1)) - 1
    grid_x = xs.view(1, width).expand(height, width)
    grid_y = ys.view(height, 1).expand(height, width)
    return torch.stack([grid_x, grid_y], dim=2)


def kp2gaussian(kp: Mapping[str, torch.Tensor] | torch.Tensor, spatial_size: Sequence[int],
                kp_variance: float) -> torch.Tensor:
    """Isotropic Gaussian blob around every keypoint.

    Args:
        kp: a dict with ``"value"`` ``(..., K, 2)`` or that tensor itself, in [-1, 1] (x, y).
        spatial_size: ``(H, W)`` of the output maps.
        kp_variance: variance in normalised units (FOMM uses 0.01).

    Returns:
        ``(..., K, H, W)``: ``exp(-0.5 |z - kp|^2 / kp_variance)``.
    """
    mean = kp["value"] if isinstance(kp, Mapping) else kp
    grid = make_coordinate_grid(spatial_size, mean.dtype, mean.device)  # (H, W, 2)
    lead = mean.shape[:-1]
    diff = grid.view((1,) * len(lead) + grid.shape) - mean.view(*lead, 1, 1, 2)
    return torch.exp(-0.5 * (diff ** 2).sum(-1) / kp_variance)


class ResBlock2d(nn.Module):
    """Pre-activation residual block (BN -> ReLU -> conv, twice) that keeps resolution."""

    #: ReLU and the residual sum in place (set on inference copies, :func:`.fast.inference_copy`):
    #: each input overwritten is a fresh BatchNorm or convolution output, never the block input.
    inplace_relu = False

    def __init__(self, in_features: int, kernel_size: int | tuple[int, int], padding: int | tuple[int, int]):
        super().__init__()
        self.conv1 = nn.Conv2d(in_features, in_features, kernel_size=kernel_size, padding=padding)
        self.conv2 = nn.Conv2d(in_features, in_features, kernel_size=kernel_size, padding=padding)
        self.norm1 = nn.BatchNorm2d(in_features, affine=True)
        self.norm2 = nn.BatchNorm2d(in_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x), inplace=self.inplace_relu))
        out = self.conv2(F.relu(self.norm2(out), inplace=self.inplace_relu))
        return out.add_(x) if self.inplace_relu else out + x


class UpBlock2d(nn.Module):
    """Nearest 2x upsampling, conv, BN, ReLU: ``(B, C_in, H, W) -> (B, C_out, 2H, 2W)``."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int | tuple[int, int] = 3,
                 padding: int | tuple[int, int] = 1, groups: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size, padding=padding, groups=groups)
        self.norm = nn.BatchNorm2d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Legacy "nearest" (not "nearest-exact"): that is what interpolate(scale_factor=2) means.
        out = F.interpolate(x, scale_factor=2)
        return F.relu(self.norm(self.conv(out)))


class DownBlock2d(nn.Module):
    """Conv, BN, ReLU, 2x2 average pooling: ``(B, C_in, H, W) -> (B, C_out, H/2, W/2)``."""

    inplace_relu = False  # see ResBlock2d

    def __init__(self, in_features: int, out_features: int, kernel_size: int | tuple[int, int] = 3,
                 padding: int | tuple[int, int] = 1, groups: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size, padding=padding, groups=groups)
        self.norm = nn.BatchNorm2d(out_features, affine=True)
        self.pool = nn.AvgPool2d(kernel_size=(2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(F.relu(self.norm(self.conv(x)), inplace=self.inplace_relu))


class SameBlock2d(nn.Module):
    """Conv, BN, ReLU at constant resolution."""

    inplace_relu = False  # see ResBlock2d

    def __init__(self, in_features: int, out_features: int, groups: int = 1,
                 kernel_size: int | tuple[int, int] = 3, padding: int | tuple[int, int] = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size, padding=padding, groups=groups)
        self.norm = nn.BatchNorm2d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)), inplace=self.inplace_relu)


def _width(block_expansion: int, level: int, max_features: int) -> int:
    """Channel count at pyramid ``level``: doubles per level, capped at ``max_features``."""
    return min(max_features, block_expansion * (2 ** level))


class Encoder(nn.Module):
    """Hourglass encoder: ``num_blocks`` DownBlock2d; returns the input and every block output."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256):
        super().__init__()
        blocks = []
        for i in range(num_blocks):
            cin = in_features if i == 0 else _width(block_expansion, i, max_features)
            blocks.append(DownBlock2d(cin, _width(block_expansion, i + 1, max_features), kernel_size=3, padding=1))
        self.down_blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class Decoder(nn.Module):
    """Hourglass decoder: UpBlock2d per level, each output concatenated with the encoder skip.

    The final output has ``out_filters = block_expansion + in_features`` channels.
    """

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256):
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            # The deepest block sees only the bottleneck; the others see [upsampled, skip].
            factor = 1 if i == num_blocks - 1 else 2
            cin = factor * _width(block_expansion, i + 1, max_features)
            blocks.append(UpBlock2d(cin, _width(block_expansion, i, max_features), kernel_size=3, padding=1))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = block_expansion + in_features

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        skips = list(features)  # never consume the caller's list
        out = skips.pop()
        for block in self.up_blocks:
            out = torch.cat([block(out), skips.pop()], dim=1)
        return out


class Hourglass(nn.Module):
    """U-Net style encoder/decoder: ``(B, in_features, H, W) -> (B, out_filters, H, W)``.

    ``H`` and ``W`` must be divisible by ``2 ** num_blocks``.
    """

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256):
        super().__init__()
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features)
        self.decoder = Decoder(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class AntiAliasInterpolation2d(nn.Module):
    """Gaussian blur then integer subsampling, to downscale without aliasing.

    The blur has ``sigma = (1 / scale - 1) / 2`` and a ``2 * round(4 sigma) + 1`` square kernel
    normalised to sum 1, applied per channel with zero padding; then every ``1/scale``-th pixel
    is kept. The kernel is a state-dict buffer named ``weight`` (``(C, 1, k, k)``), as in the
    official checkpoints.
    """

    def __init__(self, channels: int, scale: float):
        super().__init__()
        sigma = (1 / scale - 1) / 2
        size = 2 * round(sigma * 4) + 1
        self.ka = size // 2
        self.kb = self.ka - 1 if size % 2 == 0 else self.ka
        axis = torch.arange(size, dtype=torch.float32)
        bump = torch.exp(-((axis - (size - 1) / 2) ** 2) / (2 * sigma ** 2)) if sigma > 0 else (axis == (size - 1) / 2).float()
        kernel = bump.view(-1, 1) * bump.view(1, -1)
        kernel = kernel / kernel.sum()
        self.register_buffer("weight", kernel.view(1, 1, size, size).repeat(channels, 1, 1, 1))
        self.groups = channels
        self.scale = scale
        self.int_inv_scale = int(1 / scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W) -> (B, C, ceil(H * scale), ceil(W * scale))``."""
        if self.scale == 1.0:
            return x
        out = F.pad(x, (self.ka, self.kb, self.ka, self.kb))
        out = F.conv2d(out, weight=self.weight, groups=self.groups)
        step = self.int_inv_scale
        return out[:, :, ::step, ::step]
