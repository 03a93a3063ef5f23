"""The pipeline's symmetry invariant (ARCHITECTURE.md): what is magnified by α on the way in is
divided by α on the way out, and the driving clip's head motion reaches the result once, at its
own strength.

Judged with an evaluation flow the pipeline does not use (Farneback; the pipeline uses DIS), on
clips from the synthetic renderer with exact ground truth.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from magplus.flow.clip import clip_flows
from magplus.pipeline import MagPipeline
from magplus.synth import default_face, render_program, sample_program, second_face

NOSE_BRIDGE = 168


def _clip(aus, amplitude, drift, noise=0.5, seed=11):
    program = sample_program(seed, fps=30, aus=aus, side=None, amplitude_px=amplitude, drift_px=drift,
                             noise_sigma=noise / 255.0, blink=False, lead_in_ms=60.0)
    return render_program(program, second_face()), render_program(program, default_face())


def _head_motion(frames: torch.Tensor, landmarks: np.ndarray) -> np.ndarray:
    """``(T, 2)`` motion at the nose bridge (evaluation flow from frame 0)."""
    flows = clip_flows(frames, flow="farneback")
    x, y = np.round(landmarks[NOSE_BRIDGE]).astype(int)
    return flows[:, :, y - 2:y + 3, x - 2:x + 3].mean(dim=(2, 3)).numpy()


@pytest.fixture(scope="module")
def pipelines():
    kw = dict(crop=False, progress=False, compute_direct=True)
    return {"motion": MagPipeline(demagnify="motion", **kw), "image": MagPipeline(demagnify="image", **kw)}


def _head_in_source(drift: np.ndarray, driving_onset: torch.Tensor) -> np.ndarray:
    """The true head motion ``(2,)`` as landmark-warp's relative mode carries it onto the source face:
    through the similarity (scale, rotation) from the driving onset's landmarks to the source's."""
    from magplus.backbones.landmark_warp import similarity_transform
    from magplus.face.landmarks import detect_landmarks

    scale, rotation, _ = similarity_transform(detect_landmarks(driving_onset), detect_landmarks(default_face()))
    return scale * rotation @ drift


@pytest.mark.parametrize("path", ["motion", "image"])
def test_pure_head_drift_reaches_the_result_at_its_own_strength(pipelines, path):
    # A 0.05 px AU (the renderer needs one) under 1.8 px of smooth drift: head motion only.
    driving, truth = _clip([4], 0.05, (1.8, 0.6))
    out = pipelines[path](default_face(), driving.frames, 30)
    assert out.demagnify_path == path and out.alpha > 1.5
    assert np.abs(out.head_shift[-1] - truth.drift[-1]).max() < 0.05  # DIS's median face flow: 0.02 px off
    result = _head_motion(out.result, truth.landmarks)[-1]
    direct = _head_motion(out.direct, truth.landmarks)[-1]
    # The motion path moves the source's landmarks by the measured head shift, mapped onto the
    # source face as the backbone maps all motion; the image path moves the generated frames by it.
    expected = _head_in_source(truth.drift[-1], driving.frames[0]) if path == "motion" else truth.drift[-1]
    error = np.linalg.norm(result - expected) / np.linalg.norm(expected)
    # Measured: 3.0 % (motion path) and 3.4 % (image path) off; direct transfer is 23 % off here
    # (MediaPipe reads the drifting face's 1.9 px as 2.3 px). Unstabilised, the head motion went
    # through the backbone at alpha x, and came back 6 % (motion) and 10 % (image) off direct's.
    assert error < 0.06
    assert error < 0.5 * np.linalg.norm(direct - _head_in_source(truth.drift[-1], driving.frames[0])) / np.linalg.norm(expected)


def test_still_clip_gives_the_still_source(pipelines):
    source = default_face()
    still = source[None].repeat(6, 1, 1, 1)
    for path, pipe in pipelines.items():
        out = pipe(source, still, 30)
        assert float((out.result - source).abs().max()) < 2e-3, path  # the warp's identity round-off


def test_drift_and_expression_both_transfer_at_one_times(pipelines):
    driving, truth = _clip([12], 2.0, (1.0, 0.0), seed=12)
    out = pipelines["motion"](default_face(), driving.frames, 30)
    head_true = truth.drift[-1]
    head = _head_motion(out.result, truth.landmarks)[-1]
    # Measured 0.96x of the true 1.0 px on this clip (1.01x of it mapped onto the source face;
    # 0.97-1.01x over the regime sweep's drift cells, where direct transfer gives 0.87-1.12x);
    # head motion left magnified would be alpha x (4-8x here), divided by alpha twice 0.1-0.25x.
    assert abs(np.linalg.norm(head) / np.linalg.norm(head_true) - 1.0) < 0.3
    # Expression: the lip-corner motion (head motion removed) against the exact flow.
    flows = clip_flows(out.result, flow="farneback")
    head_curve = _head_motion(out.result, truth.landmarks)
    corners = np.round(truth.landmarks[[61, 291]]).astype(int)
    gen = np.stack([flows[:, :, y, x].numpy() for x, y in corners], 1) - head_curve[:, None]
    true = np.stack([truth.flow[:, :, y, x].numpy() for x, y in corners], 1) - truth.drift[:, None]
    ratio = np.linalg.norm(gen, axis=2).max() / np.linalg.norm(true, axis=2).max()
    assert 0.5 < ratio < 1.5, ratio
