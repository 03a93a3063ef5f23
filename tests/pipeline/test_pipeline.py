"""MagPipeline end to end on tiny synthetic clips, and magnify/de-magnify round trips."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from magplus.errors import InputError, ShapeError, UnknownNameError
from magplus.magnify.alpha import measure_clip_motion
from magplus.magnify.classical import LagrangianMagnifier
from magplus.pipeline import MagPipeline
from magplus.synth import default_face, render_program, sample_program, second_face


def small(image: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(image[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)


@pytest.fixture(scope="module")
def tiny_clip():
    """8 frames at 64² of an AU12 program on the second face, and the source face at 64²."""
    program = sample_program(3, fps=30, aus=[12], amplitude_px=2.5, side=None, blink=False, drift_px=(0.0, 0.0))
    clip = render_program(program, small(second_face(), 64))
    frames = clip.frames[:: max(1, clip.frames.shape[0] // 8)][:8]
    return small(default_face(), 64), frames


@pytest.mark.parametrize("magnifier", ["lagrangian", "eulerian"])
def test_pipeline_end_to_end_tiny(tiny_clip, magnifier):
    source, driving = tiny_clip
    pipe = MagPipeline(magnifier=magnifier, alpha=4.0, resolution=64, compute_direct=True, keep_macro=True,
                       progress=False)
    out = pipe(source, driving, fps=30)
    assert out.demagnify_path == "motion"  # landmark-warp exposes its motion
    for clip in (out.result, out.direct, out.magnified_driving, out.generated_macro):
        assert clip.shape == (8, 3, 64, 64) and clip.min() >= 0 and clip.max() <= 1
    assert out.alpha == 4.0
    assert {"crop", "magnify", "backbone_magnified", "demagnify"} <= set(out.timings)


def test_pipeline_alpha_one_equals_direct(tiny_clip):
    source, driving = tiny_clip
    out = MagPipeline(alpha=1.0, resolution=64, compute_direct=True, progress=False)(source, driving, fps=30)
    assert torch.allclose(out.result, out.direct, atol=1e-6)
    # Just above 1 the whole path runs (flow, warp, motion-space de-magnification), not the α = 1
    # short cut. Measured at α = 1.001: magnified driving within 7e-6 of the driving (nonzero), result
    # within 1.5e-4 (mean) of the direct transfer; the rest is the landmark extractor's own jitter.
    # Stabilised (the default), the magnified driving also lost the head's translation (at most
    # 0.009 px on this clip without drift, measured 4e-3 of change) and the result gets it back:
    # within 2.5e-4 (mean) of the direct transfer.
    for stabilise, moved in ((False, 1e-4), (True, 1e-2)):
        near = MagPipeline(alpha=1.001, resolution=64, compute_direct=True, progress=False,
                           stabilise=stabilise)(source, driving, fps=30)
        assert 0 < float((near.magnified_driving - near.driving).abs().max()) < moved
        assert float((near.result - near.direct).abs().mean()) < 1e-3
        assert (near.head_shift is not None) == stabilise


def test_alpha_one_equals_direct_without_a_direct_result_too(tiny_clip):
    # Without compute_direct the gain's direct pass samples a 200-fps clip (one frame in 8), so a
    # gain fitted at α = 1 would come out near 1 but not at it (0.992 on a 48-frame 256² clip, moving
    # the result by 3e-3); at α = 1 there is nothing to calibrate.
    program = sample_program(3, fps=200, aus=[12], amplitude_px=2.5, side=None, blink=False, noise_sigma=0.01)
    driving = render_program(program, small(second_face(), 64)).frames[:48]
    source = tiny_clip[0]
    out = MagPipeline(alpha=1.0, resolution=64, progress=False)(source, driving, fps=200)
    direct = MagPipeline(magnify=False, resolution=64, progress=False)(source, driving, fps=200)
    assert torch.allclose(out.result, direct.result, atol=1e-6)
    assert out.motion_gain.gain == 1.0 and out.motion_gain.gain_frames == 0


@pytest.fixture(scope="module")
def moving_clip():
    """8 frames at 96 px of an AU12 program with 6 px amplitude (motion well above DIS's noise), and the source."""
    program = sample_program(3, fps=30, aus=[12], amplitude_px=6.0, side=None, blink=False, drift_px=(0.0, 0.0))
    clip = render_program(program, small(second_face(), 96))
    return small(default_face(), 96), clip.frames[:: max(1, clip.frames.shape[0] // 8)][:8]


def test_pipeline_magnifies_then_returns_to_the_direct_motion(moving_clip):
    """α = 4: the driving clip's motion grows, the backbone renders it large, and the result's motion
    comes back to the direct transfer's. Peaks of DIS non-rigid motion inside the face (99th pct).

    Measured (px): driving 0.23, magnified driving 0.53, direct 0.20, macro 0.46, result 0.22. A
    magnifier that did nothing would give 0.23 for the magnified driving; a de-magnification that
    did nothing would give the macro's 0.46 for the result.
    """
    from magplus.face.landmarks import detect_landmarks
    from magplus.face.regions import region_masks

    source, driving = moving_clip
    out = MagPipeline(alpha=4.0, resolution=96, compute_direct=True, keep_macro=True, progress=False)(source, driving, fps=30)
    assert out.demagnify_path == "motion"

    def peak(frames: torch.Tensor, face_of: torch.Tensor) -> float:
        face = region_masks(detect_landmarks(face_of), size=(96, 96))["face"]
        return measure_clip_motion(frames, face, percentile=99).peak

    driving_peak, magnified_peak = peak(out.driving, out.driving[0]), peak(out.magnified_driving, out.driving[0])
    direct, macro, result = (peak(clip, out.source) for clip in (out.direct, out.generated_macro, out.result))
    assert magnified_peak > 1.8 * driving_peak, (driving_peak, magnified_peak)
    assert macro > 1.8 * direct, (direct, macro)
    assert abs(result - direct) < 0.25 * direct, (direct, result)


def test_pipeline_no_magplus_is_direct_transfer(tiny_clip):
    source, driving = tiny_clip
    out = MagPipeline(magnify=False, resolution=64, progress=False, crop=False)(source, driving, fps=30)
    assert out.magnified_driving is None and out.result is out.direct and out.alpha == 1.0


def test_pipeline_auto_alpha_reaches_target(tiny_clip):
    source, driving = tiny_clip
    pipe = MagPipeline(alpha="auto", target_amplitude=8.0, resolution=64, progress=False, crop=False)
    out = pipe(source, driving, fps=30)
    assert out.amplitude is not None and 1.0 <= out.alpha <= pipe.alpha_max
    # target is 8 px at 256 px, i.e. 2 px at 64 px
    lifted = min(2.0 / out.amplitude.peak, 2.0 * pipe.max_local_ratio / out.amplitude.local_peak, pipe.alpha_max)
    assert out.alpha == pytest.approx(max(lifted, 1.0), rel=1e-6)


def test_pipeline_bad_inputs(tiny_clip):
    source, driving = tiny_clip
    with pytest.raises(InputError, match="alpha"):
        MagPipeline(alpha=0.0)
    with pytest.raises(InputError, match=">= 1"):
        MagPipeline(alpha=0.5)
    with pytest.raises(UnknownNameError, match="Did you mean"):
        MagPipeline(backbone="landmark-wrap")
    with pytest.raises(ShapeError, match="at least 2"):
        MagPipeline(resolution=64, progress=False)(source, driving[:1])


def test_demagnify_of_magnify_recovers_generator_clip():
    """De-magnify(magnify(x, α), 1/α) ≈ x, judged on motion against the generator's exact flow."""
    from magplus.face.landmarks import detect_landmarks
    from magplus.face.regions import region_masks
    from magplus.flow.opencv import DISFlow

    program = sample_program(5, fps=60, aus=[4], amplitude_px=1.0, side=None, blink=False, drift_px=(0.3, 0.0),
                             noise_sigma=0.0)
    clip = render_program(program, small(default_face(), 128))
    frames, truth = clip.frames[::2], clip.flow[::2]
    face = region_masks(detect_landmarks(frames[0]), size=(128, 128))["face"]
    mag, alpha = LagrangianMagnifier(), 6.0
    # All motion, drift included, scaled both ways: the symmetric round trip of the pipeline.
    magnified = mag(frames[0], frames, alpha)
    restored = mag(magnified[0], magnified, 1.0 / alpha)
    dis = DISFlow()
    inside = face[8:-8, 8:-8] > 0.5

    def epe(x: torch.Tensor) -> float:
        flow = dis(x[:1].expand_as(x), x)
        return float((flow - truth).norm(dim=1)[:, 8:-8, 8:-8][:, inside].mean())

    # Measured: DIS against the exact flow gives 0.021 px on the original clip, 0.027 px on the
    # restored one.
    assert epe(restored) < 1.5 * epe(frames) + 0.01
    peak_in, peak_out = measure_clip_motion(frames, face).peak, measure_clip_motion(restored, face).peak
    # Measured: peaks 0.146 px in, 0.204 px out. The 95th-percentile peak of the round trip carries
    # DIS's own error on the 3 px magnified clip (0.03-0.12 px, DOMAIN.md §3); 0.08 px bounds it.
    assert abs(peak_out - peak_in) < 0.08
    assert measure_clip_motion(magnified, face).peak > 3.0 * peak_in


def test_pipeline_paste_back_returns_full_frames(tiny_clip):
    source, driving = tiny_clip
    full = F.pad(source, (16, 16, 8, 8), mode="replicate")  # the face inside a larger frame
    out = MagPipeline(alpha=2.0, resolution=64, paste_back=True, progress=False)(full, driving, fps=30)
    assert out.pasted.shape == (8, 3, 80, 96)
    assert out.boxes["source"] is not None
    # Far from the face box, the frame is the source itself.
    assert torch.allclose(out.pasted[:, :, :, :2], full[None, :, :, :2].expand(8, -1, -1, -1), atol=1e-6)


def test_auto_alpha_does_not_over_lift_a_one_sided_motion():
    """A 2-px motion of one eyelid (AU43, subject's left) hardly moves the face's 95th percentile:
    without the local cap α goes to its bound (≈80 px at the eyelid, more than the eye opening);
    with it, the magnified local amplitude stays within twice the target."""
    from magplus.synth import generate

    clip = generate(7, face=second_face(), fps=30.0, aus=[43], side="L", amplitude_px=2.0, drift_px=(0.0, 0.0),
                    noise_sigma=0.5 / 255, blink=False)
    capped, uncapped = MagPipeline(progress=False), MagPipeline(progress=False, max_local_ratio=None)
    crops, box, landmarks = capped.crop_faces(clip.frames[:1], "the onset")
    flows = capped.magnifier.clip_flows(crops[0], capped.crop_with(clip.frames, box))
    mask = capped.mask_for(landmarks)
    alpha, amplitude = capped.choose_alpha(flows, mask)
    free_alpha, _ = uncapped.choose_alpha(flows, mask)
    assert amplitude.local_peak > 2.5 * amplitude.peak  # the motion is local
    assert free_alpha > 1.5 * alpha
    assert alpha * amplitude.local_peak == pytest.approx(capped.max_local_ratio * capped.target_amplitude, rel=1e-6)
