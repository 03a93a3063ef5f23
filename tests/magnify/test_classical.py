"""Classical magnifiers and automatic alpha on textures moved by known sub-pixel fields."""

from __future__ import annotations

import math

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
    frames, flows = shifted_clip(ref, [0.0, 0.3, 0.6])
    out = magnifier(ref, frames, 1.0, flows=flows)
    assert torch.equal(out, frames)
    # Just above 1 the real computation runs (pyramid / warps), not the α = 1 short cut, and must
    # still return the frames; α = 3 must not. Measured max |out - frames|: 7.6e-6 (Eulerian) and
    # 8.1e-6 (Lagrangian) at α = 1.0001; 0.15 and 0.16 at α = 3.
    near = magnifier(ref, frames, 1.0001, flows=flows)
    assert 0 < float((near - frames).abs().max()) < 1e-4
    assert float((magnifier(ref, frames, 3.0, flows=flows) - frames).abs().max()) > 0.05


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


@pytest.mark.parametrize("nonrigid_only", [False, True], ids=["all-motion", "similarity-removed"])
def test_lagrangian_forward_with_dis_scales_a_known_field(nonrigid_only):
    """The default forward() (DIS flow, smoothing, fold guard) on a texture moved by a known field:
    a translation (0.3, -0.2) px plus a stretch u = k x, v = -k y (+-0.5 px at the borders, no
    similarity part), α = 4. The expected motion is α F, or S + α (F - S) with S the similarity fit
    of F when ``nonrigid_only``. The output's motion is measured with Lucas-Kanade, not DIS.

    Measured end-point error of the last frame (the largest motion, mean 2.0 / 1.6 px): 0.10 px
    against the expected field; 0.29-0.47 px against α = 3 or 5, 1.1 px against the other mode.
    """
    from magplus.flow.lucas_kanade import LucasKanadeFlow
    from magplus.magnify.lagrangian import similarity_flow

    size = 64
    ref = textured(size)
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")
    k = 0.5 / (size / 2)
    field = torch.stack([0.3 + k * xs, -0.2 - k * ys])
    flows = torch.stack([t * field for t in (0.0, 0.5, 1.0)])
    frames = backward_warp(ref[None].expand(3, -1, -1, -1), -flows).clamp(0, 1)
    out = LagrangianMagnifier(nonrigid_only=nonrigid_only)(ref, frames, 4.0)
    measured = LucasKanadeFlow()(ref[None], out[2:])[0]
    rigid = similarity_flow(flows)[2] if nonrigid_only else torch.zeros_like(field)
    wrong_mode = torch.zeros_like(field) if nonrigid_only else similarity_flow(flows)[2]

    def error(alpha: float, kept: torch.Tensor) -> float:
        expected = kept + alpha * (flows[2] - kept)
        return float((measured - expected).norm(dim=0)[8:-8, 8:-8].mean())

    assert error(4.0, rigid) < 0.18
    assert min(error(3.0, rigid), error(5.0, rigid)) > 0.25
    assert error(4.0, wrong_mode) > 0.8


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


def test_fold_safe_scale_stops_where_the_determinant_reaches_the_margin():
    from magplus.magnify.lagrangian import fold_safe_scale

    # Constant Jacobian (u = -0.1 x): det(I + s (α-1) J) = 1 - 0.1 · 19 s reaches the margin 0.2
    # at s = 0.8 / 1.9 = 0.4211 (a grid search in steps of 0.1 would stop at 0.4).
    x = torch.linspace(-10, 10, 32) * (31 / 20)  # one pixel apart
    flow = torch.stack([(-0.1 * x).expand(32, 32), torch.zeros(32, 32)])[None]
    scale = fold_safe_scale(flow, torch.full((1, 1, 32, 32), 20.0), margin=0.2)
    assert torch.allclose(scale[..., 4:-4, 4:-4], torch.tensor(0.8 / 1.9), atol=1e-4)
    # Expanding flows never fold, and an attenuating α (< 1) on a compressive flow walks away from the fold.
    assert torch.allclose(fold_safe_scale(-flow, torch.full((1, 1, 32, 32), 20.0)), torch.tensor(1.0))
    assert torch.allclose(fold_safe_scale(flow, torch.full((1, 1, 32, 32), 0.05)), torch.tensor(1.0))
    # Attenuating an expansion u = +2 x by α = 0.05 gives det = 1 - 0.95 · 2 s: margin at s = 0.8 / 1.9.
    shrink = fold_safe_scale(-20 * flow, torch.full((1, 1, 32, 32), 0.05))
    assert torch.allclose(shrink[..., 4:-4, 4:-4], torch.tensor(0.8 / 1.9), atol=1e-4)


def test_percentile_rows_is_torch_quantile():
    from magplus.magnify.alpha import percentile_rows

    values = torch.rand(7, 1001, generator=torch.Generator().manual_seed(3)) ** 3
    for q in (0.0, 0.5, 0.95, 0.999, 1.0):
        assert torch.allclose(percentile_rows(values, q), torch.quantile(values, q, dim=1), atol=1e-6)
    # Further quantiles come from the same partial sort, the first one unchanged bit for bit.
    first, *more = percentile_rows(values, 0.95, 0.995, 1.0)
    assert torch.equal(first, percentile_rows(values, 0.95))
    for q, got in zip((0.995, 1.0), more):
        assert torch.allclose(got, torch.quantile(values, q, dim=1), atol=1e-6)
    with pytest.raises(InputError, match="below the first"):
        percentile_rows(values, 0.95, 0.5)


