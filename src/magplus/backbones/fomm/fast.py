"""Inference-only copies of the FOMM modules: BatchNorm folded into convolutions, channels-last.

Same functions, fewer passes over memory: an eval-mode BatchNorm right after a convolution is an
affine map per output channel, so it can be multiplied into the convolution's weights and bias
(``w' = w * g / sqrt(v + eps)``, ``b' = (b - m) * g / sqrt(v + eps) + beta``); the oneDNN
convolutions of the CPU build run faster on NHWC ("channels-last") tensors, which avoids a layout
reorder before and after every convolution. The result equals the reference modules up to
float32 rounding (the folded weights round once more); tests hold it to the golden tolerances.

Where BatchNorm cannot be folded: the first BatchNorm of a pre-activation :class:`ResBlock2d`
acts on the block input, which the residual also uses, so only its second BatchNorm (after the
first convolution) folds.

The copies are built from the reference modules and never share storage with them, so the
reference modules keep their state-dict layout (checkpoints, golden-vector tests).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .blocks import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d

__all__ = ["PhaseUpBlock2d", "fold_batchnorm", "fold_module_batchnorms", "inference_copy", "replace_up_blocks"]


@torch.no_grad()
def fold_batchnorm(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> nn.Conv2d:
    """A new convolution equal to ``norm(conv(x))`` with ``norm`` in eval mode.

    Raises:
        ValueError: ``norm`` has no running statistics (it would normalise by the batch).
    """
    if norm.running_mean is None or norm.running_var is None:
        raise ValueError("cannot fold a BatchNorm without running statistics (track_running_stats=False)")
    # Fold in float64 so the only new rounding is the final cast to the weights' dtype.
    scale = norm.running_var.double().add(norm.eps).rsqrt()
    if norm.weight is not None:
        scale = scale * norm.weight.double()
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    bias = (bias - norm.running_mean.double()) * scale
    if norm.bias is not None:
        bias = bias + norm.bias.double()
    folded = copy.deepcopy(conv)
    folded.weight.copy_((conv.weight.double() * scale.view(-1, 1, 1, 1)).to(conv.weight.dtype))
    if folded.bias is None:
        folded.bias = nn.Parameter(bias.to(conv.weight.dtype))
    else:
        folded.bias.copy_(bias.to(conv.weight.dtype))
    return folded


def fold_module_batchnorms(module: nn.Module) -> nn.Module:
    """Fold every conv -> BatchNorm pair of the FOMM blocks inside ``module``, in place.

    Folded BatchNorms become ``nn.Identity``; returns ``module``.
    """
    for block in module.modules():
        if isinstance(block, (SameBlock2d, DownBlock2d, UpBlock2d)):
            block.conv = fold_batchnorm(block.conv, block.norm)
            block.norm = nn.Identity()
        elif isinstance(block, ResBlock2d):
            block.conv1 = fold_batchnorm(block.conv1, block.norm2)
            block.norm2 = nn.Identity()
    return module


def replace_up_blocks(module: nn.Module) -> nn.Module:
    """Swap every eligible :class:`UpBlock2d` inside ``module`` for a :class:`PhaseUpBlock2d`, in place."""
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if PhaseUpBlock2d.applies_to(child):
                setattr(parent, name, PhaseUpBlock2d(child))
    return module


def inference_copy(module: nn.Module, channels_last: bool = True, dtype: torch.dtype = torch.float32) -> nn.Module:
    """An eval-mode, gradient-free copy of ``module`` with folded BatchNorms.

    Args:
        module: a FOMM module (or anything built from :mod:`.blocks`).
        channels_last: store 4-D weights as NHWC (faster oneDNN convolutions on CPU).
        dtype: parameter dtype (float32 exact; bfloat16 is approximate).

    Returns:
        The new module; ``module`` is left untouched.
    """
    clone = fold_module_batchnorms(copy.deepcopy(module).eval())
    replace_up_blocks(clone)
    for block in clone.modules():
        if isinstance(block, (SameBlock2d, DownBlock2d, ResBlock2d)):
            block.inplace_relu = True  # no autograd here, and no ReLU input is reused
    clone.requires_grad_(False)
    clone.to(dtype=dtype)
    if channels_last:
        clone.to(memory_format=torch.channels_last)
    return clone


def _phase_weights(weight: torch.Tensor) -> torch.Tensor:
    """3x3 weights of "nearest 2x upsampling then conv" as 2x2 weights of the four output phases.

    ``weight`` ``(C_out, C_in, 3, 3)`` -> ``(4 * C_out, C_in, 2, 2)``, phase-major (row phase, column
    phase, then C_out). On the upsampled image, output row ``2i + a`` reads input rows ``i - 1, i``
    (``a = 0``: taps 0 | 1 + 2) or ``i, i + 1`` (``a = 1``: taps 0 + 1 | 2); columns likewise.
    """
    taps = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]],
                         [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]], dtype=torch.float64,
                        device=weight.device)  # (phase, 2, 3)
    w = weight.double()
    phases = [torch.einsum("pk,oikl,ql->oipq", taps[a], w, taps[b]) for a in (0, 1) for b in (0, 1)]
    return torch.cat(phases).to(weight.dtype)


class PhaseUpBlock2d(nn.Module):
    """:class:`UpBlock2d` (nearest 2x, 3x3 conv, folded BN, ReLU) without materialising the upsampled map.

    Every output pixel of a 3x3 convolution over a nearest-upsampled map sees only a 2x2 input
    neighbourhood, with the taps that land on the same input pixel summed; one 2x2 convolution
    with ``4 * C_out`` channels computes the four output phases at (H + 1) x (W + 1) positions,
    4/9 of the multiply-adds, and the phases are interleaved into ``(B, C_out, 2H, 2W)``.
    Equal to the original up to float32 rounding (the summed taps round once).
    """

    def __init__(self, block: UpBlock2d):
        super().__init__()
        conv = block.conv
        if not isinstance(block.norm, nn.Identity):
            conv = fold_batchnorm(conv, block.norm)
        self.out_channels = conv.out_channels
        self.conv = nn.Conv2d(conv.in_channels, 4 * conv.out_channels, kernel_size=2, padding=1,
                              dtype=conv.weight.dtype, device=conv.weight.device)
        with torch.no_grad():
            self.conv.weight.copy_(_phase_weights(conv.weight))
            bias = conv.bias if conv.bias is not None else torch.zeros_like(conv.weight[:, 0, 0, 0])
            self.conv.bias.copy_(bias.repeat(4))

    @staticmethod
    def applies_to(block: nn.Module) -> bool:
        """True for an UpBlock2d with an ungrouped, stride-1, 3x3, padding-1 convolution."""
        conv = getattr(block, "conv", None)
        return (isinstance(block, UpBlock2d) and conv.kernel_size == (3, 3) and conv.padding == (1, 1)
                and conv.stride == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        channels = self.out_channels
        phases = self.conv(x).permute(0, 2, 3, 1)  # (B, H+1, W+1, 4*C_out); a view when channels-last
        out = x.new_empty(batch, height, 2, width, 2, channels)  # NHWC with the phases split out
        for a in (0, 1):
            for b in (0, 1):
                k = 2 * a + b
                out[:, :, a, :, b] = phases[:, a:a + height, b:b + width, k * channels:(k + 1) * channels]
        out = out.view(batch, 2 * height, 2 * width, channels).permute(0, 3, 1, 2)
        return torch.relu_(out)
