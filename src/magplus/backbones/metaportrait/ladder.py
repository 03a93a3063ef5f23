"""Ladder encoder: a discriminator-like CNN that turns (source, landmark lines) into a style code.

The code (L2-normalised, ``z_dim``) drives every AdaIN of the dense-motion hourglass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import SNConv2d


def _sn_instance_layer(in_channels: int, out_channels: int) -> nn.Sequential:
    # Spectral-norm conv without bias (a bias is pointless before instance norm), then a
    # parameter-free instance norm; index 0/1 keep the official key names (layerN.0.weight_orig).
    return nn.Sequential(SNConv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False),
                         nn.InstanceNorm2d(out_channels, affine=False))


class LadderEncoder(nn.Module):
    """Six stride-2 SN-conv + instance-norm layers, leaky ReLU 0.2, a linear head to ``z_dim``.

    Args:
        in_channels: 9 for the base model (source RGB + source and driving line images).
        z_dim: style-code size (upstream: 512).
        nef: base width (upstream: 64, hard-coded there); widths nef, 2, 4, 8, 8, 8 x nef.

    Input ``(B, in_channels, H, W)`` (resized to 256x256 if needed); output ``(B, z_dim)`` of unit norm.
    """

    def __init__(self, in_channels: int = 9, z_dim: int = 512, nef: int = 64):
        super().__init__()
        widths = [in_channels, nef, 2 * nef, 4 * nef, 8 * nef, 8 * nef, 8 * nef]
        for index in range(6):
            setattr(self, f"layer{index + 1}", _sn_instance_layer(widths[index], widths[index + 1]))
        self.fc = nn.Linear(8 * nef * 4 * 4, z_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[2:] != (256, 256):
            x = F.interpolate(x, size=(256, 256), mode="bilinear")
        x = self.layer1(x)
        for index in range(2, 7):
            x = getattr(self, f"layer{index}")(F.leaky_relu(x, 0.2))
        x = self.fc(F.leaky_relu(x, 0.2).flatten(1))  # (B, 8nef * 4 * 4) -> (B, z_dim)
        return x / (x.norm(dim=-1, p=2, keepdim=True) + 1e-5)
