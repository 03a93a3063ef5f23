"""The MetaPortrait base generator (``meta_portrait_256_eval``): warping network + ID-SPADE refinement.

Warp stage: the ladder encoder turns ``cat(source, source_line, driving_line)`` into a style code
that modulates the dense-motion hourglass; it predicts a 64x64 flow (in pixels, converted to
normalised units and added to the corner-aligned identity grid) and an occlusion map.
Refine stage: the source's feature pyramid (32, 64, 128, 256 px) is warped by that deformation
(grid_sample, reflection padding), concatenated with the occlusion map, 8 gaze heatmaps, the
landmark line images and the mouth line image, and rendered by the identity-conditioned SPADE
decoder. The state-dict keys equal the official ``generator`` entry of ``ckpt_base.pth.tar``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .hourglass import Hourglass
from .ladder import LadderEncoder
from .layers import LayerNorm2d, coordinate_grid, gaussian_heatmaps
from .spade import SPADEGenerator

#: Rows of the 58 selected landmarks that feed the gaze heatmaps (4 points per eye).
GAZE_ROWS = slice(29, 37)
#: Variance of the gaze Gaussians in normalised [-1, 1] units.
GAZE_VARIANCE = 0.005
#: Extra conditioning channels per SPADE level: occlusion 1 + gaze 8 + ldmk lines 6 + mouth line 3.
CONDITION_EXTRA = 18


@dataclass
class MetaPortraitConfig:
    """Widths of the generator; defaults are the official ``meta_portrait_256_eval`` values.

    The last six fields are literals in the upstream code (not in its YAML); they are exposed
    so that reduced models (such as the golden test case) can be built.
    """

    block_expansion: int = 64          # generator.block_expansion (feature encoder)
    max_features: int = 512            # generator.max_features
    z_dim: int = 512                   # generator.ladder.z_dim
    motion_block_expansion: int = 64   # generator.dense_motion_params.block_expansion
    motion_max_features: int = 1024    # generator.dense_motion_params.max_features
    motion_num_blocks: int = 5         # generator.dense_motion_params.num_blocks
    motion_dec_lease: int = 2          # generator.dense_motion_params.dec_lease
    adain_channels: int = 512          # generator.dense_motion_params.AdaINc
    ladder_nef: int = 64               # LadderEncoder nef
    adain_hidden: int = 128            # util.ADAIN nhidden
    spade_hidden: int = 128            # spade.SPADE nhidden
    id_dim: int = 256                  # identity-embedding size (class_dim)
    spade_conv_dim: int = 32           # SPADEGenerator conv_dim (nf)
    spade_label_nc: tuple[int, ...] = field(default=(512, 512, 512, 512, 256, 128, 64))

    def __post_init__(self) -> None:
        self.spade_label_nc = tuple(int(v) for v in self.spade_label_nc)
        if len(self.spade_label_nc) != 7:
            raise ValueError(f"spade_label_nc must have 7 entries, got {self.spade_label_nc}.")

    @classmethod
    def from_yaml_generator(cls, generator: Mapping[str, Any], **hard_coded: Any) -> "MetaPortraitConfig":
        """Build from the ``model.generator`` mapping of an official YAML config plus literal overrides."""
        motion = generator["dense_motion_params"]
        return cls(
            block_expansion=generator["block_expansion"], max_features=generator["max_features"],
            z_dim=generator["ladder"]["z_dim"], motion_block_expansion=motion["block_expansion"],
            motion_max_features=motion["max_features"], motion_num_blocks=motion["num_blocks"],
            motion_dec_lease=motion["dec_lease"], adain_channels=motion["AdaINc"], **hard_coded,
        )

    @classmethod
    def from_yaml_file(cls, path: str, **hard_coded: Any) -> "MetaPortraitConfig":
        """Read ``model.generator`` of an official YAML config file (e.g. meta_portrait_256_eval.yaml)."""
        import yaml

        from ...errors import InputError

        try:
            with open(path) as handle:
                generator = yaml.safe_load(handle)["model"]["generator"]
            return cls.from_yaml_generator(generator, **hard_coded)
        except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
            raise InputError(f"cannot read MetaPortrait config {str(path)!r} ({exc!r}); pass an official "
                             "config/*.yaml with a model.generator section.") from exc

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DenseMotionNetwork(nn.Module):
    """Style-modulated hourglass -> 64x64 flow + occlusion map.

    Input ``(B, 9, H, W)`` and style ``(B, adain_channels)``. Returns ``flow`` ``(B, 2, h, w)`` in
    normalised units, ``deformation`` ``(B, h, w, 2)`` (grid + flow, (x, y) in [-1, 1]) and
    ``occlusion_map`` ``(B, 1, H, W)`` (sigmoid, bilinearly resized to the input size).
    """

    def __init__(self, cfg: MetaPortraitConfig, in_channels: int = 9):
        super().__init__()
        self.hourglass = Hourglass(cfg.motion_block_expansion, in_channels, cfg.motion_num_blocks,
                                   cfg.motion_max_features, lwarp=True, style_dim=cfg.adain_channels,
                                   dec_lease=cfg.motion_dec_lease, adain_hidden=cfg.adain_hidden)
        width = self.hourglass.out_filters
        self.reger = nn.Sequential(LayerNorm2d(width), nn.LeakyReLU(0.1), nn.Conv2d(width, 2, 7, padding=3))
        self.occlusion_net = nn.Sequential(LayerNorm2d(width), nn.LeakyReLU(0.1), nn.Conv2d(width, 1, 7, padding=3))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.hourglass(x, style)
        flow = self.reger(features)  # pixels of the h x w motion grid
        _, _, height, width = flow.shape
        flow = 2 * torch.cat([flow[:, :1] / (width - 1), flow[:, 1:] / (height - 1)], dim=1)
        grid = coordinate_grid(height, width, flow.device, flow.dtype)
        occlusion = torch.sigmoid(self.occlusion_net(features))
        if occlusion.shape[2:] != x.shape[2:]:
            occlusion = F.interpolate(occlusion, size=x.shape[2:], mode="bilinear", align_corners=False)
        return {"flow": flow, "deformation": grid[None] + flow.permute(0, 2, 3, 1), "occlusion_map": occlusion}


def deform(image: torch.Tensor, deformation: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` ``(B, C, H, W)`` at ``deformation`` ``(B, h, w, 2)`` resized to ``(H, W)``.

    Bilinear grid_sample, reflection padding, ``align_corners=False`` (what the official code
    computes on torch >= 1.3).
    """
    if deformation.shape[1:3] != image.shape[2:]:
        deformation = F.interpolate(deformation.permute(0, 3, 1, 2), size=image.shape[2:], mode="bilinear")
        deformation = deformation.permute(0, 2, 3, 1)
    return F.grid_sample(image.to(deformation.dtype), deformation, mode="bilinear",
                         padding_mode="reflection", align_corners=False)


