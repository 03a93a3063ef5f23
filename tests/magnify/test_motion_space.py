"""Motion-space de-magnification: head and expression gains measured apart."""

import numpy as np
import pytest

from magplus.backbones.motion import LandmarkMotion
from magplus.magnify.motion_space import demagnify_motion


def _face_points(n: int = 60, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.uniform(60, 196, size=(n, 2))).astype(np.float32)


def _absolute(points: np.ndarray, change: np.ndarray) -> LandmarkMotion:
    return LandmarkMotion(np.concatenate([points[None], points[None] + change]).astype(np.float32))


def _head(points: np.ndarray, frames: int, shift: float, turn: float) -> np.ndarray:
    """Head motion: a growing translation plus a small rotation about the points' centre."""
    centre = points.mean(0)
    out = []
    for t in np.linspace(0.2, 1.0, frames):
        c, s = np.cos(turn * t), np.sin(turn * t)
        rotated = (points - centre) @ np.array([[c, -s], [s, c]]).T + centre
        out.append(rotated - points + np.array([shift * t, -0.5 * shift * t]))
    return np.stack(out)


def _expression(points: np.ndarray, frames: int, size: float) -> np.ndarray:
    """Expression: the lowest points pulled apart sideways (no net translation, rotation or scale)."""
    change = np.zeros((frames, len(points), 2))
    low = np.argsort(points[:, 1])[-8:]
    side = np.sign(points[low, 0] - points[low, 0].mean())
    for i, t in enumerate(np.linspace(0.2, 1.0, frames)):
        change[i, low, 0] = size * t * side
        change[i, low, 1] = -size * t * 0.5
    return change


def test_split_head_separates_a_similarity_from_a_local_change():
    points = _face_points()
    head, expression = _head(points, 4, 1.5, 0.01), _expression(points, 4, 2.0)
    motion = _absolute(points, head + expression)
    got_head, got_expression = motion.split_head(motion.reference(0))
    change = motion.relative_to(motion.reference(0)).points
    assert np.allclose(got_head.plus(got_expression).points, change, atol=1e-5)
    # The pure similarity is recovered up to what the local change leaks into the fit (small,
    # as the eight moving points are 8 of 60): far below the expression's own 2 px.
    assert np.abs(got_head.points[1:] - head).max() < 0.35
    pure = _absolute(points, head)
    only_head, nothing = pure.split_head(pure.reference(0))
    assert np.abs(nothing.points).max() < 1e-4 and np.allclose(only_head.points[1:], head, atol=1e-4)


def test_head_and_expression_gains_are_measured_apart():
    """An extractor that passes magnified head motion at full strength but magnified expression at
    half: one gain over both cannot undo it; the split gains (1 and 2) can."""
    points = _face_points(seed=1)
    alpha = 10.0
    head, expression = _head(points, 6, 1.0, 0.004), _expression(points, 6, 0.3)
    direct = _absolute(points, head + expression)
    magnified = _absolute(points, alpha * head + 0.5 * alpha * expression)
    result, info = demagnify_motion(magnified, alpha, direct)
    assert info.head_gain == pytest.approx(1.0, abs=0.05) and info.gain == pytest.approx(2.0, abs=0.1)
    got = result.relative_to(result.reference(0)).points
    assert np.abs(got - direct.relative_to(direct.reference(0)).points).max() < 0.05  # px; expression 0.3 px
    # One gain fitted to both is dominated by the head and leaves the expression near half.
    from magplus.backbones.motion import scale_motion
    from magplus.magnify.motion_space import motion_gain

    single = scale_motion(magnified, motion_gain(direct, magnified, alpha) / alpha)
    low = np.argsort(points[:, 1])[-8:]
    single_expression = single.relative_to(single.reference(0)).points[-1, low] - head[-1, low]
    assert np.abs(single_expression).mean() < 0.7 * np.abs(expression[-1, low]).mean()


def test_alpha_one_is_direct_transfer_bit_for_bit():
    points = _face_points(seed=2)
    motion = _absolute(points, _head(points, 3, 0.5, 0.0) + _expression(points, 3, 1.0))
    result, info = demagnify_motion(motion, 1.0, motion)
    assert result is motion and info.gain == 1.0 and info.head_gain == 1.0
