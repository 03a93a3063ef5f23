"""Rendering: exactness of the ground-truth flow, amplitude, localisation, alpha, faces, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from magplus.errors import InputError, ShapeError
from magplus.ops.warp import backward_warp
from magplus.synth import AUEvent, AUProgram, generate, max_alpha, render_program, second_face


def short_program(aus, amplitude=2.5, side=None, drift=(0.0, 0.0), **kwargs) -> AUProgram:
    """5 frames at 200 fps: onset at frame 0, apex at frame 2, back to rest at frame 4."""
    events = [AUEvent(au, side, amplitude, 0.0, 0.01, 0.02) for au in aus]
    kwargs.setdefault("noise_sigma", 0.0)
    kwargs.setdefault("quantise", False)
    return AUProgram(events, fps=200.0, n_frames=5, drift_px=drift, **kwargs)


def nonrigid(clip, t):
    """Flow of frame t without the rigid drift ``(2, H, W)``."""
    return clip.nonrigid_flow()[t]


def near(flow, point, radius=4):
    """Largest |flow| within ``radius`` px of ``point`` (x, y)."""
    x, y = int(round(point[0])), int(round(point[1]))
    return float(flow[:, y - radius:y + radius + 1, x - radius:x + radius + 1].norm(dim=0).max())


def test_first_frame_is_the_face_and_flow_starts_at_zero(face, landmarks):
    clip = render_program(short_program([12], drift=(0.5, 0.3)), face, landmarks=landmarks)
    assert clip.frames.shape == (5, 3, 256, 256) and clip.flow.shape == (5, 2, 256, 256)
    assert torch.equal(clip.frames[0], face)
    assert torch.count_nonzero(clip.flow[0]) == 0
    assert clip.peak_px[0] == 0 and clip.apex_index == 2
    np.testing.assert_allclose(clip.drift[-1], [0.5, 0.3])
    assert clip.to_clip().fps == 200.0 and len(clip.to_clip()) == 5


def test_ground_truth_flow_is_exact_on_a_ramp(ramp, landmarks):
    """On a linear ramp, resampling is exact, so backward_warp(frame_t, flow_t) must equal frame 0."""
    clip = render_program(short_program([4, 7, 12], amplitude=3.0, drift=(0.7, -0.4)), ramp, landmarks=landmarks)
    assert clip.meta["inverse_residual_px"] < 1e-4
    inner = (slice(None), slice(12, -12), slice(12, -12))
    for t in (1, 2):
        error = (backward_warp(clip.frames[t], clip.flow[t]) - clip.frames[0])[inner].abs()
        before = (clip.frames[t] - clip.frames[0])[inner].abs()
        # 1e-3 intensity is 0.4 px of this ramp: what is left is 1e-3 px on average, and the
        # worst pixel (bilinear resampling of the warped ramp where it curves) ~0.1 px.
        assert float(before.mean()) > 1e-4
        assert float(error.mean()) < 0.005 * float(before.mean()) and float(error.max()) < 5e-4
        wrong = (backward_warp(clip.frames[t], 0.95 * clip.flow[t]) - clip.frames[0])[inner].abs()
        assert float(wrong.mean()) > 10 * float(error.mean())


def test_ground_truth_flow_aligns_the_face(face, landmarks):
    clip = render_program(short_program([4, 12], drift=(0.6, -0.3)), face, landmarks=landmarks)
    inside = clip.masks["face"]
    error = (backward_warp(clip.frames[2], clip.flow[2], mode="bicubic") - clip.frames[0]).abs().mean(0)[inside]
    before = (clip.frames[2] - clip.frames[0]).abs().mean(0)[inside]
    # what remains is the resampling error of a photo (two interpolations), not motion
    assert float(error.mean()) < 0.25 * float(before.mean()) and float(error.mean()) < 0.005


@pytest.mark.parametrize("aus,side", [([12], None), ([4], None), ([2], "L"), ([15], "R")])
def test_peak_displacement_equals_amplitude(face, landmarks, aus, side):
    clip = render_program(short_program(aus, amplitude=1.7, side=side, drift=(0.4, 0.4)), face, landmarks=landmarks)
    measured = float(nonrigid(clip, 2).norm(dim=0).max())
    assert measured == pytest.approx(1.7, rel=0.02)
    assert float(clip.peak_px.max()) == pytest.approx(1.7, rel=0.02)


def test_motion_is_localised(face, landmarks):
    lip_right, lip_left, brow = landmarks[61], landmarks[291], landmarks[105]
    clip = render_program(short_program([12]), face, landmarks=landmarks)
    flow = nonrigid(clip, 2)
    assert near(flow, lip_right) > 1.5 and near(flow, lip_left) > 1.5
    assert near(flow, brow) < 1e-3
    # up (negative y) and out (away from the midline) at the corners
    x, y = int(round(lip_left[0])), int(round(lip_left[1]))
    assert flow[1, y, x] < -0.5 and flow[0, y, x] > 0.3
    one_sided = nonrigid(render_program(short_program([12], side="L"), face, landmarks=landmarks), 2)
    assert near(one_sided, lip_left) > 1.5  # the subject's left is the image's right
    assert near(one_sided, lip_right) < 1e-3
    assert landmarks[291][0] > landmarks[61][0]
    masks = clip.masks
    assert masks["AU12"][int(lip_left[1]), int(lip_left[0])] and not masks["AU12"][int(brow[1]), int(brow[0])]


def test_alpha_scales_the_ground_truth_exactly(face, landmarks):
    program = short_program([1, 14], amplitude=1.2, drift=(0.5, -0.5))
    one = render_program(program, face, landmarks=landmarks)
    two = render_program(program, face, alpha=2.0, landmarks=landmarks)
    torch.testing.assert_close(two.flow, 2.0 * one.flow, atol=1e-5, rtol=1e-5)
    assert two.peak_px.max() == pytest.approx(2 * one.peak_px.max(), rel=1e-6)
    still = render_program(program, face, alpha=2.0, landmarks=landmarks, scale_drift=False)
    torch.testing.assert_close(nonrigid(still, 2), 2.0 * nonrigid(one, 2), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(still.flow[4], one.flow[4])  # only drift left at the end, unscaled
    assert float((two.frames[2] - one.frames[2]).abs().max()) > 0.05


def test_same_program_moves_the_same_region_on_the_second_face(face):
    other = second_face()
    assert float((other - face).abs().mean()) > 0.1
    from magplus.synth import face_landmarks

    points = face_landmarks(other)
    clip = render_program(short_program([12], amplitude=2.0), other)
    flow = nonrigid(clip, 2)
    assert near(flow, points[61]) > 1.2 and near(flow, points[291]) > 1.2 and near(flow, points[105]) < 1e-3
    assert float(clip.peak_px.max()) == pytest.approx(2.0, rel=0.02)


def test_too_much_magnification_is_refused_with_a_usable_alpha(face, landmarks):
    program = short_program([12], amplitude=3.0)
    with pytest.raises(InputError, match=r"folds over .* use alpha <= ") as info:
        render_program(program, face, alpha=40.0, landmarks=landmarks)
    limit = float(str(info.value).split("alpha <= ")[1].split(" ")[0])
    assert 1.0 < limit < 40.0
    assert max_alpha(program, face, landmarks) == pytest.approx(limit, rel=5e-3)
    assert render_program(program, face, alpha=limit, landmarks=landmarks).peak_px.max() > 2.9 * limit
    with pytest.raises(InputError, match="folds over"):
        render_program(program, face, alpha=1.15 * limit, landmarks=landmarks)


def test_motion_below_the_refinement_threshold_renders(face, landmarks):
    """A frame whose motion is under 1e-4 px skips the Newton refinement but still gets its map."""
    program = AUProgram([AUEvent(12, None, 0.01, 0.0, 0.01, 0.02)], fps=2000.0, n_frames=3, drift_px=(1.0, 0.0),
                        noise_sigma=0.0, quantise=False)
    clip = render_program(program, face, landmarks=landmarks)
    assert 0 < clip.peak_px[1] < 1e-4 and clip.meta["inverse_residual_px"] < 1e-4
    assert float((clip.frames[1] - clip.frames[0]).abs().max()) > 0.01  # the drift moved it


def test_input_validation(face, landmarks):
    program = short_program([12])
    with pytest.raises(InputError, match="alpha"):
        render_program(program, face, alpha=0.0, landmarks=landmarks)
    with pytest.raises(InputError, match="program must be an AUProgram"):
        render_program({"events": []}, face)
    with pytest.raises(ShapeError, match=r"landmarks must have shape \(478, 2\)"):
        render_program(program, face, landmarks=np.zeros((10, 2)))
    with pytest.raises(ShapeError, match="face"):
        render_program(program, torch.rand(1, 3, 8, 8))


def test_generate_is_deterministic_with_noise_and_quantisation(face):
    first = generate(7, face=face, fps=30.0, noise_sigma=0.01)
    again = generate(7, face=face, fps=30.0, noise_sigma=0.01)
    assert torch.equal(first.frames, again.frames) and torch.equal(first.flow, again.flow)
    assert first.program.to_dict() == again.program.to_dict()
    levels = first.frames * 255.0
    assert torch.allclose(levels, levels.round(), atol=1e-4)  # uint8 quantised
    other = generate(8, face=face, fps=30.0, noise_sigma=0.01)
    assert not torch.equal(first.frames[0], other.frames[0])  # noise differs with the seed
    assert float((first.frames[0] - face).abs().mean()) > 0.003  # frame 0 carries sensor noise too


def test_tvl1_flow_agrees_with_ground_truth(face, landmarks):
    """An independent estimator must recover the ground truth (noise and quantisation included).

    Measured here (256², AU12 / AU4+12 at 2.5-3 px, noise 0.005, uint8): TV-L1 mean end-point error
    0.06-0.14 px in the face, against 0.7-0.85 px for a zero flow; DOMAIN.md §3 reports 0.04-0.07 px
    for TV-L1 on pure sub-pixel shifts. 0.2 px leaves room for its smoothing of local motion.
    """
    import cv2  # opencv-contrib is a dependency: missing is an error, not a skip
    from magplus.types import to_uint8

    program = short_program([4, 12], amplitude=2.5, drift=(0.6, -0.4), noise_sigma=0.005, quantise=True, seed=1)
    clip = render_program(program, face, landmarks=landmarks)
    gray = [cv2.cvtColor(to_uint8(clip.frames[i])[0], cv2.COLOR_RGB2GRAY) for i in (0, 2)]
    cv2.setNumThreads(1)
    measured = cv2.optflow.DualTVL1OpticalFlow_create().calc(gray[0], gray[1], None)
    truth = clip.flow[2].permute(1, 2, 0).numpy()
    inside = clip.masks["face"].numpy()
    epe = np.linalg.norm(measured - truth, axis=2)[inside].mean()
    zero = np.linalg.norm(truth, axis=2)[inside].mean()
    assert epe < 0.2 and epe < 0.25 * zero
