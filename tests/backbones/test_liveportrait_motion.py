"""LivePortrait motion as a first-class value: α = 1 is direct transfer, k then 1/k is the identity,
scaling is linear in the motion coordinates, and the official options (stitching switch,
driving_multiplier, absolute mode) behave as documented."""

from __future__ import annotations

import functools

import pytest
import torch
from golden_parity import load_case

from magplus.backbones.liveportrait import LivePortraitBackbone, LivePortraitMotion, LivePortraitNetworks
from magplus.backbones.liveportrait.motion import rotation_vector
from magplus.backbones.motion import rotation_power, scale_motion
from magplus.errors import InputError
from magplus.weights import strip_prefix


@functools.lru_cache(maxsize=1)
def _networks(folder: str) -> LivePortraitNetworks:
    case = load_case(folder, "liveportrait")
    nets = LivePortraitNetworks(case.meta["mini_config"]).eval()
    for name in nets.names():
        getattr(nets, name).load_state_dict(strip_prefix(case.tensors, f"state/{name}/"), strict=True)
    return nets


@pytest.fixture
def setup(golden):
    """(backbone, prepared source, driving motion) on the golden miniature case."""
    case = load_case(str(golden), "liveportrait")
    backbone = LivePortraitBackbone.from_networks(_networks(str(golden)), input_size=None, native_output=True)
    source = backbone.prepare_source(case.tensors["input/source"][0])
    return backbone, source, backbone.extract_motion(case.tensors["input/driving"])


def _max(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def test_alpha_one_is_direct_transfer_bit_for_bit(setup):
    backbone, source, motion = setup
    assert scale_motion(motion, 1.0) is motion
    assert torch.equal(backbone.render(source, scale_motion(motion, 1.0)), backbone.render(source, motion))


def test_scaling_by_k_then_one_over_k_is_the_identity(setup):
    backbone, source, motion = setup
    reference = motion.reference(0)
    back = scale_motion(scale_motion(motion, 3.0, reference), 1 / 3.0, reference)
    # float32 round trip through R^3, (R^3)^(1/3) and ratio^3: a few ulps of values of order 1.
    for name in ("kp", "rotation", "exp", "scale", "translation"):
        assert _max(getattr(back, name), getattr(motion, name)) <= 1e-6, name
    assert _max(backbone.render(source, back), backbone.render(source, motion)) <= 1e-5


def test_scaled_motion_is_linear_in_its_coordinates(setup):
    _, _, motion = setup
    change = motion.relative_to(motion.reference(0))
    coords = torch.from_numpy(change.coordinates())
    assert coords.shape == (3, 3 + 1 + 2 + 63)
    assert float(coords[0].abs().max()) <= 1e-6  # the reference frame has no change
    scaled = torch.from_numpy(change.scaled(0.25).coordinates())
    assert torch.allclose(scaled, 0.25 * coords, atol=1e-6)


def test_scaled_rotation_keeps_axis_and_scales_angle():
    axis = torch.tensor([0.3, -0.5, 0.8], dtype=torch.float64)
    axis = axis / axis.norm()
    vector = (0.4 * axis)[None]
    half = rotation_vector(rotation_power(_rodrigues(vector), 0.5))
    assert torch.allclose(half, 0.5 * vector, atol=1e-12)


def _rodrigues(vector: torch.Tensor) -> torch.Tensor:
    angle = vector.norm(dim=-1)
    k = vector / angle[:, None]
    cross = torch.zeros(vector.shape[0], 3, 3, dtype=vector.dtype)
    cross[:, 0, 1], cross[:, 0, 2], cross[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    cross = cross - cross.transpose(1, 2)
    eye = torch.eye(3, dtype=vector.dtype)
    return eye + torch.sin(angle)[:, None, None] * cross + (1 - torch.cos(angle))[:, None, None] * (cross @ cross)


def test_render_takes_a_relative_motion(setup):
    backbone, source, motion = setup
    change = motion.relative_to(motion.reference(0))
    # Without its reference a relative motion gets no expression-friendly factor; that factor is 1 here.
    backbone.expression_friendly = False
    try:
        assert _max(backbone.render(source, change), backbone.render(source, motion)) <= 1e-6
    finally:
        backbone.expression_friendly = True


def test_driving_multiplier_is_a_plain_keypoint_scale(setup):
    backbone, source, motion = setup
    base = backbone.keypoints(source, motion)
    backbone.driving_multiplier = 1.7
    try:
        scaled = backbone.keypoints(source, motion)
    finally:
        backbone.driving_multiplier = 1.0
    x_s = source.keypoints.x_s
    assert _max(scaled - x_s, 1.7 * (base - x_s)) <= 1e-6


def test_stitching_switch_and_absolute_mode(setup):
    backbone, source, motion = setup
    stitched = backbone.keypoints(source, motion)
    backbone.stitching = False
    try:
        plain = backbone.keypoints(source, motion)
    finally:
        backbone.stitching = True
    assert _max(stitched, plain) > 1e-3
    absolute = backbone.keypoints(source, motion, relative=False)
    assert absolute.shape == stitched.shape and _max(absolute, stitched) > 1e-3
    # Absolute mode uses each frame's own rotation: frame 0 rendered absolutely differs from the source pose.
    assert backbone.render(source, motion, relative=False).shape == (3, 3, 128, 128)


def test_output_follows_the_source_size_unless_native(setup, golden):
    backbone, _, motion = setup
    image = load_case(str(golden), "liveportrait").tensors["input/source"][0]
    resized = LivePortraitBackbone.from_networks(backbone.networks, input_size=None)
    assert resized.render(resized.prepare_source(image), motion).shape == (3, 3, 64, 64)


def test_motion_rejects_misuse(setup):
    _, _, motion = setup
    with pytest.raises(InputError, match="needs a relative motion"):
        motion.scaled(2.0)
    with pytest.raises(InputError, match="one-frame absolute"):
        motion.relative_to(motion)
    with pytest.raises(InputError, match="k must be a finite number > 0"):
        scale_motion(motion, 0.0)
    with pytest.raises(InputError, match="motion.exp"):
        LivePortraitMotion(motion.kp, motion.rotation, motion.exp[:, :5], motion.scale, motion.translation)


def test_pipeline_demagnifies_in_liveportrait_motion_space(setup):
    """MagPipeline picks the motion-space path; with α = 1 the result is the direct transfer, bit for bit."""
    import torch.nn.functional as F

    from magplus.pipeline import MagPipeline
    from magplus.synth import default_face, render_program, sample_program, second_face

    def small(image):
        return F.interpolate(image[None], size=(64, 64), mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)

    backbone = LivePortraitBackbone.from_networks(setup[0].networks, input_size=None)
    clip = render_program(sample_program(0, fps=30, aus=[12], amplitude_px=2.0, side=None, blink=False), small(second_face()))
    for alpha in (1.0, 4.0):
        pipeline = MagPipeline(backbone=backbone, alpha=alpha, resolution=64, crop=False, compute_direct=True, progress=False)
        out = pipeline(small(default_face()), clip.frames[:4])
        assert out.demagnify_path == "motion" and out.result.shape == (4, 3, 64, 64)
        if alpha == 1.0:
            assert torch.equal(out.result, out.direct)
