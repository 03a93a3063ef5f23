"""Summaries with confidence intervals.

:func:`summarize` returns the mean and a 95 % *percentile bootstrap* interval (resampling the
per-clip values with replacement, seeded so that reports are reproducible); ``method="t"`` gives
the Student-t interval ``mean ± t_{0.975, n-1} · s / sqrt(n)`` instead. NaN values (a metric that
is undefined for a clip, e.g. a correlation of a still curve) are dropped first.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..errors import InputError

#: Bootstrap resamples: enough for a stable 2.5/97.5 percentile at n ≤ a few hundred clips.
DEFAULT_BOOTSTRAP = 2000


def summarize(values: Iterable[float], method: str = "bootstrap", level: float = 0.95,
              n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> tuple[float, float, float]:
    """Mean and confidence interval of per-clip values.

    Args:
        values: numbers (NaN are ignored).
        method: ``"bootstrap"`` (percentile bootstrap of the mean) or ``"t"`` (Student-t interval).
        level: confidence level in (0, 1).
        n_boot: bootstrap resamples (>= 100).
        seed: bootstrap seed.

    Returns:
        ``(mean, ci_low, ci_high)``; all NaN when no finite value is left; a single value gives a
        zero-width interval.
    """
    if method not in ("bootstrap", "t"):
        raise InputError(f"method must be 'bootstrap' or 't', got {method!r}.")
    if not 0.0 < float(level) < 1.0:
        raise InputError(f"level must lie in (0, 1), e.g. 0.95, got {level!r}.")
    if int(n_boot) < 100:
        raise InputError(f"n_boot must be >= 100 resamples, got {n_boot!r}.")
    try:
        data = np.asarray(list(values), dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InputError("values must be numbers (floats); got something that is not.") from None
    data = data[~np.isnan(data)]
    if data.size == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(data.mean())
    if data.size == 1 or np.all(data == data[0]):
        return (mean, mean, mean)
    tail = (1.0 - float(level)) / 2.0
    if method == "t":
        from scipy import stats

        half = float(stats.t.ppf(1.0 - tail, data.size - 1) * data.std(ddof=1) / math.sqrt(data.size))
        return (mean, mean - half, mean + half)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(int(n_boot), data.size))].mean(axis=1)
    low, high = np.quantile(means, [tail, 1.0 - tail])
    # The percentile interval of a skewed sample can miss the sample mean by round-off; keep it inside.
    return (mean, float(min(low, mean)), float(max(high, mean)))
