"""FSRT encoder: source image(s) + positional, keypoint and expression features -> set-latent tokens."""

from __future__ import annotations

import torch
from torch import nn

from ...types import check_shape
from .config import FSRTConfig
from .layers import PointEncoding, Transformer


class ConvDownBlock(nn.Module):
    """3x3 conv (stride 1) -> ReLU -> 3x3 conv (stride 2) -> ReLU, no biases; halves H and W."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size=3, padding=1, bias=False), nn.ReLU(),
            nn.Conv2d(hidden, out_channels, kernel_size=3, stride=2, padding=1, bias=False), nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class FSRTEncoder(nn.Module):
    """Encode source images into tokens ``(B, N * h * w, token_dim)`` with ``h = H / 2**num_conv_blocks``.

    Each pixel of the input gets ``[RGB, keypoint encoding, pixel encoding, expression vector]``
    as channels; a CNN downsamples, a 1x1 conv projects to tokens, and a self-attention
    transformer mixes the tokens of all source images.
    """

    def __init__(self, config: FSRTConfig):
        super().__init__()
        self.config = config
        self.point_encoding = PointEncoding(config.kp_octaves, config.kp_start_octave,
                                            config.pix_octaves, config.pix_start_octave)
        expression = config.expression_size if config.encode_with_expression else 0
        in_channels = 3 + config.keypoint_features + config.pixel_features + expression
        width = 2 * config.enc_conv_hidden
        blocks = [ConvDownBlock(in_channels, config.enc_conv_hidden, width)]
        for _ in range(1, config.num_conv_blocks):
            blocks.append(ConvDownBlock(width, width, 2 * width))
            width *= 2
        self.conv_blocks = nn.Sequential(*blocks)
        self.per_patch_linear = nn.Conv2d(width, config.token_dim, kernel_size=1)
        self.transformer = Transformer(config.token_dim, config.enc_att_blocks, config.enc_heads,
                                       config.enc_dim_head, config.enc_mlp_dim, self_attention=True)

    def forward(self, images: torch.Tensor, keypoints: torch.Tensor, pixels: torch.Tensor,
                expression: torch.Tensor | None = None) -> torch.Tensor:
        """Encode a set of source images.

        Args:
            images: ``(B, N, 3, H, W)`` RGB in [0, 1].
            keypoints: ``(B, N, K, 2)`` keypoints of each image, (x, y) in [-1, 1].
            pixels: ``(B, N, H, W, 2)`` pixel-centre positions in (-1, 1).
            expression: ``(B, N, E)`` expression vectors, or None.

        Returns:
            Tokens ``(B, N * h * w, token_dim)``.
        """
        check_shape(images, ["B", "N", 3, "H", "W"], "images")
        batch, count, _, height, width = images.shape
        check_shape(keypoints, [batch, count, self.config.num_kp, 2], "keypoints")
        check_shape(pixels, [batch, count, height, width, 2], "pixels")
        x = images.flatten(0, 1)
        features = [x, self.point_encoding.image_features(pixels.flatten(0, 1), keypoints.flatten(0, 1))]
        if expression is not None and self.config.encode_with_expression:
            check_shape(expression, [batch, count, self.config.expression_size], "expression")
            features.append(expression.flatten(0, 1)[:, :, None, None].expand(-1, -1, height, width))
        x = self.per_patch_linear(self.conv_blocks(torch.cat(features, dim=1)))
        tokens = x.flatten(2).transpose(1, 2)  # (B*N, h*w, C)
        tokens = tokens.reshape(batch, count * tokens.shape[1], tokens.shape[2])
        return self.transformer(tokens)
