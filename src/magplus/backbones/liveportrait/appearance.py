"""LivePortrait's appearance feature extractor (F): source image -> 3-D appearance feature volume."""

from __future__ import annotations

import torch
from torch import nn

from ..fomm.blocks import DownBlock2d, SameBlock2d
from .layers import ResBlock3d, channel_width


class AppearanceFeatureExtractor(nn.Module):
    """2-D encoder whose channels are reshaped into a ``(C, D)`` volume and refined by 3-D res blocks.

    Args (the official ``appearance_feature_extractor_params``):
        image_channel: input channels (3).
        block_expansion: width of the first conv (64); doubled per down block, capped at ``max_features``.
        num_down_blocks: 2x down-samplings (2: 256 -> 64).
        max_features: channels before the reshape (512); must equal ``reshape_channel * reshape_depth``.
        reshape_channel, reshape_depth: the volume's channels and depth (32 x 16).
        num_resblocks: 3-D residual blocks (6).
    """

    def __init__(self, image_channel: int = 3, block_expansion: int = 64, num_down_blocks: int = 2,
                 max_features: int = 512, reshape_channel: int = 32, reshape_depth: int = 16, num_resblocks: int = 6):
        super().__init__()
        self.reshape_channel, self.reshape_depth = reshape_channel, reshape_depth
        self.first = SameBlock2d(image_channel, block_expansion, kernel_size=3, padding=1)
        self.down_blocks = nn.ModuleList(
            DownBlock2d(channel_width(block_expansion, i, max_features), channel_width(block_expansion, i + 1, max_features))
            for i in range(num_down_blocks))
        self.second = nn.Conv2d(channel_width(block_expansion, num_down_blocks, max_features), max_features, kernel_size=1)
        self.resblocks_3d = nn.Sequential()
        for i in range(num_resblocks):
            self.resblocks_3d.add_module(f"3dr{i}", ResBlock3d(reshape_channel))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in [0, 1] -> ``(B, reshape_channel, reshape_depth, H / 2^n, W / 2^n)``."""
        out = self.first(image)
        for block in self.down_blocks:
            out = block(out)
        out = self.second(out)
        batch, _, height, width = out.shape
        return self.resblocks_3d(out.view(batch, self.reshape_channel, self.reshape_depth, height, width))