class MetaPortraitGenerator(nn.Module):
    """Official module layout: ``ladder_network``, ``dense_motion_network``, ``feature_encoder``,
    ``fuse_high_res``, ``SPDAE_G`` (sic)."""

    def __init__(self, cfg: MetaPortraitConfig | None = None):
        super().__init__()
        cfg = cfg or MetaPortraitConfig()
        self.cfg = cfg
        self.ladder_network = LadderEncoder(9, cfg.z_dim, cfg.ladder_nef)
        self.dense_motion_network = DenseMotionNetwork(cfg)
        self.feature_encoder = Hourglass(cfg.block_expansion, 3, 3, cfg.max_features, lwarp=False,
                                         style_dim=0, dec_lease=0)
        self.fuse_high_res = nn.Conv2d(cfg.block_expansion + 3, cfg.block_expansion, 3, padding=1)
        labels = [width + CONDITION_EXTRA for width in cfg.spade_label_nc]
        self.SPDAE_G = SPADEGenerator(labels, cfg.id_dim, cfg.spade_conv_dim, cfg.spade_hidden)

    def warp(self, source: torch.Tensor, ldmk_line: torch.Tensor) -> dict[str, torch.Tensor]:
        """Warp stage. ``source`` ``(B, 3, 256, 256)`` in [0, 1]; ``ldmk_line`` ``(B, 6, 256, 256)``
        (source then driving line image). Returns ladder_style, flow, deformation, occlusion_map, deformed."""
        inputs = torch.cat([source, ldmk_line], dim=1)
        style = self.ladder_network(inputs)
        motion = self.dense_motion_network(inputs, style)
        motion["deformed"] = deform(source, motion["deformation"])
        motion["ladder_style"] = style
        return motion

    def refine(self, source: torch.Tensor, identity: torch.Tensor, ldmk_line: torch.Tensor,
               mouth_line: torch.Tensor, gaze_points: torch.Tensor, warp_out: Mapping[str, torch.Tensor],
               debug: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Refine stage -> prediction ``(B, 3, 256, 256)`` in [-1, 1] (tanh).

        Args:
            identity: ``(B, id_dim)`` raw identity embedding.
            mouth_line: ``(B, 3, 256, 256)`` driving line image times the mouth mask.
            gaze_points: ``(B, 8, 2)`` rows 29:37 of the 58 selected driving landmarks, in [-1, 1].
        """
        _, levels = self.feature_encoder(source, return_all=True)
        levels[-1] = self.fuse_high_res(levels[-1])
        occlusion = warp_out["occlusion_map"]
        conditions = []
        for feature in levels:
            feature = deform(feature, warp_out["deformation"])
            size = feature.shape[2:]
            occ = occlusion if occlusion.shape[2:] == size else F.interpolate(occlusion, size=size, mode="bilinear")
            gaze = gaussian_heatmaps(gaze_points, size[0], size[1], GAZE_VARIANCE)
            # Upstream quirk kept on purpose: each level resizes the PREVIOUS level's line images
            # (256 -> 32 -> 64 -> 128 -> 256), not the originals; the trained weights expect it.
            ldmk_line = F.interpolate(ldmk_line, size=size, mode="bilinear")
            mouth_line = F.interpolate(mouth_line, size=size, mode="bilinear")
            conditions.append(torch.cat([feature, occ, gaze, ldmk_line, mouth_line], dim=1))
        if debug is not None:
            debug["spade_input0"] = conditions[0]
        return self.SPDAE_G(conditions, identity, debug=debug)

    def forward(self, source: torch.Tensor, source_line: torch.Tensor, driving_line: torch.Tensor,
                gaze_points: torch.Tensor, identity: torch.Tensor, mouth_mask: torch.Tensor,
                debug: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Full inference (official ``stage="Full", inference=True``); adds ``prediction`` to the warp outputs.

        Shapes: source/lines ``(B, 3, 256, 256)``, gaze_points ``(B, 8, 2)`` (or the full ``(B, 58, 2)``),
        identity ``(B, id_dim)``, mouth_mask ``(B, 1, 256, 256)``.
        """
        if gaze_points.shape[1] == 58:
            gaze_points = gaze_points[:, GAZE_ROWS]
        ldmk_line = torch.cat([source_line, driving_line], dim=1)
        out = self.warp(source, ldmk_line)
        out["prediction"] = self.refine(source, identity, ldmk_line, driving_line * mouth_mask, gaze_points,
                                        out, debug=debug)
        return out
