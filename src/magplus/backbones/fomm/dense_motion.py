"""FOMM's dense motion network: from K sparse keypoint motions to one dense field + occlusion.

For each keypoint k the first-order (affine) approximation of the driving->source mapping near
the driving keypoint is ``z -> J_s J_d^-1 (z - kp_d) + kp_s``; a background "keypoint" 0 is the
identity. The source, warped by each of these K+1 motions, and the difference of Gaussian blobs
around driving and source keypoints go through an hourglass that predicts a softmax mask over the
K+1 motions (and an occlusion map). The dense field is the mask-weighted sum of the motions.

All fields are *sampling grids* ``(B, h, w, 2)`` in [-1, 1] (x, y): the output pixel at z takes
the source at ``deformation(z)`` (a backward warp in :mod:`magplus.types` terms).
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import AntiAliasInterpolation2d, Hourglass, kp2gaussian, make_coordinate_grid

__all__ = ["DenseMotionNetwork", "sparse_motions", "warp_per_motion"]

KP = Mapping[str, torch.Tensor]


def sparse_motions(spatial_size: tuple[int, int], kp_driving: KP, kp_source: KP) -> torch.Tensor:
    """The K+1 candidate sampling grids.

    Args:
        spatial_size: ``(h, w)``.
        kp_driving, kp_source: ``"value"`` ``(B, K, 2)`` (and ``"jacobian"`` ``(B, K, 2, 2)``;
            the Jacobian term is used when the driving dict has one, as upstream).

    Returns:
        ``(B, K + 1, h, w, 2)``; index 0 is the identity grid (background).
    """
    height, width = spatial_size
    value_d = kp_driving["value"]
    batch, num_kp = value_d.shape[:2]
    identity = make_coordinate_grid(spatial_size, value_d.dtype, value_d.device).view(1, 1, height, width, 2)
    coords = identity - value_d.view(batch, num_kp, 1, 1, 2)
    if "jacobian" in kp_driving:
        jac = torch.matmul(kp_source["jacobian"], torch.inverse(kp_driving["jacobian"]))  # (B, K, 2, 2)
        # Broadcast over pixels instead of materialising a (B, K, h, w, 2, 2) copy; same products.
        coords = torch.matmul(jac[:, :, None, None], coords.unsqueeze(-1)).squeeze(-1)
    # view(-1, ...): a batch-1 source broadcasts over B driving frames.
    driving_to_source = coords + kp_source["value"].view(-1, num_kp, 1, 1, 2)
    return torch.cat([identity.expand(batch, 1, height, width, 2), driving_to_source], dim=1)


def warp_per_motion(image: torch.Tensor, motions: torch.Tensor, align_corners: bool = False) -> torch.Tensor:
    """Warp ``image`` ``(B or 1, C, h, w)`` by each grid of ``motions`` ``(B, M, h, w, 2)``.

    Returns:
        ``(B, M, C, h, w)``, zeros outside the image.
    """
    batch, num, height, width, _ = motions.shape
    channels = image.shape[1]
    repeated = image.unsqueeze(1).expand(batch, num, channels, *image.shape[2:])
    repeated = repeated.reshape(batch * num, channels, *image.shape[2:])
    warped = F.grid_sample(repeated, motions.reshape(batch * num, height, width, 2), align_corners=align_corners)
    return warped.view(batch, num, channels, height, width)


class DenseMotionNetwork(nn.Module):
    """Predicts the dense deformation and occlusion map from keypoints (at ``scale_factor``).

    Args:
        block_expansion, num_blocks, max_features: hourglass width, depth and width cap.
        num_kp, num_channels: keypoints K and image channels.
        estimate_occlusion_map: add the occlusion head.
        scale_factor: the source is anti-alias downscaled by this factor first (0.25 in FOMM).
        kp_variance: variance of the keypoint Gaussians (0.01).
        align_corners: passed to ``grid_sample`` (False = official code on torch >= 1.3).

    Forward:
        ``source_image`` ``(B, C, H, W)``, ``kp_driving``, ``kp_source`` -> dict with
        ``sparse_deformed`` ``(B, K+1, C, h, w)``, ``mask`` ``(B, K+1, h, w)``,
        ``deformation`` ``(B, h, w, 2)`` and ``occlusion_map`` ``(B, 1, h, w)`` (if estimated).
    """

    def __init__(self, block_expansion: int, num_blocks: int, max_features: int, num_kp: int,
                 num_channels: int, estimate_occlusion_map: bool = False, scale_factor: float = 1,
                 kp_variance: float = 0.01, align_corners: bool = False):
        super().__init__()
        self.hourglass = Hourglass(block_expansion=block_expansion, in_features=(num_kp + 1) * (num_channels + 1),
                                   max_features=max_features, num_blocks=num_blocks)
        self.mask = nn.Conv2d(self.hourglass.out_filters, num_kp + 1, kernel_size=(7, 7), padding=(3, 3))
        self.occlusion = (nn.Conv2d(self.hourglass.out_filters, 1, kernel_size=(7, 7), padding=(3, 3))
                          if estimate_occlusion_map else None)
        self.num_kp = num_kp
        self.scale_factor = scale_factor
        self.kp_variance = kp_variance
        self.align_corners = align_corners
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def downscale(self, source_image: torch.Tensor) -> torch.Tensor:
        """The source at the motion resolution (computed once per source by the fast path)."""
        return self.down(source_image) if self.scale_factor != 1 else source_image

    def heatmap_difference(self, spatial_size: tuple[int, int], kp_driving: KP, kp_source: KP,
                           source_gaussians: torch.Tensor | None = None) -> torch.Tensor:
        """Driving minus source Gaussians with a zero background channel: ``(B, K+1, 1, h, w)``."""
        gauss_d = kp2gaussian(kp_driving, spatial_size, self.kp_variance)
        gauss_s = source_gaussians if source_gaussians is not None else kp2gaussian(kp_source, spatial_size, self.kp_variance)
        diff = gauss_d - gauss_s
        zeros = torch.zeros(diff.shape[0], 1, *spatial_size, dtype=diff.dtype, device=diff.device)
        return torch.cat([zeros, diff], dim=1).unsqueeze(2)

    def forward(self, source_image: torch.Tensor, kp_driving: KP, kp_source: KP,
                small_source: torch.Tensor | None = None,
                source_gaussians: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """See the class docstring; ``small_source``/``source_gaussians`` are optional caches.

        ``source_image`` (or ``small_source``) may have batch 1 while the keypoints have batch B:
        the one source is then shared by all B driving frames.
        """
        small = small_source if small_source is not None else self.downscale(source_image)
        height, width = small.shape[2:]
        batch = kp_driving["value"].shape[0]
        heat = self.heatmap_difference((height, width), kp_driving, kp_source, source_gaussians)
        motions = sparse_motions((height, width), kp_driving, kp_source)
        deformed = warp_per_motion(small, motions, self.align_corners)
        hourglass_in = torch.cat([heat.expand(batch, -1, -1, -1, -1), deformed], dim=2)
        features = self.hourglass(hourglass_in.view(batch, -1, height, width))
        mask = F.softmax(self.mask(features), dim=1)
        # (B, K+1, h, w, 2) weighted by (B, K+1, h, w, 1), summed over the motions.
        deformation = (motions * mask.unsqueeze(-1)).sum(dim=1)
        out = {"sparse_deformed": deformed, "mask": mask, "deformation": deformation}
        if self.occlusion is not None:
            out["occlusion_map"] = torch.sigmoid(self.occlusion(features))
        return out
