"""Motion as a first-class value: scaling invariants of every motion-scalable backbone.

For each Motion: k = 1 is the identity; scaling by k then by 1/k is the identity; the change from
the reference of ``scale_motion(m, k)`` is k times m's; and, rendered, k = 1 equals direct transfer.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fsrt_mini import MINI as FSRT_MINI  # noqa: E402
from fsrt_mini import mini_frames, mini_states  # noqa: E402

from magplus.backbones.fomm.motion import FOMMMotion
from magplus.backbones.fsrt.backbone import FSRTMotion
from magplus.backbones.motion import LandmarkMotion, matrix_power_2x2, rotation_power, scale_motion
from magplus.errors import InputError


def _rz(angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def test_matrix_and_rotation_powers():
    jac = torch.tensor([[[1.1, 0.2], [0.05, 0.9]], [[0.8, -0.1], [0.3, 1.2]]])
    half = matrix_power_2x2(jac, 0.5)
    assert float((half @ half - jac).abs().max()) < 1e-6  # float32 round-off of a 2x2 product
    assert float((matrix_power_2x2(matrix_power_2x2(jac, 3.0), 1 / 3.0) - jac).abs().max()) < 1e-5
    assert float((rotation_power(_rz(0.3), 0.5) - _rz(0.15)).abs().max()) < 1e-12
    assert float((rotation_power(torch.eye(3, dtype=torch.float64), 0.2) - torch.eye(3, dtype=torch.float64)).abs().max()) == 0


def _motions():
    gen = torch.Generator().manual_seed(0)
    points = np.random.default_rng(0).normal(100, 20, (6, 5, 2)).astype(np.float32)
    value = torch.rand(6, 3, 2, generator=gen) * 2 - 1
    jac = torch.eye(2).expand(6, 3, 2, 2) + 0.1 * torch.randn(6, 3, 2, 2, generator=gen)
    return [LandmarkMotion(points), FOMMMotion(value, jac),
            FSRTMotion(torch.rand(6, 4, 2, generator=gen), torch.randn(6, 7, generator=gen))]


@pytest.mark.parametrize("motion", _motions(), ids=["landmarks", "fomm", "fsrt"])
def test_scaling_invariants(motion):
    ref = motion.reference(0)
    assert scale_motion(motion, 1.0) is motion
    there_and_back = scale_motion(scale_motion(motion, 7.0, ref), 1 / 7.0, ref)
    change = motion.relative_to(ref).coordinates()
    assert np.abs(there_and_back.relative_to(ref).coordinates() - change).max() < 1e-4 * (1 + np.abs(change).max())
    tripled = scale_motion(motion, 3.0, ref).relative_to(ref).coordinates()
    # Coordinates are linear in k (FOMM's Jacobians through their logarithm); float32 round-off.
    assert np.abs(tripled - 3.0 * change).max() < 1e-4 * (1 + np.abs(change).max())
    assert np.abs(scale_motion(motion, 3.0, ref).select([0]).relative_to(ref).coordinates()).max() < 1e-5


def test_motion_misuse_is_a_clear_error():
    motion = _motions()[0]
    with pytest.raises(InputError, match="relative"):
        motion.scaled(2.0)
    with pytest.raises(InputError, match="one-frame absolute"):
        motion.relative_to(motion)
    with pytest.raises(InputError, match="k must be"):
        scale_motion(motion, 0.0)


def test_fomm_render_of_unit_scale_equals_direct_and_small_scale_approaches_the_reference():
    from fomm_mini import mini_backbone
    from test_fomm_backbone import _frames

    backbone = mini_backbone()
    frames = _frames(5, size=32)
    source = backbone.prepare_source(frames[0])
    motion = backbone.extract_motion(frames)
    assert isinstance(motion, FOMMMotion) and backbone.motion_scalable
    direct = backbone.render(source, motion)
    assert torch.equal(backbone.render(source, scale_motion(motion, 1.0)), direct)
    still = backbone.render(source, scale_motion(motion, 1e-6))
    first = backbone.render(source, motion.select([0]))
    assert float((still - first.expand_as(still)).abs().max()) < 1e-4
    assert float((direct - first.expand_as(direct)).abs().max()) > 1e-3  # the clip does move


def test_fsrt_motion_scaling_renders_like_direct_at_unit_scale():
    from magplus.backbones.fsrt import FSRTBackbone

    kp_state, vox_state = mini_states()
    backbone = FSRTBackbone(checkpoint=vox_state, kp_checkpoint=kp_state, config=FSRT_MINI, show_progress=False)
    frames = mini_frames(3)
    source = backbone.prepare_source(frames[0])
    motion = backbone.extract_motion(frames)
    assert backbone.motion_scalable
    assert torch.equal(backbone.render(source, scale_motion(motion, 1.0)), backbone.render(source, motion))
    back = scale_motion(scale_motion(motion, 5.0), 0.2)
    assert float((backbone.render(source, back) - backbone.render(source, motion)).abs().max()) < 1e-4


def _head_moved(motion, shift):
    """What each kind of motion must become when the head moves by ``shift`` pixels of a 256² frame."""
    from magplus.backbones.liveportrait.motion import LivePortraitMotion

    step = torch.as_tensor(shift * 2.0 / 255.0, dtype=torch.float32)  # [-1, 1] spans 255 pixel steps
    if isinstance(motion, LandmarkMotion):
        per_pixel = 1.0 if motion.frame_units is None else motion.frame_units / 256.0
        return {"points": motion.points + shift[:, None, :] * per_pixel}
    if isinstance(motion, FOMMMotion):
        return {"value": motion.value + step[:, None, :], "jacobian": motion.jacobian}
    if isinstance(motion, FSRTMotion):
        return {"keypoints": motion.keypoints + step[:, None, :], "expression": motion.expression}
    assert isinstance(motion, LivePortraitMotion)
    return {"translation": motion.translation + torch.cat([step, torch.zeros(len(step), 1)], 1), "exp": motion.exp,
            "rotation": motion.rotation}


def _translatable():
    from magplus.backbones.liveportrait.motion import LivePortraitMotion

    gen = torch.Generator().manual_seed(1)
    lp = LivePortraitMotion(kp=torch.randn(6, 3, 3, generator=gen), rotation=torch.eye(3).expand(6, 3, 3).clone(),
                            exp=0.01 * torch.randn(6, 3, 3, generator=gen), scale=torch.ones(6, 1),
                            translation=0.1 * torch.randn(6, 3, generator=gen))
    landmarks = _motions()[0]
    return [*_motions(), LandmarkMotion(landmarks.points / 256.0, frame_units=1.0), lp]


@pytest.mark.parametrize("motion", _translatable(), ids=["landmarks", "fomm", "fsrt", "unit-landmarks", "liveportrait"])
def test_translated_moves_the_head_and_nothing_else(motion):
    shift = np.random.default_rng(2).normal(0, 2, (len(motion), 2))
    moved = motion.translated(shift, 256)
    for name, expected in _head_moved(motion, shift).items():
        got = getattr(moved, name)
        got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
        assert np.abs(got - expected).max() < 1e-6 * (1 + np.abs(expected).max()), name  # float32 round-off
    back = moved.translated(-shift, 256).relative_to(motion.reference(0)).coordinates()
    change = motion.relative_to(motion.reference(0)).coordinates()
    assert np.abs(back - change).max() < 1e-5 * (1 + np.abs(change).max())
    with pytest.raises(InputError, match="shift"):
        motion.translated(shift[:-1], 256)


def test_stabilised_pipeline_puts_the_head_shift_into_fomm_keypoints():
    """Plumbing of a stabilised run on a keypoint backbone: the motion rendered is the magnified
    clip's keypoint change scaled by gain / α, plus the measured head shift in [-1, 1] units."""
    import torch.nn.functional as F

    from fomm_mini import mini_backbone

    from magplus.pipeline import MagPipeline
    from magplus.synth import default_face, render_program, sample_program, second_face

    def small(image):
        return F.interpolate(image[None], size=(64, 64), mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)

    program = sample_program(0, fps=30, aus=[12], amplitude_px=2.0, side=None, blink=False, drift_px=(6.0, -3.0))
    clip = render_program(program, small(second_face()))
    pipeline = MagPipeline(backbone=mini_backbone(), alpha=4.0, resolution=64, crop=False, progress=False)
    rendered = {}
    render = pipeline.render

    def spy(state, motion, label, **kw):
        rendered[label] = motion
        return render(state, motion, label, **kw)
    pipeline.render = spy
    out = pipeline(small(default_face()), clip.frames[:6])
    assert out.head_shift is not None and np.abs(out.head_shift[-1]).max() > 0.3  # the drift was measured
    magnified = pipeline.backbone.extract_motion(out.magnified_driving)
    expected = scale_motion(magnified, out.motion_gain.scale).translated(out.head_shift, 64)
    got = rendered["de-magnified"]
    assert float((got.value - expected.value).abs().max()) < 1e-6
    assert float((got.jacobian - expected.jacobian).abs().max()) < 1e-5
    step = got.value - scale_motion(magnified, out.motion_gain.scale).value
    assert np.abs(step.mean(dim=1).numpy() - out.head_shift * 2 / 63).max() < 1e-6
