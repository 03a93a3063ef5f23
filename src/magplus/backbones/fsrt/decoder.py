"""FSRT decoder: one query per output pixel attends to the source tokens and is rendered to RGB.

Every pixel is decoded independently of the others, so the queries can be processed in chunks
of any size with the same result; the keys/values of the tokens are projected once per source
(:meth:`FSRTDecoder.prepare`) and reused for every chunk and every driving frame.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ...errors import InputError
from ...types import check_shape
from .config import FSRTConfig
from .layers import PointEncoding, Transformer

#: Cross-attention keys/values of the source tokens, one ``(k, v)`` pair per decoder layer.
DecoderMemory = list[tuple[torch.Tensor, torch.Tensor]]


class QueryTransformer(nn.Module):
    """Builds per-pixel queries (keypoint + pixel encoding + expression) and cross-attends to tokens."""

    def __init__(self, config: FSRTConfig):
        super().__init__()
        self.config = config
        self.point_encoding = PointEncoding(config.kp_octaves, config.kp_start_octave,
                                            config.pix_octaves, config.pix_start_octave)
        dim = config.query_dim
        self.input_mlp = nn.Sequential(nn.Linear(dim, config.dec_input_mlp_hidden), nn.ReLU(),
                                       nn.Linear(config.dec_input_mlp_hidden, dim))
        self.transformer = Transformer(dim, config.dec_att_blocks, config.dec_heads,
                                       config.token_dim // config.dec_heads, 2 * config.token_dim,
                                       self_attention=False, kv_dim=config.token_dim)

    def queries(self, pixels: torch.Tensor, keypoints: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        """Raw queries ``(B, n, query_dim)`` = cat(keypoint enc, pixel enc, expression) per pixel.

        Args:
            pixels: ``(B, n, 2)`` pixel positions; keypoints: ``(B, K, 2)``; expression: ``(B, E)``.
        """
        batch, count, _ = pixels.shape
        kp = self.point_encoding.encode_keypoints(keypoints)[:, None].expand(batch, count, -1)
        pix = self.point_encoding.encode_pixels(pixels)
        return torch.cat((kp, pix, expression[:, None].expand(batch, count, -1)), dim=-1)

    def forward(self, queries: torch.Tensor, memory: DecoderMemory) -> torch.Tensor:
        """``(B, n, query_dim)`` raw queries -> ``(B, n, query_dim)`` features."""
        return self.transformer(self.input_mlp(queries), kv=memory)


class FSRTDecoder(nn.Module):
    """Render RGB at query pixels from source tokens, driving keypoints and a driving expression."""

    def __init__(self, config: FSRTConfig):
        super().__init__()
        self.config = config
        self.allocation_transformer = QueryTransformer(config)
        dim, hidden = config.query_dim, config.dec_render_hidden
        self.render_mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 3),
        )

    def prepare(self, tokens: torch.Tensor) -> DecoderMemory:
        """Project source tokens ``(B, P, token_dim)`` to per-layer keys/values (do it once per source)."""
        check_shape(tokens, ["B", "P", self.config.token_dim], "tokens")
        return self.allocation_transformer.transformer.project_context(tokens)

    def _check(self, memory: DecoderMemory, pixels: torch.Tensor, keypoints: torch.Tensor,
               expression: torch.Tensor) -> None:
        batch = memory[0][0].shape[0]
        check_shape(pixels, [batch, "n", 2], "pixels")
        if pixels.shape[1] == 0:
            raise InputError("pixels must hold at least one query pixel, got 0.")
        check_shape(keypoints, [batch, self.config.num_kp, 2], "keypoints")
        check_shape(expression, [batch, self.config.expression_size], "expression")

    def forward(self, tokens: torch.Tensor | DecoderMemory, pixels: torch.Tensor, keypoints: torch.Tensor,
                expression: torch.Tensor, chunk_size: int | None = None,
                progress: Callable[[int], None] | None = None) -> torch.Tensor:
        """Decode RGB at ``pixels``.

        Args:
            tokens: encoder output ``(B, P, token_dim)`` or the result of :meth:`prepare`.
            pixels: ``(B, n, 2)`` query pixel positions in (-1, 1).
            keypoints: ``(B, K, 2)`` driving keypoints (shared by all query pixels).
            expression: ``(B, E)`` driving expression vector.
            chunk_size: pixels decoded at once (None: all); bounds memory, not the result.
            progress: optional callback with the number of pixels just decoded.

        Returns:
            Raw RGB ``(B, n, 3)`` (no output activation; clamp for display).
        """
        memory = self.prepare(tokens) if isinstance(tokens, torch.Tensor) else tokens
        self._check(memory, pixels, keypoints, expression)
        total = pixels.shape[1]
        if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
            raise InputError(f"chunk_size must be a positive integer or None, got {chunk_size!r}.")
        step = total if chunk_size is None else chunk_size
        outputs = []
        for start in range(0, total, max(step, 1)):
            queries = self.allocation_transformer.queries(pixels[:, start:start + step], keypoints, expression)
            outputs.append(self.render_mlp(self.allocation_transformer(queries, memory)))
            if progress is not None:
                progress(outputs[-1].shape[1])
        return torch.cat(outputs, dim=1)
