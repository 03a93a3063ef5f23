"""FOMM inference copies (folded BatchNorm, phase-split up blocks, channels-last) equal the reference.

Tolerances: float32 rounding of the folded weights and of the regrouped sums. Measured on these
inputs: <= 4.2e-7 for blocks, modules and the backbone; held to 1e-5 (modules, the golden
module tolerance) and 2e-5 (the batched backbone, as in test_fomm_golden.py). bfloat16 measured
2.5e-3.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fomm_mini import MINI
from magplus.backbones.fomm import FOMMBackbone
from magplus.backbones.fomm.blocks import DownBlock2d, ResBlock2d, UpBlock2d
from magplus.backbones.fomm.config import build_modules
from magplus.backbones.fomm.fast import PhaseUpBlock2d, fold_batchnorm, inference_copy
from magplus.errors import InputError


def _randomise_norms(module: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial running statistics and affine parameters, so folding has something to fold."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for norm in module.modules():
            if isinstance(norm, nn.BatchNorm2d):
                shape = norm.running_mean.shape
                norm.running_mean.copy_(torch.randn(shape, generator=gen) * 0.3)
                norm.running_var.copy_(torch.rand(shape, generator=gen) + 0.5)
                norm.weight.copy_(torch.randn(shape, generator=gen) * 0.5 + 1)
                norm.bias.copy_(torch.randn(shape, generator=gen) * 0.2)
    return module.eval()


def _maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return float((a - b).abs().max())


def test_fold_batchnorm_equals_conv_then_norm():
    block = _randomise_norms(DownBlock2d(3, 5))
    x = torch.rand(2, 3, 8, 8)
    folded = fold_batchnorm(block.conv, block.norm)
    with torch.no_grad():
        assert _maxdiff(folded(x), block.norm(block.conv(x))) <= 1e-5
    no_stats = nn.BatchNorm2d(5, track_running_stats=False)
    with pytest.raises(ValueError, match="running statistics"):
        fold_batchnorm(block.conv, no_stats)


@pytest.mark.parametrize("height,width", [(4, 4), (5, 7)])
def test_phase_up_block_equals_upsample_then_conv(height, width):
    block = _randomise_norms(UpBlock2d(6, 4), seed=1)
    assert PhaseUpBlock2d.applies_to(block) and not PhaseUpBlock2d.applies_to(UpBlock2d(6, 4, kernel_size=5, padding=2))
    fast = PhaseUpBlock2d(block)
    x = torch.randn(2, 6, height, width)
    with torch.no_grad():
        want = block(x)
        assert _maxdiff(fast(x), want) <= 1e-5
        assert _maxdiff(fast(x.contiguous(memory_format=torch.channels_last)), want) <= 1e-5


def test_inference_copy_equals_reference_and_leaves_it_alone():
    kp_detector, generator = build_modules(MINI)
    for module in (kp_detector, generator):
        _randomise_norms(module, seed=2)
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    fast_kp, fast_gen = inference_copy(kp_detector), inference_copy(generator)
    # Only the first BatchNorm of each pre-activation residual block cannot fold.
    count = lambda module, kind: sum(isinstance(m, kind) for m in module.modules())  # noqa: E731
    assert count(fast_gen, nn.BatchNorm2d) == count(fast_gen, ResBlock2d) < count(generator, nn.BatchNorm2d)
    assert sum(isinstance(m, PhaseUpBlock2d) for m in fast_gen.modules()) > 0
    image = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        kp_ref, kp_fast = kp_detector(image), fast_kp(image)
        for key in ("value", "jacobian"):
            assert _maxdiff(kp_fast[key], kp_ref[key]) <= 1e-5
        driving = {k: v.flip(0) for k, v in kp_ref.items()}
        ref = generator(image, kp_driving=driving, kp_source=kp_ref)["prediction"]
        out = fast_gen(image, kp_driving=driving, kp_source=kp_ref)["prediction"]
    assert _maxdiff(out, ref) <= 1e-5
    assert all(torch.equal(before[k], v) for k, v in generator.state_dict().items())


def _backbone(**kwargs) -> FOMMBackbone:
    kp_detector, generator = build_modules(MINI)
    for module in (kp_detector, generator):
        _randomise_norms(module, seed=3)
    return FOMMBackbone.from_state_dicts(generator.state_dict(), kp_detector.state_dict(), config=MINI,
                                         batch_size=2, **kwargs)


def test_backbone_fast_path_equals_reference_modules_and_bfloat16_is_close():
    frames = torch.rand(5, 3, 32, 32)
    backbone = _backbone()
    fast = backbone.animate(frames[0], frames)
    backbone.optimise = False
    reference = backbone.animate(frames[0], frames)
    assert _maxdiff(fast, reference) <= 2e-5
    backbone.optimise, backbone.precision = True, "bfloat16"
    approximate = backbone.animate(frames[0], frames)
    # bfloat16 keeps 8 mantissa bits: outputs in (0, 1) move by up to a few 1e-3, never by 0.05.
    assert 0 < _maxdiff(approximate, reference) < 0.05
    with pytest.raises(InputError, match="precision must be one of"):
        _backbone(precision="float16")


def test_backbone_refuses_cuda_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    backbone = _backbone()
    with pytest.raises(InputError, match="use --device cpu"):
        backbone.to("cuda")
    assert backbone.device == torch.device("cpu")