def test_eulerian_reference_filter_scales_small_motion():
    ref = textured(64, seed=1)
    ref = gaussian_blur(ref[None], 2.0)[0]  # low frequencies: linear approximation holds
    frames, _ = shifted_clip(ref, [0.0, 0.1])
    out = EulerianMagnifier(levels=4, lambda_cutoff=1.0)(ref, frames, 3.0)
    expected, _ = shifted_clip(ref, [0.0, 0.3])
    err_mag = (out[1] - expected[1])[..., 8:-8, 8:-8].abs().mean()
    err_none = (frames[1] - expected[1])[..., 8:-8, 8:-8].abs().mean()
    assert err_mag < 0.35 * err_none


def _mean_horizontal_motion(ref: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Mean horizontal Lucas-Kanade flow ref -> each frame over the interior, ``(T,)`` px."""
    from magplus.flow.lucas_kanade import LucasKanadeFlow

    flow = LucasKanadeFlow()(ref[None].expand_as(frames), frames)
    return flow[:, 0, 8:-8, 8:-8].mean(dim=(1, 2))


def test_eulerian_bandpass_magnifies_the_band_only():
    """A 5 Hz, 0.08 px oscillation on top of a 0.4 px/s drift, 45 frames at 30 fps, band 2-10 Hz, α = 5.

    Fitting sine + cosine + line to the measured (Lucas-Kanade) motion: the oscillation grows from
    0.079 to 0.26 px (x3.3: linear Eulerian magnification loses some, and the residual band is
    left alone), the drift stays at 0.39 -> 0.36 px/s. A reference filter would magnify the drift
    too; a filter that passed nothing would leave the oscillation at x1.
    """
    ref = gaussian_blur(textured(48, seed=1)[None], 2.0)[0]
    time = torch.arange(45) / 30.0
    wave = torch.sin(2 * math.pi * 5.0 * time)
    frames, _ = shifted_clip(ref, (0.08 * wave + 0.4 * time).tolist())
    with pytest.raises(InputError, match="fps"):
        EulerianMagnifier(temporal_filter="bandpass")(ref, frames, 5.0)
    out = EulerianMagnifier(levels=3, temporal_filter="bandpass", fps=30, band_hz=(2.0, 10.0),
                            lambda_cutoff=1.0)(ref, frames, 5.0)
    design = torch.stack([wave, torch.cos(2 * math.pi * 5.0 * time), torch.ones(45), time], 1).double()

    def fit(clip: torch.Tensor) -> tuple[float, float]:
        coef = torch.linalg.lstsq(design, _mean_horizontal_motion(ref, clip).double()[:, None]).solution[:, 0]
        return float(coef[:2].norm()), float(coef[3])

    (wave_in, drift_in), (wave_out, drift_out) = fit(frames), fit(out)
    assert abs(wave_in - 0.08) < 0.01 and abs(drift_in - 0.4) < 0.04  # the measurement itself
    assert 2.5 < wave_out / wave_in < 4.5, (wave_in, wave_out)
    assert 0.8 < drift_out / drift_in < 1.2, (drift_in, drift_out)


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


def test_auto_alpha_caps_a_local_motion():
    """A motion confined to 9 of 1024 pixels hardly moves the 95th percentile; the local amplitude
    (99.5th) sees it, and α lifts it to at most twice the target."""
    flows = torch.zeros(4, 2, 32, 32)
    flows[2, 1, 10:13, 10:13] = 2.0  # 0.9 % of the pixels move 2 px
    amp = measure_amplitude(flows)
    assert amp.peak < 0.05 and amp.local_peak == pytest.approx(2.0, abs=0.05)
    assert amp.local_curve.shape == (4,) and int(amp.local_curve.argmax()) == 2
    assert choose_alpha(amp.peak, local_peak_px=None) == 40.0  # the clip's amplitude alone: α at its bound
    assert choose_alpha(amp.peak, local_peak_px=amp.local_peak) == pytest.approx(16.0 / amp.local_peak)
    assert choose_alpha(amp.peak, local_peak_px=amp.local_peak, max_local_ratio=None) == 40.0
    assert choose_alpha(0.1, local_peak_px=1.0, resolution=128) == pytest.approx(8.0)  # 2 x 4 px at 128 px
    assert choose_alpha(1.0, local_peak_px=1.5) == 8.0  # a spread motion: the cap does not bind
    with pytest.raises(InputError, match="max_local_ratio"):
        choose_alpha(1.0, local_peak_px=1.0, max_local_ratio=0.5)
    assert measure_amplitude(flows, local_percentile=None).local_curve is None


def test_amplitude_carries_the_rigid_translation_bit_for_bit():
    """The median face flow removed before measuring is rigid_translation itself (the pipeline's
    stabilisation reuses it from the α pass instead of computing it again)."""
    from magplus.magnify.alpha import rigid_translation

    flows = torch.randn(6, 2, 24, 24, generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(24, 24)
    mask[4:20, 6:18] = 1.0
    assert torch.equal(measure_amplitude(flows, mask).rigid, rigid_translation(flows, mask))
    assert measure_amplitude(flows, mask, remove_rigid=False).rigid is None
