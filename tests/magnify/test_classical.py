"""Classical magnifiers and automatic alpha on textures moved by known sub-pixel fields."""

from __future__ import annotations

import pytest
import torch

from magplus.errors import InputError, ShapeError
from magplus.magnify.alpha import choose_alpha, measure_amplitude
from magplus.magnify.classical import EulerianMagnifier, LagrangianMagnifier
from magplus.ops.pyramid import gaussian_blur
from magplus.ops.warp import backward_warp


def textured(size: int = 64, seed: int = 0) -> torch.Tensor:
    """Smooth multi-scale random texture ``(3, size, size)`` in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    img = sum(gaussian_blur(torch.rand(1, 3, size, size, generator=g), s) * s for s in (1.0, 2.0, 4.0))
    img = img - img.amin()
    return (img / img.amax())[0]


def shifted_clip(ref: torch.Tensor, shifts: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames where the content moved right by ``s`` px (flow ref -> frame = +s), and the flows."""
    flows = torch.stack([torch.stack([torch.full(ref.shape[-2:], s), torch.zeros(ref.shape[-2:])]) for s in shifts])
    frames = backward_warp(ref[None].expand(len(shifts), -1, -1, -1), -flows)
    return frames, flows


@pytest.mark.parametrize("magnifier", [EulerianMagnifier(levels=4), LagrangianMagnifier(flow=None)], ids=["eulerian", "lagrangian"])
def test_alpha_one_is_identity(magnifier):
    ref = textured()
    frames, _ = shifted_clip(ref, [0.0, 0.3, 0.6])
    out = magnifier(ref, frames, 1.0)
    assert torch.equal(out, frames)


def smooth_texture(size: int = 64, seed: int = 0) -> torch.Tensor:
    """A texture without near-Nyquist content, so bilinear resampling error stays far below motion error."""
    return gaussian_blur(textured(size, seed)[None], 1.5)[0]


def interior_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b)[..., 8:-8, 8:-8].abs().mean())


def test_lagrangian_with_known_flow_scales_motion():
    ref = smooth_texture()
    frames, flows = shifted_clip(ref, [0.0, 0.25, 0.5])
    out = LagrangianMagnifier(flow=None, flow_smoothing=0.0).magnify_with_flow(frames, flows, torch.full((3, 1, 64, 64), 4.0))
    expected, _ = shifted_clip(ref, [0.0, 1.0, 2.0])
    # Two bilinear resamplings (input shift, then magnification) versus one: the residual is
    # interpolation blur, an order of magnitude below the motion being added.
    assert interior_error(out, expected) < 0.15 * interior_error(frames, expected)


def test_lagrangian_attenuates_with_alpha_below_one():
    ref = smooth_texture()
    frames, flows = shifted_clip(ref, [0.0, 2.0])
    out = LagrangianMagnifier(flow=None, flow_smoothing=0.0).magnify_with_flow(frames, flows, torch.full((2, 1, 64, 64), 0.25))
    expected, _ = shifted_clip(ref, [0.0, 0.5])
    assert interior_error(out, expected) < 0.15 * interior_error(frames, expected)


def test_lagrangian_mask_limits_magnification():
    ref = textured(64)
    frames, flows = shifted_clip(ref, [0.0, 0.5])
    mask = torch.zeros(64, 64)
    mask[:, :32] = 1.0
    from magplus.magnify.base import alpha_map

    out = LagrangianMagnifier(flow=None, flow_smoothing=0.0, occlusion_aware=False).magnify_with_flow(
        frames, flows, alpha_map(4.0, mask, 2, 64, 64))
    # The unmasked half is left as it was (α = 1), far from the seam.
    assert (out[1, :, 8:-8, 48:-8] - frames[1, :, 8:-8, 48:-8]).abs().max() < 1e-4
    assert (out[1, :, 8:-8, 8:20] - frames[1, :, 8:-8, 8:20]).abs().mean() > 5e-3


def test_fold_safe_scale_prevents_fold_over():
    from magplus.magnify.lagrangian import fold_safe_scale

    # A compressive flow (u = -0.2 x) folds at α > 5; the scale must bring det back above 0.
    x = torch.linspace(-10, 10, 32)
    flow = torch.stack([(-0.2 * x).expand(32, 32), torch.zeros(32, 32)])[None]
    alpha = torch.full((1, 1, 32, 32), 20.0)
    scale = fold_safe_scale(flow, alpha)
    slope = torch.gradient(alpha * scale * flow, dim=3)[0][:, 0]
    assert (1 + slope[:, 4:-4, 4:-4]).min() > 0
    still = fold_safe_scale(torch.zeros_like(flow), alpha)
    assert torch.allclose(still, torch.ones_like(still))


def test_eulerian_reference_filter_scales_small_motion():
    ref = textured(64, seed=1)
    ref = gaussian_blur(ref[None], 2.0)[0]  # low frequencies: linear approximation holds
    frames, _ = shifted_clip(ref, [0.0, 0.1])
    out = EulerianMagnifier(levels=4, lambda_cutoff=1.0)(ref, frames, 3.0)
    expected, _ = shifted_clip(ref, [0.0, 0.3])
    err_mag = (out[1] - expected[1])[..., 8:-8, 8:-8].abs().mean()
    err_none = (frames[1] - expected[1])[..., 8:-8, 8:-8].abs().mean()
    assert err_mag < 0.35 * err_none


def test_eulerian_bandpass_needs_fps_and_runs():
    ref = textured(32)
    frames, _ = shifted_clip(ref, [0.0, 0.2, 0.4, 0.2, 0.0, 0.0, 0.0, 0.0])
    with pytest.raises(InputError, match="fps"):
        EulerianMagnifier(temporal_filter="bandpass")(ref, frames, 5.0)
    out = EulerianMagnifier(levels=3, temporal_filter="bandpass", fps=30, band_hz=(1.0, 10.0))(ref, frames, 5.0)
    assert out.shape == frames.shape and torch.isfinite(out).all()


def test_magnifier_input_validation():
    m = EulerianMagnifier(levels=3)
    ref = textured(32)
    with pytest.raises(InputError, match="alpha"):
        m(ref, ref[None], 0.0)
    with pytest.raises(ShapeError, match="same H, W"):
        m(ref, textured(16)[None], 2.0)
    with pytest.raises(ShapeError, match="mask"):
        m(ref, ref[None], 2.0, mask=torch.ones(5, 5))


def test_auto_alpha_choice_and_amplitude():
    flows = torch.zeros(5, 2, 16, 16)
    flows[:, 0] = 3.0  # rigid motion only: removed
    flows[3, 1, 4:12, 4:12] = 0.8  # non-rigid
    amp = measure_amplitude(flows, percentile=99)
    assert amp.peak_frame == 3 and abs(amp.peak - 0.8) < 1e-5
    assert choose_alpha(1.0, target_px=8.0) == 8.0
    assert choose_alpha(0.01, target_px=8.0, alpha_max=40) == 40
    assert choose_alpha(20.0) == 1.0
    assert choose_alpha(1.0, target_px=8.0, resolution=128) == 4.0
