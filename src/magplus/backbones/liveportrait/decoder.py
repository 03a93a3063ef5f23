"""LivePortrait's SPADE decoder (G): warped 2-D features -> image, upsampled 4x (or 8x with ``upscale=2``).

Every residual block is conditioned (SPADE) on the decoder's own input features, resized by
nearest neighbour to the block's resolution. The residual convolutions are spectral-normalised and
stored as ``weight_orig``/``weight_u``/``weight_v``; at inference the weight is ``weight_orig / sigma``
with sigma from the STORED vectors (no power iteration), see
:mod:`magplus.backbones.metaportrait.layers`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..metaportrait.layers import SNConv2d
from .layers import channel_width

#: Hidden width of every SPADE conditioning branch (hard-coded upstream).
SPADE_HIDDEN = 128


class SPADE(nn.Module):
    """``instance_norm(x) * (1 + gamma(seg)) + beta(seg)`` with a shared 3x3 conv + ReLU before gamma/beta."""

    def __init__(self, channels: int, label_channels: int, hidden: int = SPADE_HIDDEN):
        super().__init__()
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_channels, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, C, H, W)``; ``seg`` ``(B, L, H, W)``, already at ``x``'s size."""
        hidden = self.mlp_shared(seg)
        return F.instance_norm(x, eps=1e-5) * (1 + self.mlp_gamma(hidden)) + self.mlp_beta(hidden)


class SPADEResnetBlock(nn.Module):
    """Two (SPADE, leaky ReLU 0.2, SN-conv3x3) stages plus a shortcut (SN-conv1x1 of SPADE(x) when the width changes)."""

    def __init__(self, fin: int, fout: int, label_channels: int):
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        self.conv_0 = SNConv2d(fin, fmiddle, 3, padding=1)
        self.conv_1 = SNConv2d(fmiddle, fout, 3, padding=1)
        self.norm_0 = SPADE(fin, label_channels)
        self.norm_1 = SPADE(fmiddle, label_channels)
        if self.learned_shortcut:
            self.conv_s = SNConv2d(fin, fout, 1, bias=False)
            self.norm_s = SPADE(fin, label_channels)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return shortcut + dx


class SPADEDecoder(nn.Module):
    """Six SPADE blocks at the input resolution, then two upsampling blocks and an RGB head.

    Args (the official ``spade_generator_params``):
        upscale: 2 ends with a 12-channel conv and a 2x pixel shuffle (256 -> 512 output); 1 with a 3-channel conv.
        max_features, block_expansion, num_down_blocks: input channels
            ``min(max_features, block_expansion * 2**num_down_blocks)`` (256).
        out_channels: channels of the last block (64).
    """

    def __init__(self, upscale: int = 1, max_features: int = 256, block_expansion: int = 64, out_channels: int = 64,
                 num_down_blocks: int = 2):
        super().__init__()
        width = channel_width(block_expansion, num_down_blocks, max_features)
        self.fc = nn.Conv2d(width, 2 * width, 3, padding=1)
        for i in range(6):
            self.add_module(f"G_middle_{i}", SPADEResnetBlock(2 * width, 2 * width, width))
        self.up_0 = SPADEResnetBlock(2 * width, width, width)
        self.up_1 = SPADEResnetBlock(width, out_channels, width)
        if upscale is None or upscale <= 1:
            self.conv_img = nn.Conv2d(out_channels, 3, 3, padding=1)
        else:
            self.conv_img = nn.Sequential(nn.Conv2d(out_channels, 3 * 4, 3, padding=1), nn.PixelShuffle(2))

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        """``(B, width, h, w)`` -> ``(B, 3, 4h, 4w)`` (``8h`` with upscale 2), sigmoid, in [0, 1]."""
        x = self.fc(feature)
        for i in range(6):
            x = getattr(self, f"G_middle_{i}")(x, feature)
        for block in (self.up_0, self.up_1):
            x = F.interpolate(x, scale_factor=2)  # legacy nearest, as nn.Upsample(scale_factor=2)
            block_seg = F.interpolate(feature, size=x.shape[2:], mode="nearest")
            x = block(x, block_seg)
        return torch.sigmoid(self.conv_img(F.leaky_relu(x, 0.2)))
