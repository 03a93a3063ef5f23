"""FSRT expression encoder: keypoint heatmaps pool detector features into one expression vector."""

from __future__ import annotations

import torch
from torch import nn

from ...types import check_shape
from .config import FSRTConfig


class ExpressionEncoder(nn.Module):
    """Per-keypoint features, pooled with that keypoint's heatmap, then an MLP to ``expression_size``.

    Input is the keypoint detector's hourglass output and its softmax heatmaps.
    """

    def __init__(self, config: FSRTConfig):
        super().__init__()
        self.num_kp, self.per_kp = config.num_kp, config.expression_size_per_kp
        self.expression = nn.Conv2d(config.detector_out_channels, self.num_kp * self.per_kp,
                                    kernel_size=7, padding=config.expr_pad)
        self.expression_mlp = nn.Sequential(
            nn.Linear(self.num_kp * self.per_kp, config.expr_mlp_hidden1), nn.ReLU(),
            nn.Linear(config.expr_mlp_hidden1, config.expr_mlp_hidden2), nn.ReLU(),
            nn.Linear(config.expr_mlp_hidden2, config.expr_mlp_hidden3), nn.ReLU(),
            nn.Linear(config.expr_mlp_hidden3, config.expression_size),
        )

    def forward(self, feature_map: torch.Tensor, heatmap: torch.Tensor) -> torch.Tensor:
        """Expression vectors.

        Args:
            feature_map: ``(B, C, h, w)`` hourglass output of the keypoint detector.
            heatmap: ``(B, K, h', w')`` keypoint heatmaps (softmax over space), where
                ``h' = h - 6 + 2 * pad`` (the 7x7 head conv).

        Returns:
            ``(B, expression_size)``.
        """
        check_shape(feature_map, ["B", "C", "h", "w"], "feature_map")
        features = self.expression(feature_map)
        batch, _, height, width = features.shape
        check_shape(heatmap, [batch, self.num_kp, height, width], "heatmap")
        features = features.view(batch, self.num_kp, self.per_kp, height, width)
        pooled = (heatmap.unsqueeze(2) * features).flatten(3).sum(-1)  # (B, K, per_kp)
        return self.expression_mlp(pooled.flatten(1))
