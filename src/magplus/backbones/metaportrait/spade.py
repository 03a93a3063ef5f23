"""Identity-conditioned SPADE decoder of MetaPortrait (the refinement network's renderer).

It starts from the identity code as a 1x1 map, expands it to 4x4 with a transposed convolution and
runs seven SPADE residual blocks up to 256x256. Each normalisation mixes a SPADE branch (the
warped-feature conditioning map) and an AdaIN branch (the identity code) with a learned
per-pixel attention. Spectral-normalised convolutions use the stored ``u``/``v`` (see layers.py).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .layers import AdaptiveInstanceNorm, SNConv2d, SNConvTranspose2d


class IdentitySPADE(nn.Module):
    """``a * SPADE(x, attr) + (1 - a) * AdaIN(x, id)`` with ``a = sigmoid(conv3x3(x))``.

    ``SPADE(x, attr) = IN(x) * (1 + gamma(attr)) + beta(attr)``; the attention is computed on the
    un-normalised input ``x``.

    Args:
        channels: channels of ``x``.
        label_channels: channels of the conditioning map ``attr`` (already at ``x``'s size).
        id_dim: size of the identity code.
        hidden: width of the shared conditioning conv (upstream: 128).
    """

    def __init__(self, channels: int, label_channels: int, id_dim: int, hidden: int = 128):
        super().__init__()
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_channels, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, channels, 3, padding=1)
        self.mlp_attention = nn.Sequential(nn.Conv2d(channels, 1, 3, padding=1), nn.Sigmoid())
        self.adain = AdaptiveInstanceNorm(channels, id_dim)

    def forward(self, x: torch.Tensor, attr: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        hidden = self.mlp_shared(attr)
        spade_out = F.instance_norm(x, eps=1e-5) * (1 + self.mlp_gamma(hidden)) + self.mlp_beta(hidden)
        attention = self.mlp_attention(x)
        return attention * spade_out + (1 - attention) * self.adain(x, identity)


class SPADEResBlock(nn.Module):
    """Residual block: two (norm, leaky-ReLU 0.2, SN-conv3x3) stages plus a shortcut.

    When the width changes the shortcut is ``SN-conv1x1(norm_s(x))`` (no bias, no activation).
    """

    def __init__(self, fin: int, fout: int, label_channels: int, id_dim: int, hidden: int):
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        self.conv_0 = SNConv2d(fin, fmiddle, 3, padding=1)
        self.conv_1 = SNConv2d(fmiddle, fout, 3, padding=1)
        self.norm_0 = IdentitySPADE(fin, label_channels, id_dim, hidden)
        self.norm_1 = IdentitySPADE(fmiddle, label_channels, id_dim, hidden)
        if self.learned_shortcut:
            self.conv_s = SNConv2d(fin, fout, 1, bias=False)
            self.norm_s = IdentitySPADE(fin, label_channels, id_dim, hidden)

    def forward(self, x: torch.Tensor, attr: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(self.norm_s(x, attr, identity)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, attr, identity), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, attr, identity), 0.2))
        return shortcut + dx


# (block name, conditioning level used, output width as a multiple of nf); input width is the
# previous block's output (16 nf for the first).
_BLOCKS = (("head_0", 0, 16), ("G_middle_0", 0, 16), ("G_middle_1", 0, 16), ("up_0", 0, 8),
           ("up_1", 1, 4), ("up_2", 2, 2), ("up_3", 3, 1))


class SPADEGenerator(nn.Module):
    """Renders a ``(B, 3, 256, 256)`` tanh image from the identity code and 4 conditioning maps.

    Args:
        label_channels: 7 conditioning widths, one per block in ``_BLOCKS`` order.
        id_dim: identity-code size (upstream: 256).
        nf: base width (upstream: 32); block widths 16nf, 16nf, 16nf, 8nf, 4nf, 2nf, nf.
        hidden: SPADE hidden width (upstream: 128).
    """

    def __init__(self, label_channels: Sequence[int], id_dim: int = 256, nf: int = 32, hidden: int = 128):
        super().__init__()
        self.conv1 = SNConvTranspose2d(id_dim, 16 * nf, 4)
        fin = 16 * nf
        for (name, _, mult), labels in zip(_BLOCKS, label_channels):
            setattr(self, name, SPADEResBlock(fin, mult * nf, labels, id_dim, hidden))
            fin = mult * nf
        self.conv_img = nn.Conv2d(nf, 3, 3, padding=1)

    def forward(self, attr_levels: Sequence[torch.Tensor], identity: torch.Tensor,
                debug: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Args: ``attr_levels`` maps at 32, 64, 128, 256 px; ``identity`` ``(B, id_dim)``.

        ``debug`` (optional dict) receives each block's output by block name.
        """
        x = self.conv1(identity.reshape(identity.shape[0], -1, 1, 1))  # (B, 16nf, 4, 4)
        for index, (name, level, _) in enumerate(_BLOCKS):
            if index > 0:
                x = F.interpolate(x, scale_factor=2, mode="bilinear")
            attr = F.interpolate(attr_levels[level], size=x.shape[2:], mode="bilinear")
            x = getattr(self, name)(x, attr, identity)
            if debug is not None:
                debug[name] = x
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))
