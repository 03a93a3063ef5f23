"""MetaPortrait's U-Net hourglass: conv blocks normalised by instance norm or by style-driven AdaIN.

Two hourglasses use it: the feature encoder of the refinement network (affine instance norm) and
the dense-motion network (AdaIN from the ladder style code, each block followed by a same-size
block: the upstream ``Lwarp`` option). Key names follow the official state dict
(``encoder.down_blocks.<i>.conv``, ``.norm``, ``.SameBlock2d``; ``decoder.up_blocks.<i>``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import StyleAdaIN


class _ConvNormRelu(nn.Module):
    """conv3x3 -> norm -> ReLU. ``style_dim > 0`` selects AdaIN, else affine instance norm."""

    def __init__(self, in_channels: int, out_channels: int, style_dim: int, adain_hidden: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.styled = style_dim > 0
        if self.styled:
            self.norm = StyleAdaIN(out_channels, style_dim, adain_hidden)
        else:
            self.norm = nn.InstanceNorm2d(out_channels, affine=True)

    def _conv_norm_relu(self, x: torch.Tensor, style: torch.Tensor | None) -> torch.Tensor:
        out = self.conv(x)
        out = self.norm(out, style) if self.styled else self.norm(out)
        return F.relu(out)


class SameBlock2d(_ConvNormRelu):
    """Resolution-preserving conv block ``(B, Cin, H, W) -> (B, Cout, H, W)``."""

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        return self._conv_norm_relu(x, style)


class _ResampleBlock(_ConvNormRelu):
    def __init__(self, in_channels: int, out_channels: int, style_dim: int, adain_hidden: int, lwarp: bool):
        super().__init__(in_channels, out_channels, style_dim, adain_hidden)
        if lwarp:
            self.SameBlock2d = SameBlock2d(out_channels, out_channels, style_dim, adain_hidden)
        self.lwarp = lwarp

    def _refine(self, out: torch.Tensor, style: torch.Tensor | None) -> torch.Tensor:
        return self.SameBlock2d(out, style) if self.lwarp else out


class DownBlock2d(_ResampleBlock):
    """conv-norm-ReLU, 2x2 average pool, optional same block: ``(B, Cin, H, W) -> (B, Cout, H/2, W/2)``."""

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        out = F.avg_pool2d(self._conv_norm_relu(x, style), kernel_size=2)
        return self._refine(out, style)


class UpBlock2d(_ResampleBlock):
    """Legacy-nearest x2 upsampling, conv-norm-ReLU, optional same block: ``-> (B, Cout, 2H, 2W)``."""

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        out = self._conv_norm_relu(F.interpolate(x, scale_factor=2, mode="nearest"), style)
        return self._refine(out, style)


class Encoder(nn.Module):
    """``num_blocks`` down blocks; returns every resolution, input first."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int,
                 lwarp: bool, style_dim: int, adain_hidden: int):
        super().__init__()
        widths = [in_features] + [min(max_features, block_expansion * 2 ** (i + 1)) for i in range(num_blocks)]
        self.down_blocks = nn.ModuleList(
            DownBlock2d(widths[i], widths[i + 1], style_dim, adain_hidden, lwarp) for i in range(num_blocks)
        )

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> list[torch.Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1], style))
        return outs


class Decoder(nn.Module):
    """Up blocks from the bottleneck back to resolution level ``dec_lease`` with skip concatenation.

    ``out_filters``: channels of the final concatenation (last up block + its skip).
    """

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, dec_lease: int,
                 max_features: int, lwarp: bool, style_dim: int, adain_hidden: int):
        super().__init__()
        blocks = []
        out_filters = in_features
        for i in reversed(range(dec_lease, num_blocks)):
            factor = 1 if i == num_blocks - 1 else 2  # the deepest block has no skip concatenated yet
            in_filters = factor * min(max_features, block_expansion * 2 ** (i + 1))
            out_filters = min(max_features, block_expansion * 2 ** i)
            blocks.append(UpBlock2d(in_filters, out_filters, style_dim, adain_hidden, lwarp))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = out_filters + in_features if dec_lease == 0 else 2 * out_filters

    def forward(self, skips: list[torch.Tensor], style: torch.Tensor | None = None,
                return_all: bool = False):
        """Decode; with ``return_all`` also return ``[bottleneck, up outputs..., final concat]``.

        In the returned list the last up block's own output is replaced by the final concatenation
        (that is what the refinement network warps at full resolution).
        """
        skips = list(skips)
        out = skips.pop()
        levels = [out]
        for block in self.up_blocks:
            out = block(out, style)
            levels.append(out)
            out = torch.cat([out, skips.pop()], dim=1)
        levels[-1] = out
        return (out, levels) if return_all else out


class Hourglass(nn.Module):
    """Encoder + decoder. Input ``(B, in_features, H, W)``; output ``(B, out_filters, H / 2**dec_lease, ...)``."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256,
                 lwarp: bool = False, style_dim: int = 0, dec_lease: int = 0, adain_hidden: int = 128):
        super().__init__()
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features, lwarp, style_dim, adain_hidden)
        self.decoder = Decoder(block_expansion, in_features, num_blocks, dec_lease, max_features, lwarp,
                               style_dim, adain_hidden)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None, return_all: bool = False):
        return self.decoder(self.encoder(x, style), style, return_all=return_all)
