"""The FSRT model: keypoint detector + expression encoder + transformer encoder + pixel decoder.

Loading follows the published layout: ``kp_detector.pt`` is a bare keypoint-detector state
dict; ``vox256.pt`` is a dict with the state dicts ``encoder``, ``decoder`` and
``expression_encoder`` (training entries such as ``optimizer`` are ignored).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import torch
from torch import nn

from ...errors import CheckpointMismatchError, InputError
from ...types import check_shape
from ...weights import LoadReport, load_state_dict_strict
from ..fomm.keypoint_detector import KPDetector, heatmap_to_keypoints
from .config import FSRTConfig
from .decoder import DecoderMemory, FSRTDecoder
from .encoder import FSRTEncoder
from .expression import ExpressionEncoder

#: Entries of ``vox256.pt`` that inference reads, in the order the official loader uses.
VOX_MODULES = ("encoder", "decoder", "expression_encoder")


def pixel_grid(height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Pixel-centre positions ``(H, W, 2)`` in (-1, 1), (x, y), as the official demo builds them.

    ``x = (col + 0.5 - H/2) / (H/2)`` and ``y = (row + 0.5 - W/2) / (W/2)``: upstream normalises x
    by the height and y by the width; the two agree for the square images FSRT uses.
    """
    cols = torch.arange(width, dtype=torch.float32, device=device)
    rows = torch.arange(height, dtype=torch.float32, device=device)
    x = (cols + 0.5 - height / 2.0) / (height / 2.0)
    y = (rows + 0.5 - width / 2.0) / (width / 2.0)
    return torch.stack((x[None, :].expand(height, width), y[:, None].expand(height, width)), dim=-1)


@dataclass
class SourceEncoding:
    """Everything the decoder needs from the source image(s); computed once, reused per frame.

    Attributes:
        keypoints: ``(N, K, 2)`` keypoints of the N source images.
        expression: ``(N, E)`` their expression vectors.
        tokens: ``(1, N * P, token_dim)`` encoder output.
        memory: per-layer cross-attention keys/values of ``tokens``.
        size: ``(H, W)`` of the source images.
    """

    keypoints: torch.Tensor
    expression: torch.Tensor
    tokens: torch.Tensor
    memory: DecoderMemory
    size: tuple[int, int]


class FSRTModel(nn.Module):
    """All four FSRT networks with the official inference steps.

    Args:
        config: architecture (:data:`magplus.backbones.fsrt.config.VOX256` by default).
    """

    def __init__(self, config: FSRTConfig | None = None):
        super().__init__()
        self.config = config = config or FSRTConfig()
        self.kp_detector = self.build_keypoint_detector(config)
        self.encoder = FSRTEncoder(config)
        self.decoder = FSRTDecoder(config)
        self.expression_encoder = ExpressionEncoder(config)

    @staticmethod
    def build_keypoint_detector(config: FSRTConfig) -> KPDetector:
        """FOMM's keypoint detector without the Jacobian head, as FSRT configures it."""
        return KPDetector(
            block_expansion=config.kp_block_expansion, num_kp=config.num_kp, num_channels=3,
            max_features=config.kp_max_features, num_blocks=config.kp_num_blocks,
            temperature=config.kp_temperature, estimate_jacobian=False,
            scale_factor=config.kp_scale_factor, pad=config.kp_pad)

    def load_official(self, kp_state: Mapping[str, torch.Tensor], vox_state: Mapping[str, Mapping[str, torch.Tensor]],
                      strict: bool = True) -> dict[str, LoadReport]:
        """Load the published state dicts; with ``strict`` every difference raises one full report.

        Args:
            kp_state: the keypoint detector's state dict (``kp_detector.pt``).
            vox_state: ``{"encoder": ..., "decoder": ..., "expression_encoder": ...}`` (``vox256.pt``).

        Raises:
            CheckpointMismatchError: missing modules, or missing/unexpected/wrong-shape keys.
        """
        absent = [name for name in VOX_MODULES if not isinstance(vox_state.get(name), Mapping)]
        if absent:
            raise CheckpointMismatchError(
                f"the FSRT checkpoint lacks the state dict(s) {absent} (found entries {sorted(vox_state)}); "
                "pass the official vox256.pt (or a file written by `magplus convert-weights fsrt`).")
        reports = {"kp_detector": load_state_dict_strict(self.kp_detector, kp_state, "FSRT keypoint detector", strict)}
        for name in VOX_MODULES:
            reports[name] = load_state_dict_strict(getattr(self, name), vox_state[name], f"FSRT {name}", strict)
        return reports

    def detect(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Keypoints ``(B, K, 2)``, hourglass features ``(B, C, h, w)`` and heatmaps ``(B, K, h', w')``."""
        detector = self.kp_detector
        x = detector.down(images) if detector.scale_factor != 1 else images
        feature_map = detector.predictor(x)
        heatmap = detector.heatmaps(feature_map)
        return heatmap_to_keypoints(heatmap), feature_map, heatmap

    def keypoints_and_expression(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keypoints ``(B, K, 2)`` ((x, y) in [-1, 1]) and expression vectors ``(B, E)`` of ``images`` ``(B, 3, H, W)``."""
        check_shape(images, ["B", 3, "H", "W"], "images")
        keypoints, feature_map, heatmap = self.detect(images)
        return keypoints, self.expression_encoder(feature_map, heatmap)

    def encode_source(self, images: torch.Tensor) -> SourceEncoding:
        """Encode N source images ``(N, 3, H, W)`` (N = 1, or 2 for the two-source checkpoint)."""
        check_shape(images, ["N", 3, "H", "W"], "source images")
        count, _, height, width = images.shape
        keypoints, expression = self.keypoints_and_expression(images)
        pixels = pixel_grid(height, width, images.device).expand(1, count, height, width, 2)
        tokens = self.encoder(images[None], keypoints[None], pixels, expression[None])
        return SourceEncoding(keypoints, expression, tokens, self.decoder.prepare(tokens), (height, width))

    def decode(self, source: SourceEncoding, keypoints: torch.Tensor, expression: torch.Tensor,
               size: tuple[int, int] | None = None, chunk_size: int | None = 8192,
               progress: Callable[[int], None] | None = None) -> torch.Tensor:
        """Render one frame.

        Args:
            source: from :meth:`encode_source`.
            keypoints: ``(K, 2)`` target keypoints (already made relative if wanted).
            expression: ``(E,)`` target expression vector.
            size: ``(h, w)`` of the decoded pixel grid (default: the source size); a smaller
                grid samples the same image at coarser pixel centres.
            chunk_size: query pixels decoded at once (None: all at once, as upstream).

        Returns:
            Raw RGB ``(3, h, w)`` (unclamped, as the decoder produces it).
        """
        check_shape(keypoints, [self.config.num_kp, 2], "keypoints")
        check_shape(expression, [self.config.expression_size], "expression")
        height, width = size or source.size
        if height <= 0 or width <= 0:
            raise InputError(f"size must be positive, got {(height, width)}.")
        pixels = pixel_grid(height, width, keypoints.device).reshape(1, height * width, 2)
        rgb = self.decoder(source.memory, pixels, keypoints[None], expression[None], chunk_size, progress)
        return rgb.view(height, width, 3).permute(2, 0, 1)
