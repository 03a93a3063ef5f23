"""Evaluation metrics on constructed cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from magplus.errors import InputError, ShapeError
from magplus.eval.metrics import (
    appearance_stability,
    endpoint_error,
    face_size,
    frame_fidelity,
    landmark_agreement,
    leakage,
    magnification_error,
    motion_curve,
    motion_error,
    motion_timing,
    peak_motion_ratio,
    region_agreement,
    summarize,
    timing_error,
    timing_from_annotation,
)

H = W = 48


def bump_flows(envelope, centre=(16, 20), direction=(1.0, -0.5), sigma=5.0, drift=(0.0, 0.0)) -> torch.Tensor:
    """(T, 2, H, W): a Gaussian bump of motion moving along ``direction`` scaled by ``envelope[t]``."""
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    bump = torch.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * sigma**2))
    env = torch.as_tensor(np.asarray(envelope, dtype=np.float32))
    field = torch.stack([direction[0] * bump, direction[1] * bump])
    rigid = torch.tensor(drift, dtype=torch.float32)[:, None, None]
    return env[:, None, None, None] * field[None] + torch.linspace(0, 1, len(env))[:, None, None, None] * rigid


def envelope(length=20, onset=5, apex=9, offset=15) -> np.ndarray:
    t = np.arange(length, dtype=np.float64)
    rise = np.clip((t - onset) / (apex - onset), 0, 1)
    fall = np.clip((t - apex) / (offset - apex), 0, 1)
    return np.where(t <= apex, 0.5 - 0.5 * np.cos(np.pi * rise), 0.5 + 0.5 * np.cos(np.pi * fall)) * 2.0


def box_mask(x0, y0, x1, y1) -> torch.Tensor:
    mask = torch.zeros(H, W)
    mask[y0:y1, x0:x1] = 1.0
    return mask


def face_landmarks_square(scale=1.0, shift=(0.0, 0.0), n=12) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.uniform(5, 40, size=(n, 2)) * scale + np.asarray(shift)


# -- motion ratio / region agreement ------------------------------------------------------------
def test_identical_clips_give_ratio_one_and_correlation_one():
    flows = bump_flows(envelope(), drift=(0.7, 0.3))
    landmarks = face_landmarks_square()
    ratio = peak_motion_ratio(flows, flows.clone(), landmarks, landmarks.copy())
    assert ratio.ratio == pytest.approx(1.0, abs=1e-9)
    masks = {"a": box_mask(8, 12, 26, 30), "b": box_mask(30, 30, 46, 46)}
    agreement = region_agreement(flows, flows.clone(), masks, masks)
    assert agreement["a"].correlation == pytest.approx(1.0, abs=1e-9)
    assert agreement["a"].direction_cosine == pytest.approx(1.0, abs=1e-6)


def test_peak_ratio_follows_amplitude_and_normalises_face_size():
    flows = bump_flows(envelope())
    small = face_landmarks_square()
    assert peak_motion_ratio(flows, 0.5 * flows, small, small).ratio == pytest.approx(0.5, rel=1e-5)
    # The same relative motion on a face twice as large: twice the pixels, ratio still 1.
    assert peak_motion_ratio(flows, 2.0 * flows, small, small * 2.0).ratio == pytest.approx(1.0, rel=1e-5)


def test_rigid_motion_does_not_count_as_expression():
    still = torch.zeros(6, 2, H, W)
    moving_head = bump_flows(np.zeros(6), drift=(3.0, -2.0))
    assert motion_curve(moving_head).max() == pytest.approx(0.0, abs=1e-6)
    assert leakage(moving_head, box_mask(0, 0, 10, 10)) == 0.0
    assert leakage(still, box_mask(0, 0, 10, 10)) == 0.0


def test_region_agreement_detects_opposite_direction_and_wrong_timing():
    flows = bump_flows(envelope())
    masks = {"a": box_mask(8, 12, 26, 30)}
    opposite = region_agreement(flows, -flows, masks, masks)["a"]
    assert opposite.direction_cosine == pytest.approx(-1.0, abs=1e-6)
    assert opposite.correlation == pytest.approx(1.0, abs=1e-6)  # magnitudes still agree
    late = region_agreement(flows, bump_flows(envelope(onset=11, apex=14, offset=19)), masks, masks)["a"]
    assert late.correlation < 0.5


def test_region_agreement_validates_inputs():
    flows = bump_flows(envelope())
    with pytest.raises(ShapeError, match="same length"):
        region_agreement(flows, flows[:5], {"a": box_mask(0, 0, 5, 5)}, {"a": box_mask(0, 0, 5, 5)})
    with pytest.raises(InputError, match="same regions"):
        region_agreement(flows, flows, {"a": box_mask(0, 0, 5, 5)}, {"b": box_mask(0, 0, 5, 5)})
    with pytest.raises(ShapeError, match=r"\(T, 2, 'H', 'W'\)|shape"):
        motion_curve(torch.zeros(3, 3, H, W))


# -- leakage -----------------------------------------------------------------------------------
def test_leakage_inside_and_outside_the_active_region():
    flows = bump_flows(envelope(), centre=(16, 20), sigma=3.0)
    assert leakage(flows, box_mask(4, 8, 30, 34)) < 0.01
    assert leakage(flows, box_mask(32, 32, 48, 48)) > 0.99


def test_leakage_on_a_synthetic_au12_clip():
    from magplus.face.regions import au_mask, region_masks
    from magplus.synth import default_face, face_landmarks, render_program, sample_program

    face = default_face(128)
    landmarks = face_landmarks(face)
    program = sample_program(1, fps=30, aus=[12], side=None, amplitude_px=3.0, drift_px=(0.5, 0.2),
                             noise_sigma=0.0, blink=False)
    clip = render_program(program, face)
    face_region = region_masks(landmarks, (128, 128), names=["face"])["face"]
    # Exact flow: only the lip-corner field moves (the rigid drift is removed by the metric).
    assert leakage(clip.flow, au_mask([12], landmarks, (128, 128)), face_region) < 0.15
    assert leakage(clip.flow, au_mask([4], landmarks, (128, 128)), face_region) > 0.9


# -- timing ------------------------------------------------------------------------------------
def test_time_shifted_clip_has_timing_error_equal_to_the_shift():
    reference = motion_timing(motion_curve(bump_flows(envelope())), fps=200)
    for shift in (0, 2, 3):
        shifted = bump_flows(envelope(onset=5 + shift, apex=9 + shift, offset=15 + shift))
        error = timing_error(motion_timing(motion_curve(shifted), fps=200), reference)
        assert error.apex_shift == shift and error.onset_shift == shift and error.offset_shift == shift
        assert error.onset_to_apex_error == 0 and error.duration_error == 0
        assert error.milliseconds()["apex_shift_ms"] == pytest.approx(shift * 5.0)


def test_timing_from_annotation_and_threshold():
    timing = motion_timing(envelope(), fps=100, threshold=0.2)
    assert timing.apex == 9 and timing.onset > 5 and timing.offset < 15
    annotated = timing_from_annotation(105, 109, 115, first_frame=100, fps=100)
    assert (annotated.onset, annotated.apex, annotated.offset) == (5, 9, 15)
    assert annotated.seconds(annotated.duration) == pytest.approx(0.10)
    with pytest.raises(InputError, match="onset <= apex <= offset"):
        timing_from_annotation(10, 5, 20)
    with pytest.raises(InputError, match="threshold"):
        motion_timing(envelope(), threshold=1.5)


# -- end-point error ---------------------------------------------------------------------------
def test_endpoint_error_zero_for_exact_flow_and_known_for_offset():
    truth = bump_flows(envelope())
    assert endpoint_error(truth.clone(), truth) == 0.0
    offset = truth + torch.tensor([0.3, 0.4])[None, :, None, None]
    assert endpoint_error(offset, truth, box_mask(0, 0, 20, 20)) == pytest.approx(0.5, abs=1e-5)
    with pytest.raises(ShapeError, match="same shape"):
        endpoint_error(truth[:3], truth)


# -- landmarks ---------------------------------------------------------------------------------
def test_landmark_agreement_is_invariant_to_similarity_between_faces():
    rng = np.random.default_rng(0)
    base = rng.uniform(20, 100, size=(30, 2))
    motion = np.zeros((8, 30, 2))
    motion[:, :5] = np.sin(np.linspace(0, np.pi, 8))[:, None, None] * rng.normal(size=(5, 2))
    driving = base[None] + motion
    angle = 0.3
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    generated = 1.7 * driving @ rotation.T + np.array([12.0, -4.0])
    agreement = landmark_agreement(driving, generated)
    assert agreement.correlation == pytest.approx(1.0, abs=1e-9)
    assert agreement.rmse == pytest.approx(0.0, abs=1e-9)
    flat = landmark_agreement(driving, np.repeat(generated[:1], 8, axis=0))
    assert math.isnan(flat.correlation) and flat.rmse > 0
    with pytest.raises(ShapeError, match="landmark track"):
        landmark_agreement(driving[0], generated[0])


def test_face_size_uses_eye_corners_for_mediapipe_landmarks():
    points = np.zeros((478, 2))
    points[:, 0] = np.linspace(0, 50, 478)
    points[33], points[263] = (10.0, 5.0), (40.0, 45.0)
    assert face_size(points) == pytest.approx(50.0)
    with pytest.raises(InputError, match="face size is 0"):
        face_size(np.zeros((10, 2)))


# -- appearance --------------------------------------------------------------------------------
def test_appearance_stability_ignores_motion_inside_the_moving_region():
    frames = torch.rand(1, 3, H, W).repeat(4, 1, 1, 1)
    still = appearance_stability(frames)
    assert still.psnr == 100.0 and still.ssim == pytest.approx(1.0) and still.flicker == 0.0
    frames[1:, :, 0:10, 0:10] = torch.rand(3, 3, 10, 10)  # change only in a corner
    static = 1.0 - box_mask(0, 0, 16, 16)
    assert appearance_stability(frames, static).psnr == 100.0
    changed = appearance_stability(frames)
    assert changed.psnr < 40 and changed.flicker > 0
    with pytest.raises(ShapeError, match="static_mask"):
        appearance_stability(frames, torch.ones(5, 5))


# -- magnification -----------------------------------------------------------------------------
def test_magnification_errors_zero_for_exact_magnification():
    flow_in = bump_flows(envelope(6, 1, 3, 5)) + 0.2
    assert motion_error(4.0 * flow_in, flow_in, 4.0) == pytest.approx(0.0, abs=1e-6)
    # The published +1e-4 in the denominator biases the ratio by α·1e-4/|F_in| ≤ 4e-4 / 0.28 here.
    assert magnification_error(4.0 * flow_in, flow_in, 4.0) == pytest.approx(0.0, abs=2e-3)
    assert motion_error(flow_in, flow_in, 4.0) == pytest.approx(3.0 * float(flow_in.abs().mean()), rel=1e-5)
    with pytest.raises(InputError, match="alpha"):
        motion_error(flow_in, flow_in, -1.0)


def test_frame_fidelity_identical_and_shifted():
    truth = torch.rand(2, 3, 40, 40)
    same = frame_fidelity(truth, truth.clone())
    assert same.ssim == pytest.approx(1.0) and same.rmse == 0.0 and same.psnr == 100.0
    other = frame_fidelity(torch.roll(truth, 3, dims=-1), truth)
    assert other.ssim < 0.5 and other.rmse > 20
    with pytest.raises(InputError, match="border"):
        frame_fidelity(truth[:, :, :16, :16], truth[:, :, :16, :16])


# -- statistics --------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["bootstrap", "t"])
def test_summary_interval_contains_the_mean(method):
    values = np.random.default_rng(3).normal(2.0, 1.0, size=40)
    mean, low, high = summarize(values, method=method)
    assert mean == pytest.approx(values.mean())
    assert low < mean < high and 0.3 < high - low < 1.2  # ≈ 2 · 1.96 / sqrt(40) = 0.62 wide
    assert summarize([5.0]) == (5.0, 5.0, 5.0)
    assert all(math.isnan(v) for v in summarize([math.nan]))
    assert summarize([1.0, math.nan, 3.0], method=method)[0] == 2.0


def test_summary_validates_arguments():
    with pytest.raises(InputError, match="method"):
        summarize([1, 2], method="jackknife")
    with pytest.raises(InputError, match="level"):
        summarize([1, 2], level=95)
