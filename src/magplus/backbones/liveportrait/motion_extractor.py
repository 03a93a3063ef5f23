"""LivePortrait's motion extractor (M): a ConvNeXt V2 that regresses canonical keypoints, head pose
(pitch/yaw/roll as 66-bin logits), translation, scale and expression deltas from one image."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import InputError
from .layers import ChannelsFirstLayerNorm, GlobalResponseNorm

#: ConvNeXt V2 "tiny", what the official factory hard-codes.
TINY_DEPTHS = (3, 3, 9, 3)
TINY_DIMS = (96, 192, 384, 768)
HEADS = ("kp", "scale", "pitch", "yaw", "roll", "t", "exp")


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7 conv, LayerNorm, 4x MLP with GELU and GRN, residual (no drop-path at inference)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.grn = GlobalResponseNorm(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dwconv(x).permute(0, 2, 3, 1)  # (B, C, H, W) -> (B, H, W, C)
        out = self.pwconv2(self.grn(F.gelu(self.pwconv1(self.norm(out)))))
        return x + out.permute(0, 3, 1, 2)


class ConvNeXtV2(nn.Module):
    """ConvNeXt V2 trunk (4 stages) with LivePortrait's seven linear heads on the pooled feature.

    Args:
        depths: blocks per stage (tiny: 3, 3, 9, 3).
        dims: channels per stage (tiny: 96, 192, 384, 768).
        num_kp: implicit keypoints (21).
        num_bins: pose bins per angle (66).
        in_chans: input channels (3).
    """

    def __init__(self, depths: Sequence[int] = TINY_DEPTHS, dims: Sequence[int] = TINY_DIMS, num_kp: int = 21,
                 num_bins: int = 66, in_chans: int = 3):
        super().__init__()
        if len(depths) != 4 or len(dims) != 4:
            raise InputError(f"ConvNeXtV2 needs 4 depths and 4 dims, got {list(depths)} and {list(dims)}.")
        stem = nn.Sequential(nn.Conv2d(in_chans, dims[0], kernel_size=4, stride=4), ChannelsFirstLayerNorm(dims[0]))
        self.downsample_layers = nn.ModuleList([stem] + [
            nn.Sequential(ChannelsFirstLayerNorm(dims[i]), nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2))
            for i in range(3)])
        self.stages = nn.ModuleList(nn.Sequential(*[ConvNeXtBlock(dims[i]) for _ in range(depths[i])]) for i in range(4))
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        width = dims[-1]
        self.fc_kp = nn.Linear(width, 3 * num_kp)
        self.fc_scale = nn.Linear(width, 1)
        self.fc_pitch = nn.Linear(width, num_bins)
        self.fc_yaw = nn.Linear(width, num_bins)
        self.fc_roll = nn.Linear(width, num_bins)
        self.fc_t = nn.Linear(width, 3)
        self.fc_exp = nn.Linear(width, 3 * num_kp)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> pooled, normalised ``(B, dims[-1])``."""
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))
        return self.norm(x.mean([-2, -1]))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw head outputs: ``kp``/``exp`` ``(B, 3K)``, ``pitch``/``yaw``/``roll`` ``(B, bins)``,
        ``t`` ``(B, 3)``, ``scale`` ``(B, 1)``."""
        pooled = self.features(x)
        return {name: getattr(self, f"fc_{name}")(pooled) for name in HEADS}


class MotionExtractor(nn.Module):
    """The official wrapper (state-dict prefix ``detector.``) around :class:`ConvNeXtV2`."""

    def __init__(self, num_kp: int = 21, depths: Sequence[int] = TINY_DEPTHS, dims: Sequence[int] = TINY_DIMS,
                 num_bins: int = 66, backbone: str = "convnextv2_tiny"):
        super().__init__()
        if backbone != "convnextv2_tiny":
            raise InputError(f"motion extractor backbone must be 'convnextv2_tiny' (the only official one), got {backbone!r}.")
        self.detector = ConvNeXtV2(depths, dims, num_kp=num_kp, num_bins=num_bins)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.detector(x)
