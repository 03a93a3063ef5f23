"""The motion-space gain: exact on noiseless tracks, from a sample of the frames, and not biased by
the error the two passes share on the onset frame."""

from __future__ import annotations

import numpy as np
import pytest

from magplus.backbones.motion import LandmarkMotion
from magplus.errors import InputError
from magplus.magnify.motion_space import demagnify_motion, gain_stride, motion_gain

ALPHA, GAIN = 12.0, 0.8


def tracks(frames: int = 64, points: int = 40, seed: int = 0):
    """``(magnified, direct)`` landmark tracks with direct change = GAIN × magnified change / α."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, frames)[:, None, None]
    shape = rng.normal(size=(1, points, 2))
    change = 6.0 * np.sin(np.pi * t) * shape + 2.0 * t * rng.normal(size=(1, 1, 2))  # expression + drift
    base = rng.uniform(50, 200, size=(1, points, 2))
    return LandmarkMotion(base + change), LandmarkMotion(base + 3.0 + GAIN * change / ALPHA)


def test_gain_stride_keeps_at_least_25_samples_a_second():
    assert [gain_stride(f) for f in (25, 30, 49.9, 50, 200, 1000)] == [1, 1, 1, 2, 8, 40]


@pytest.mark.parametrize("stride", [1, 3, 8])
def test_gain_is_exact_on_every_stride_th_frame(stride):
    magnified, direct = tracks()
    assert motion_gain(direct.select(slice(0, None, stride)), magnified, ALPHA, stride) == pytest.approx(GAIN, rel=1e-9)
    motion, info = demagnify_motion(magnified, ALPHA, direct.select(slice(0, None, stride)), stride)
    assert (info.gain_frames, info.gain_stride) == (len(range(0, 64, stride)), stride)
    assert info.scale == pytest.approx(GAIN / ALPHA, rel=1e-9)


def test_gain_is_not_biased_by_the_onset_error_both_passes_share():
    # Both passes detect landmarks on the same onset image, so they share its error: frame 0 of
    # both tracks is off by the same vector, as large as the motion here. A plain slope through
    # the origin would come out at 7.5; the fit must stay exact.
    magnified, direct = tracks()
    error = np.random.default_rng(1).normal(scale=6.0, size=magnified.points.shape[1:])
    magnified.points[0] += error
    direct.points[0] += error
    assert motion_gain(direct, magnified, ALPHA) == pytest.approx(GAIN, rel=1e-9)


def test_gain_refuses_tracks_of_another_clip():
    magnified, direct = tracks()
    with pytest.raises(InputError, match="one frame in 8"):
        motion_gain(direct, magnified, ALPHA, stride=8)


def test_no_motion_gives_no_gain():
    magnified, direct = tracks()
    still = LandmarkMotion(np.repeat(magnified.points[:1], 64, axis=0))
    assert np.isnan(motion_gain(still, still, ALPHA))
    _, info = demagnify_motion(still, ALPHA, still)
    assert info.gain == 1.0 and np.isnan(info.raw_gain)


def test_stabilised_run_puts_the_head_motion_back_unscaled_and_fits_the_gain_without_it():
    # A stabilised magnified clip carries α × the expression and no head motion; the direct pass
    # carries both. The gain must be fitted on the expression alone, and the result must hold the
    # expression at 1x plus the head motion at 1x.
    rng = np.random.default_rng(3)
    frames, points, size = 40, 30, 256
    t = np.linspace(0.0, 1.0, frames)[:, None, None]
    base = rng.uniform(60, 190, size=(1, points, 2))
    expression = 0.4 * np.sin(np.pi * t) * rng.normal(size=(1, points, 2))
    head = np.stack([1.5 * t[:, 0, 0], -0.7 * t[:, 0, 0] ** 2], axis=1)  # (T, 2) pixels
    direct = LandmarkMotion(base + expression + head[:, None, :])
    magnified = LandmarkMotion(base + GAIN * ALPHA * expression)  # the extractor under-reads α x motion
    motion, info = demagnify_motion(magnified, ALPHA, direct, head_shift=head, size=size)
    assert info.gain == pytest.approx(1.0 / GAIN, rel=1e-9)
    assert np.abs(motion.points - direct.points).max() < 1e-9
    # Without taking the head out of the direct pass first, the drift (uncorrelated with the
    # expression) would only add noise to the fit; with it taken out, the fit is exact.
    with pytest.raises(InputError, match="head_shift"):
        demagnify_motion(magnified, ALPHA, direct, head_shift=head[:-1], size=size)
