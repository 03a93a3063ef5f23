"""Building blocks of FSRT: sinusoidal point encodings and a pre-norm ViT-style transformer.

The attribute names (``norm``, ``fn``, ``to_qkv``, ``to_q``, ``to_kv``, ``to_out``, ``net``) are
the ones the official state dicts use, so published checkpoints load without a key map.
Attention runs through :func:`torch.nn.functional.scaled_dot_product_attention`, which never
materialises the (queries x tokens) score matrix on CPU and gives the same result as the
explicit ``softmax(q k^T / sqrt(d)) v`` up to float32 rounding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import InputError


def sinusoid_encoding(coords: torch.Tensor, num_octaves: int, start_octave: int) -> torch.Tensor:
    """Encode coordinates with sines and cosines at octave frequencies ``2**o * pi``.

    Layout (what the official weights expect): for each input coordinate the ``num_octaves``
    frequencies are contiguous; all sines come first, then all cosines.

    Args:
        coords: ``(..., D)`` coordinates (pixel or keypoint positions in [-1, 1]).
        num_octaves: number of frequencies ``n``.
        start_octave: exponent of the lowest frequency.

    Returns:
        ``(..., 2 * D * n)``: ``[sin(c_0 f_0..f_n-1), ..., sin(c_D-1 ...), cos(...)...]``.
    """
    octaves = torch.arange(start_octave, start_octave + num_octaves, device=coords.device).to(coords.dtype)
    frequencies = torch.pow(2.0, octaves) * math.pi
    scaled = (coords.unsqueeze(-1) * frequencies).flatten(-2)  # (..., D * n)
    return torch.cat((torch.sin(scaled), torch.cos(scaled)), dim=-1)


class PointEncoding(nn.Module):
    """Positional features of query pixels together with the facial keypoints.

    Output is ``cat(keypoint_encoding, pixel_encoding)`` on the feature axis; the keypoint
    part has ``4 * num_kp * kp_octaves`` features, the pixel part ``4 * pix_octaves``.
    """

    def __init__(self, kp_octaves: int = 4, kp_start_octave: int = -1,
                 pix_octaves: int = 16, pix_start_octave: int = -1):
        super().__init__()
        self.kp_octaves, self.kp_start_octave = kp_octaves, kp_start_octave
        self.pix_octaves, self.pix_start_octave = pix_octaves, pix_start_octave

    def encode_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(..., 2)`` pixel positions -> ``(..., 4 * pix_octaves)``."""
        return sinusoid_encoding(pixels, self.pix_octaves, self.pix_start_octave)

    def encode_keypoints(self, keypoints: torch.Tensor) -> torch.Tensor:
        """``(..., K, 2)`` keypoints -> ``(..., 4 * K * kp_octaves)`` (coordinates flattened x0, y0, x1, ...)."""
        return sinusoid_encoding(keypoints.flatten(-2), self.kp_octaves, self.kp_start_octave)

    def image_features(self, pixels: torch.Tensor, keypoints: torch.Tensor) -> torch.Tensor:
        """Channel-first features for a pixel grid.

        Args:
            pixels: ``(B, H, W, 2)`` pixel positions.
            keypoints: ``(B, K, 2)`` keypoints, broadcast over the grid.

        Returns:
            ``(B, C_kp + C_pix, H, W)``.
        """
        batch, height, width, _ = pixels.shape
        pix = self.encode_pixels(pixels).permute(0, 3, 1, 2)
        kp = self.encode_keypoints(keypoints)[:, :, None, None].expand(batch, -1, height, width)
        return torch.cat((kp, pix), dim=1)


class PreNorm(nn.Module):
    """``fn(LayerNorm(x))``; the residual is added by :class:`Transformer`."""

    def __init__(self, dim: int, fn: nn.Module):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        return self.fn(self.norm(x), **kwargs)


class FeedForward(nn.Module):
    """Linear -> exact GELU -> Linear (index 2 is a parameter-free slot kept for key parity)."""

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden_dim), nn.GELU(), nn.Identity(), nn.Linear(hidden_dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Attention(nn.Module):
    """Multi-head attention; self-attention (``to_qkv``) or cross-attention (``to_q`` + ``to_kv``).

    For cross-attention the key/value projection of the context can be computed once with
    :meth:`project_context` and passed to :meth:`forward` for every chunk of queries.
    """

    def __init__(self, dim: int, heads: int, dim_head: int, self_attention: bool = True, kv_dim: int | None = None):
        super().__init__()
        inner = heads * dim_head
        self.heads, self.dim_head = heads, dim_head
        self.self_attention = self_attention
        if self_attention:
            self.to_qkv = nn.Linear(dim, 3 * inner, bias=False)
        else:
            self.to_q = nn.Linear(dim, inner, bias=False)
            self.to_kv = nn.Linear(kv_dim if kv_dim is not None else dim, 2 * inner, bias=False)
        # A single head as wide as the model needs no output projection (none is stored then).
        self.to_out = nn.Identity() if (heads == 1 and dim_head == dim) else nn.Sequential(nn.Linear(inner, dim))

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.heads, self.dim_head)).transpose(1, 2)  # (B, h, N, d)

    def project_context(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values ``(B, h, P, d)`` of a context ``(B, P, kv_dim)`` (cross-attention only)."""
        keys, values = self.to_kv(context).chunk(2, dim=-1)
        return self._split_heads(keys), self._split_heads(values)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                kv: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Attend from ``x`` ``(B, N, dim)`` to itself, to ``context``, or to projected ``kv``."""
        if self.self_attention:
            q, k, v = (self._split_heads(t) for t in self.to_qkv(x).chunk(3, dim=-1))
        else:
            if kv is None:
                if context is None:
                    raise InputError("cross-attention needs `context` or precomputed `kv`; pass the encoder tokens.")
                kv = self.project_context(context)
            q, (k, v) = self._split_heads(self.to_q(x)), kv
        out = F.scaled_dot_product_attention(q, k, v, scale=self.dim_head ** -0.5)
        return self.to_out(out.transpose(1, 2).flatten(-2))


class Transformer(nn.Module):
    """``depth`` pre-norm blocks: ``x += Attn(LN(x)); x += FF(LN(x))``."""

    def __init__(self, dim: int, depth: int, heads: int, dim_head: int, mlp_dim: int,
                 self_attention: bool = True, kv_dim: int | None = None):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList([
                PreNorm(dim, Attention(dim, heads, dim_head, self_attention=self_attention, kv_dim=kv_dim)),
                PreNorm(dim, FeedForward(dim, mlp_dim)),
            ])
            for _ in range(depth)
        )

    def project_context(self, context: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per-layer keys/values of ``context`` for cross-attention (reuse across query chunks)."""
        return [attn.fn.project_context(context) for attn, _ in self.layers]

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> torch.Tensor:
        """``x``: ``(B, N, dim)``; ``context``: ``(B, P, kv_dim)`` or ``kv`` from :meth:`project_context`."""
        for index, (attn, ff) in enumerate(self.layers):
            if attn.fn.self_attention:
                x = attn(x) + x
            else:
                x = attn(x, context=context, kv=None if kv is None else kv[index]) + x
            x = ff(x) + x
        return x
