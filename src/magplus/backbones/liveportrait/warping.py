"""LivePortrait's warping module (W): a 3-D dense-motion network turns source and driving implicit
keypoints into a backward deformation of the appearance volume, plus an occlusion map; the warped
volume is flattened to 2-D features for the decoder.

Warp direction: ``warped(p) = feature(deformation(p))`` — for each point ``p`` of the driving
volume, the deformation gives where to sample the source volume (``grid_sample``, trilinear,
zeros padding, ``align_corners=False``).

The parts that depend on the source only (compressed volume, source Gaussians) can be computed
once with :meth:`DenseMotionNetwork.prepare_source` and passed in, which changes no result.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Hourglass3d, LeakySameBlock2d, coordinate_grid_3d, gaussian_heatmaps_3d

#: Variance of the keypoint Gaussians in normalised units (hard-coded upstream).
KP_VARIANCE = 0.01


@dataclass
class DenseMotionSource:
    """Source-only inputs of the dense-motion network.

    Attributes:
        compressed: ``relu(bn(compress(feature)))`` ``(1, c, D, H, W)``.
        gaussians: source keypoint Gaussians ``(1, K, D, H, W)``.
        kp_source: ``(1, K, 3)``.
    """

    compressed: torch.Tensor
    gaussians: torch.Tensor
    kp_source: torch.Tensor


class DenseMotionNetwork(nn.Module):
    """Blends K+1 candidate motions (identity + one rigid shift per keypoint) with a softmax mask.

    Args (the official ``dense_motion_params`` plus the warping module's ``num_kp``/``reshape_channel``):
        block_expansion, num_blocks, max_features: the 3-D hourglass (32, 5, 1024).
        num_kp: keypoints (21).
        feature_channel: channels of the appearance volume (32).
        reshape_depth: its depth (16); the occlusion head flattens depth into channels.
        compress: channels the volume is compressed to before warping (4).
        estimate_occlusion_map: predict the occlusion map (True).
    """

    def __init__(self, block_expansion: int, num_blocks: int, max_features: int, num_kp: int, feature_channel: int,
                 reshape_depth: int, compress: int, estimate_occlusion_map: bool = True):
        super().__init__()
        self.num_kp = num_kp
        self.hourglass = Hourglass3d(block_expansion, (num_kp + 1) * (compress + 1), num_blocks, max_features)
        self.mask = nn.Conv3d(self.hourglass.out_filters, num_kp + 1, kernel_size=7, padding=3)
        self.compress = nn.Conv3d(feature_channel, compress, kernel_size=1)
        self.norm = nn.BatchNorm3d(compress, affine=True)
        self.occlusion = (nn.Conv2d(self.hourglass.out_filters * reshape_depth, 1, kernel_size=7, padding=3)
                          if estimate_occlusion_map else None)

    def prepare_source(self, feature: torch.Tensor, kp_source: torch.Tensor) -> DenseMotionSource:
        """Source-only part: ``feature`` ``(1, C, D, H, W)``, ``kp_source`` ``(1, K, 3)``."""
        compressed = F.relu(self.norm(self.compress(feature)))
        return DenseMotionSource(compressed, gaussian_heatmaps_3d(kp_source, compressed.shape[2:], KP_VARIANCE), kp_source)

    def sparse_motions(self, kp_driving: torch.Tensor, kp_source: torch.Tensor, size) -> torch.Tensor:
        """Candidate sampling grids ``(B, K+1, D, H, W, 3)``: identity, then ``p - kp_d[k] + kp_s[k]``."""
        batch = kp_driving.shape[0]
        identity = coordinate_grid_3d(size, kp_driving.dtype, kp_driving.device).view(1, 1, *size, 3)
        shifted = identity - kp_driving.view(batch, self.num_kp, 1, 1, 1, 3)
        shifted = shifted + kp_source.view(kp_source.shape[0], self.num_kp, 1, 1, 1, 3)
        return torch.cat([identity.expand(batch, 1, *size, 3), shifted], dim=1)

    def forward(self, feature: torch.Tensor | None, kp_driving: torch.Tensor, kp_source: torch.Tensor | None = None,
                source: DenseMotionSource | None = None) -> dict[str, torch.Tensor]:
        """Dense motion for B driving keypoint sets.

        Args:
            feature: appearance volume ``(B or 1, C, D, H, W)`` (unused when ``source`` is given).
            kp_driving: ``(B, K, 3)``; kp_source: ``(B or 1, K, 3)`` (unused with ``source``).
            source: from :meth:`prepare_source` (a batch-1 source shared by every driving set).

        Returns:
            ``mask`` ``(B, K+1, D, H, W)``, ``deformation`` ``(B, D, H, W, 3)`` and, when estimated,
            ``occlusion_map`` ``(B, 1, H, W)``.
        """
        if source is None:
            source = self.prepare_source(feature, kp_source)
        batch, k1 = kp_driving.shape[0], self.num_kp + 1
        compressed = source.compressed.expand(batch, *source.compressed.shape[1:])
        channels, depth, height, width = compressed.shape[1:]
        motions = self.sparse_motions(kp_driving, source.kp_source, (depth, height, width))
        repeated = compressed[:, None].expand(batch, k1, channels, depth, height, width)
        deformed = F.grid_sample(repeated.reshape(batch * k1, channels, depth, height, width),
                                 motions.reshape(batch * k1, depth, height, width, 3), align_corners=False)
        deformed = deformed.view(batch, k1, channels, depth, height, width)
        heat = gaussian_heatmaps_3d(kp_driving, (depth, height, width), KP_VARIANCE) - source.gaussians
        heat = torch.cat([heat.new_zeros(batch, 1, depth, height, width), heat], dim=1)
        stacked = torch.cat([heat[:, :, None], deformed], dim=2).view(batch, -1, depth, height, width)
        prediction = self.hourglass(stacked)
        mask = F.softmax(self.mask(prediction), dim=1)
        deformation = (motions.permute(0, 1, 5, 2, 3, 4) * mask[:, :, None]).sum(dim=1).permute(0, 2, 3, 4, 1)
        out = {"mask": mask, "deformation": deformation}
        if self.occlusion is not None:
            out["occlusion_map"] = torch.sigmoid(self.occlusion(prediction.reshape(batch, -1, height, width)))
        return out


class WarpingNetwork(nn.Module):
    """Warps the appearance volume with the dense motion and maps it to the decoder's 2-D features.

    Args (the official ``warping_module_params``):
        num_kp: keypoints (21).
        block_expansion, num_down_blocks: output channels ``block_expansion * 2**num_down_blocks`` (256).
        max_features: channels of the flattened volume, ``reshape_channel * depth`` (512).
        reshape_channel: channels of the appearance volume (32).
        estimate_occlusion_map: multiply the output by the predicted occlusion map.
        dense_motion_params: the :class:`DenseMotionNetwork` arguments.
    """

    def __init__(self, num_kp: int, block_expansion: int, max_features: int, num_down_blocks: int,
                 reshape_channel: int, estimate_occlusion_map: bool = False, dense_motion_params: dict | None = None):
        super().__init__()
        params = dict(dense_motion_params or {})
        self.dense_motion_network = DenseMotionNetwork(num_kp=num_kp, feature_channel=reshape_channel,
                                                       estimate_occlusion_map=estimate_occlusion_map, **params)
        width = block_expansion * (2 ** num_down_blocks)
        self.third = LeakySameBlock2d(max_features, width, kernel_size=3, padding=1)
        self.fourth = nn.Conv2d(width, width, kernel_size=1)

    def forward(self, feature_3d: torch.Tensor, kp_driving: torch.Tensor, kp_source: torch.Tensor | None = None,
                source: DenseMotionSource | None = None) -> dict[str, torch.Tensor]:
        """``feature_3d`` ``(B or 1, C, D, H, W)``, keypoints ``(B, K, 3)`` -> ``out`` ``(B, width, H, W)``,
        ``deformation`` and ``occlusion_map`` (None when not estimated)."""
        motion = self.dense_motion_network(feature_3d, kp_driving, kp_source, source=source)
        batch = kp_driving.shape[0]
        volume = feature_3d.expand(batch, *feature_3d.shape[1:])
        warped = F.grid_sample(volume, motion["deformation"], align_corners=False)
        channels, depth, height, width = warped.shape[1:]
        out = self.fourth(self.third(warped.view(batch, channels * depth, height, width)))
        occlusion = motion.get("occlusion_map")
        if occlusion is not None:
            out = out * occlusion
        return {"occlusion_map": occlusion, "deformation": motion["deformation"], "out": out}
