"""Unsupervised keypoint detector of FOMM (also used, without the Jacobian head, by FSRT).

An hourglass turns the (optionally anti-alias downscaled) image into feature maps; a 7x7 conv
gives one heatmap per keypoint, a spatial softmax with a low temperature makes it a probability
map, and the keypoint is its expected position. The optional Jacobian head predicts four numbers
per keypoint and pixel that are averaged under the same heatmap (the local affine motion of
FOMM's first-order approximation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import AntiAliasInterpolation2d, Hourglass, make_coordinate_grid

__all__ = ["KPDetector", "heatmap_to_keypoints"]


def heatmap_to_keypoints(heatmap: torch.Tensor) -> torch.Tensor:
    """Expected position under each heatmap.

    Args:
        heatmap: ``(B, K, H, W)`` non-negative maps that sum to 1 over ``(H, W)``.

    Returns:
        ``(B, K, 2)`` (x, y) in the corner-aligned [-1, 1] frame of the heatmap.
    """
    grid = make_coordinate_grid(heatmap.shape[2:], heatmap.dtype, heatmap.device)
    return (heatmap.unsqueeze(-1) * grid[None, None]).sum(dim=(2, 3))


class KPDetector(nn.Module):
    """Keypoints (and optional Jacobians) of an image.

    Args:
        block_expansion, max_features, num_blocks: hourglass width, width cap and depth.
        num_kp: number of keypoints K.
        num_channels: image channels (3).
        temperature: softmax temperature of the heatmaps (0.1 in FOMM).
        estimate_jacobian: add the Jacobian head (initialised to identity, as upstream).
        scale_factor: the image is anti-alias downscaled by this factor first (0.25 in FOMM).
        single_jacobian_map: one Jacobian map shared by all keypoints.
        pad: padding of the 7x7 heads (0 in FOMM, so the heatmap is 6 px smaller than the features).

    Forward:
        ``x`` ``(B, C, H, W)`` in [0, 1] -> ``{"value": (B, K, 2)}`` plus ``"jacobian": (B, K, 2, 2)``
        when estimated. Jacobians act on (x, y) column vectors, row-major.
    """

    def __init__(self, block_expansion: int, num_kp: int, num_channels: int, max_features: int,
                 num_blocks: int, temperature: float, estimate_jacobian: bool = False,
                 scale_factor: float = 1, single_jacobian_map: bool = False, pad: int = 0):
        super().__init__()
        self.predictor = Hourglass(block_expansion, in_features=num_channels, max_features=max_features,
                                   num_blocks=num_blocks)
        self.kp = nn.Conv2d(self.predictor.out_filters, num_kp, kernel_size=(7, 7), padding=pad)
        if estimate_jacobian:
            self.num_jacobian_maps = 1 if single_jacobian_map else num_kp
            self.jacobian = nn.Conv2d(self.predictor.out_filters, 4 * self.num_jacobian_maps,
                                      kernel_size=(7, 7), padding=pad)
            # Start from the identity so an untrained head means "no local deformation".
            with torch.no_grad():
                self.jacobian.weight.zero_()
                self.jacobian.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0] * self.num_jacobian_maps))
        else:
            self.num_jacobian_maps = 0
            self.jacobian = None
        self.num_kp = num_kp
        self.temperature = temperature
        self.scale_factor = scale_factor
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def heatmaps(self, feature_map: torch.Tensor) -> torch.Tensor:
        """Spatial-softmax heatmaps ``(B, K, h, w)`` from hourglass features."""
        logits = self.kp(feature_map)
        batch, kps, height, width = logits.shape
        probs = F.softmax(logits.view(batch, kps, -1) / self.temperature, dim=2)
        return probs.view(batch, kps, height, width)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.scale_factor != 1:
            x = self.down(x)
        feature_map = self.predictor(x)
        heatmap = self.heatmaps(feature_map)
        out = {"value": heatmap_to_keypoints(heatmap)}
        if self.jacobian is not None:
            maps = self.jacobian(feature_map)
            batch, _, height, width = maps.shape
            maps = maps.reshape(batch, self.num_jacobian_maps, 4, height, width)
            weighted = heatmap.unsqueeze(2) * maps  # (B, K, 4, h, w); broadcasts a shared map
            jacobian = weighted.view(batch, self.num_kp, 4, -1).sum(dim=-1)
            out["jacobian"] = jacobian.view(batch, self.num_kp, 2, 2)
        return out
