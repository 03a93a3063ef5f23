"""LivePortrait's stitching and retargeting MLPs (S, R_lip, R_eye) and how their outputs are applied.

* Stitching: ``mlp([x_s, x_d])`` gives a per-keypoint offset (3K values) plus a global ``(tx, ty)``
  shift (2 values) that keep the shoulders and the crop border still when the head moves.
* Lip / eye retargeting: ``mlp([x_s, ratios])`` gives a per-keypoint offset that opens or closes the
  mouth (2 ratios: source, target) or the eyes (3 ratios: source left, source right, target).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class StitchingRetargetingNetwork(nn.Module):
    """``Linear, ReLU`` per hidden size, then a final ``Linear``: ``(B, input_size) -> (B, output_size)``."""

    def __init__(self, input_size: int, hidden_sizes: Sequence[int], output_size: int):
        super().__init__()
        layers: list[nn.Module] = []
        width = input_size
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, output_size))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


def stitch(network: nn.Module, kp_source: torch.Tensor, kp_driving: torch.Tensor) -> torch.Tensor:
    """Driving keypoints corrected by the stitching MLP.

    Args:
        kp_source: ``(B or 1, K, 3)``; kp_driving: ``(B, K, 3)``.

    Returns:
        ``(B, K, 3)``: ``kp_driving + delta[:3K]`` with ``delta[3K:3K+2]`` added to x and y.
    """
    batch, num_kp = kp_driving.shape[:2]
    source = kp_source.reshape(kp_source.shape[0], -1).expand(batch, -1)
    delta = network(torch.cat([source, kp_driving.reshape(batch, -1)], dim=1))
    out = kp_driving + delta[:, :3 * num_kp].reshape(batch, num_kp, 3)
    shift = torch.zeros_like(out[:, :1])
    shift[..., :2] = delta[:, 3 * num_kp:3 * num_kp + 2].reshape(batch, 1, 2)
    return out + shift


def retarget(network: nn.Module, kp_source: torch.Tensor, ratios: torch.Tensor) -> torch.Tensor:
    """Keypoint offsets ``(B, K, 3)`` from a retargeting MLP on ``[x_s (B, 3K), ratios (B, R)]``."""
    feat = torch.cat([kp_source.reshape(kp_source.shape[0], -1), ratios], dim=1)
    return network(feat).reshape(kp_source.shape[0], -1, 3)
