"""Temporal smoothing of landmark tracks on synthetic jitter with known ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from magplus.errors import InputError, ShapeError
from magplus.face.smoothing import one_euro_track, savgol_track, smooth_track


def _noisy_ramp(frames: int = 60, points: int = 5, jitter: float = 0.8, seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = np.zeros((frames, points, 2), np.float32)
    truth[..., 0] = np.linspace(0, 3, frames)[:, None]  # a slow 3 px drift in x
    return truth, truth + rng.normal(0, jitter, truth.shape).astype(np.float32)


@pytest.mark.parametrize("method, options", [("savgol", {"window": 9, "order": 2}), ("one_euro", {"fps": 30, "min_cutoff": 1.0})])
def test_smoothing_reduces_jitter(method, options):
    truth, noisy = _noisy_ramp()
    smooth = smooth_track(noisy, method=method, **options)
    assert smooth.shape == noisy.shape and smooth.dtype == np.float32
    # Error to the truth falls well below the jitter (0.8 px std); skip the One-Euro warm-up.
    error_before = np.abs(noisy - truth)[10:].mean()
    error_after = np.abs(smooth - truth)[10:].mean()
    assert error_after < 0.6 * error_before


def test_savgol_keeps_polynomials_exactly():
    t = np.arange(20, dtype=np.float32)
    track = np.stack([0.1 * t**2, 2 * t + 1], axis=-1)[:, None, :]  # (T, 1, 2)
    assert np.allclose(savgol_track(track, window=7, order=2), track, atol=1e-3)
    # A clip shorter than the window is smoothed with the longest odd window that fits.
    assert savgol_track(track[:4], window=7, order=2).shape == (4, 1, 2)


def test_one_euro_follows_a_step():
    track = np.zeros((40, 1, 2), np.float32)
    track[10:] = 5.0
    out = one_euro_track(track, fps=30, min_cutoff=1.0, beta=0.5)
    assert out[9].max() == 0.0 and abs(out[-1] - 5.0).max() < 0.05  # causal, then converges


def test_smoothing_checks():
    with pytest.raises(InputError, match="smooth must be one of"):
        smooth_track(np.zeros((3, 2, 2)), method="kalman")
    with pytest.raises(ShapeError, match=r"\(T, N, 2\)"):
        smooth_track(np.zeros((3, 2)))
    with pytest.raises(InputError, match="odd integer"):
        savgol_track(np.zeros((9, 1, 2)), window=4)
    with pytest.raises(InputError, match="fps must be > 0"):
        one_euro_track(np.zeros((9, 1, 2)), fps=0)
