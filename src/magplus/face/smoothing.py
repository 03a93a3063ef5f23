"""Temporal smoothing of landmark tracks ``(T, N, 2)``.

Landmark trackers jitter by about a pixel on a still face (DOMAIN.md §1), the size of a
micro-expression. Smoothing hides jitter but also flattens fast, small motions, so it is OFF by
default wherever motion is measured. Two filters:

- ``"savgol"``: Savitzky–Golay (least-squares polynomial over a sliding window, scipy). Offline and
  symmetric, hence no lag; keeps peaks better than a moving average of the same width.
- ``"one_euro"``: the One-Euro filter (Casiez, Roussel & Vogel, CHI 2012): a first-order low-pass
  whose cut-off rises with speed, so still landmarks are smoothed hard and moving ones lag little.
  Causal (usable on a live stream).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InputError, ShapeError
from ..types import describe_shape

SMOOTHERS = ("savgol", "one_euro")


def savgol_track(track: np.ndarray, window: int = 5, order: int = 2) -> np.ndarray:
    """Savitzky–Golay smoothing along time.

    Args:
        track: ``(T, N, 2)`` landmarks.
        window: odd window length in frames (shrunk to the clip length if the clip is shorter).
        order: polynomial order, < window.

    Returns:
        ``(T, N, 2)`` float32.
    """
    from scipy.signal import savgol_filter

    window, order = int(window), int(order)
    if window < 3 or window % 2 == 0:
        raise InputError(f"savgol window must be an odd integer >= 3, got {window}.")
    if not 0 <= order < window:
        raise InputError(f"savgol order must satisfy 0 <= order < window ({window}), got {order}.")
    frames = track.shape[0]
    window = min(window, frames if frames % 2 else frames - 1)
    if window <= order:  # too few frames for this polynomial: nothing meaningful to fit
        return track.astype(np.float32, copy=True)
    return savgol_filter(track, window, order, axis=0, mode="interp").astype(np.float32)


def _smoothing_factor(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    # Exponential smoothing factor of a first-order low-pass with the given cut-off frequency.
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def one_euro_track(track: np.ndarray, fps: float = 30.0, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0) -> np.ndarray:
    """One-Euro filtering along time, each coordinate on its own.

    Args:
        track: ``(T, N, 2)`` landmarks in pixels.
        fps: frame rate of the clip (> 0).
        min_cutoff: cut-off (Hz) at rest; lower = smoother still landmarks.
        beta: how fast the cut-off grows with speed (per pixel/s); higher = less lag.
        d_cutoff: cut-off (Hz) of the speed estimate.

    Returns:
        ``(T, N, 2)`` float32.
    """
    for name, value in (("fps", fps), ("min_cutoff", min_cutoff), ("d_cutoff", d_cutoff)):
        if not float(value) > 0:
            raise InputError(f"one_euro {name} must be > 0, got {value}.")
    if not float(beta) >= 0:
        raise InputError(f"one_euro beta must be >= 0, got {beta}.")
    dt = 1.0 / float(fps)
    out = np.empty_like(track, dtype=np.float64)
    out[0] = track[0]
    speed = np.zeros(track.shape[1:], dtype=np.float64)
    a_speed = _smoothing_factor(d_cutoff, dt)
    for t in range(1, track.shape[0]):
        raw_speed = (track[t] - out[t - 1]) / dt
        speed = a_speed * raw_speed + (1 - a_speed) * speed
        a_value = _smoothing_factor(min_cutoff + beta * np.abs(speed), dt)
        out[t] = a_value * track[t] + (1 - a_value) * out[t - 1]
    return out.astype(np.float32)


def smooth_track(track: Any, method: str = "savgol", **options: Any) -> np.ndarray:
    """Smooth a landmark track ``(T, N, 2)`` with ``method`` in :data:`SMOOTHERS`.

    ``options`` go to :func:`savgol_track` (window, order) or :func:`one_euro_track`
    (fps, min_cutoff, beta, d_cutoff).
    """
    track = np.asarray(track)
    if track.ndim != 3 or track.shape[-1] != 2:
        raise ShapeError(f"track must have shape (T, N, 2), got {describe_shape(track)}.")
    if method == "savgol":
        return savgol_track(track, **options)
    if method == "one_euro":
        return one_euro_track(track, **options)
    raise InputError(f"smooth must be one of {SMOOTHERS} or None, got {method!r}.")
