"""FOMM's occlusion-aware generator: encode the source, warp its features, mask occlusions, decode.

The forward pass is split into :meth:`OcclusionAwareGenerator.encode_source` (depends on the
source only) and :meth:`OcclusionAwareGenerator.decode` (per driving frame), so a clip can encode
its source once; :meth:`OcclusionAwareGenerator.forward` chains them exactly like the official
generator and returns the same dictionary.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d, _width
from .dense_motion import DenseMotionNetwork

__all__ = ["OcclusionAwareGenerator", "deform_input"]


def deform_input(image: torch.Tensor, deformation: torch.Tensor, align_corners: bool = False) -> torch.Tensor:
    """Backward-warp ``image`` ``(B or 1, C, H, W)`` with a sampling grid ``(B, h, w, 2)``.

    The grid is bilinearly resized to ``(H, W)`` first when needed (``align_corners=False`` for
    the resize, as upstream); samples outside the image are zero.
    """
    height, width = image.shape[2:]
    if deformation.shape[1:3] != (height, width):
        grid = F.interpolate(deformation.permute(0, 3, 1, 2), size=(height, width), mode="bilinear")
        deformation = grid.permute(0, 2, 3, 1)
    if image.shape[0] != deformation.shape[0]:
        image = image.expand(deformation.shape[0], *image.shape[1:])
    return F.grid_sample(image, deformation, align_corners=align_corners)


class OcclusionAwareGenerator(nn.Module):
    """Image generator of FOMM.

    Args:
        num_channels, num_kp: image channels and keypoints.
        block_expansion, max_features: width of the first block and the width cap.
        num_down_blocks, num_bottleneck_blocks: encoder depth and residual blocks at the bottom.
        estimate_occlusion_map: multiply warped features by the predicted occlusion map.
        dense_motion_params: keyword arguments of :class:`DenseMotionNetwork` (None: no motion).
        estimate_jacobian: accepted for config compatibility (the keypoint dicts decide).
        align_corners: ``grid_sample`` convention (False = official code on torch >= 1.3).

    Forward:
        ``source_image`` ``(B, C, H, W)`` in [0, 1], keypoint dicts -> dict with ``prediction``
        ``(B, C, H, W)`` in (0, 1), ``deformed`` (source warped at full size), and the dense-motion
        outputs ``mask``, ``sparse_deformed``, ``occlusion_map``, ``deformation``.
    """

    def __init__(self, num_channels: int, num_kp: int, block_expansion: int, max_features: int,
                 num_down_blocks: int, num_bottleneck_blocks: int, estimate_occlusion_map: bool = False,
                 dense_motion_params: Mapping[str, Any] | None = None, estimate_jacobian: bool = False,
                 align_corners: bool = False):
        super().__init__()
        if dense_motion_params is not None:
            self.dense_motion_network = DenseMotionNetwork(num_kp=num_kp, num_channels=num_channels,
                                                           estimate_occlusion_map=estimate_occlusion_map,
                                                           align_corners=align_corners, **dense_motion_params)
        else:
            self.dense_motion_network = None
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=(7, 7), padding=(3, 3))
        self.down_blocks = nn.ModuleList(
            DownBlock2d(_width(block_expansion, i, max_features), _width(block_expansion, i + 1, max_features),
                        kernel_size=(3, 3), padding=(1, 1))
            for i in range(num_down_blocks))
        self.up_blocks = nn.ModuleList(
            UpBlock2d(_width(block_expansion, num_down_blocks - i, max_features),
                      _width(block_expansion, num_down_blocks - i - 1, max_features), kernel_size=(3, 3), padding=(1, 1))
            for i in range(num_down_blocks))
        bottom = _width(block_expansion, num_down_blocks, max_features)
        self.bottleneck = nn.Sequential()
        for i in range(num_bottleneck_blocks):
            self.bottleneck.add_module(f"r{i}", ResBlock2d(bottom, kernel_size=(3, 3), padding=(1, 1)))
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))
        self.num_channels = num_channels
        self._align_corners = align_corners

    @property
    def align_corners(self) -> bool:
        """``grid_sample`` convention used by the generator and its dense motion network."""
        return self._align_corners

    @align_corners.setter
    def align_corners(self, value: bool) -> None:
        self._align_corners = bool(value)
        if self.dense_motion_network is not None:
            self.dense_motion_network.align_corners = bool(value)

    def encode_source(self, source_image: torch.Tensor) -> torch.Tensor:
        """Source features before warping: ``(B, C, H, W) -> (B, C', H / 2^d, W / 2^d)``."""
        out = self.first(source_image)
        for block in self.down_blocks:
            out = block(out)
        return out

    def decode(self, features: torch.Tensor, motion: Mapping[str, torch.Tensor] | None) -> torch.Tensor:
        """Warp and occlude source ``features`` (batch 1 or B) by ``motion``, then render ``(B, C, H, W)``."""
        out = features
        if motion is not None:
            out = deform_input(out, motion["deformation"], self.align_corners)
            occlusion = motion.get("occlusion_map")
            if occlusion is not None:
                if occlusion.shape[2:] != out.shape[2:]:
                    occlusion = F.interpolate(occlusion, size=out.shape[2:], mode="bilinear")
                out = out * occlusion
        out = self.bottleneck(out)
        for block in self.up_blocks:
            out = block(out)
        return torch.sigmoid(self.final(out))

    def forward(self, source_image: torch.Tensor, kp_driving: Mapping[str, torch.Tensor],
                kp_source: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        features = self.encode_source(source_image)
        out: dict[str, torch.Tensor] = {}
        motion = None
        if self.dense_motion_network is not None:
            motion = self.dense_motion_network(source_image=source_image, kp_driving=kp_driving, kp_source=kp_source)
            out.update(motion)
            out["deformed"] = deform_input(source_image, motion["deformation"], self.align_corners)
        out["prediction"] = self.decode(features, motion)
        return out
