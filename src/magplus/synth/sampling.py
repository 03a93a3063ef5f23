"""Random AU programs with the statistics of real micro-expressions (DOMAIN.md §1).

Drawn per program (values from CASME II / SAMM / CAS(ME)³ annotations):

* number of AUs: 1 (65 %), 2 (30 %), 3 (4 %), 4 (1 %);
* which AUs: weighted without replacement, AU4 > AU1/AU2 ≈ AU7 ≈ AU12/14/15 > AU17/24/10 >
  AU5/AU43, with rare AU6 and AU9 (:data:`AU_WEIGHTS`);
* side: unilateral with probability 0.18 (sources: 10–26 %), all AUs on the same side;
* onset→apex: log-normal, median 155 ms, log-sigma 0.42 (p10–p90 ≈ 90–265 ms), clipped 30–300 ms;
* apex→offset: log-normal, median 150 ms, log-sigma 0.47 (p90 ≈ 275 ms), clipped 30–400 ms. The
  decay is "slightly slower" through this heavier tail, as in the data; both flanks are raised cosines;
* co-occurring AUs share the timing up to ±15 ms onset jitter and ×0.85–1.15 durations;
* peak displacement: log-uniform 0.3–3 px at 256² (mostly FACS trace/slight), ×0.7–1.3 per extra AU;
* rigid drift: 0–1 px (90 %) or 1–3 px (10 %), random direction, over the whole clip;
* sensor noise sigma: uniform 0.002–0.01 (0.5–2.5 grey levels); uint8 quantisation on;
* blink distractor (AU45, 2–4 px, 40–80 ms closing, 60–140 ms opening) with probability 0.1;
* 20–60 ms of still face before the onset and after the offset.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from .program import AUEvent, AUProgram, check_au

#: Relative frequency of each AU in sampled programs.
AU_WEIGHTS = {4: 10.0, 1: 6.0, 2: 6.0, 7: 6.0, 12: 5.0, 14: 5.0, 15: 4.0, 17: 3.0, 24: 3.0, 10: 3.0,
              5: 1.5, 43: 1.5, 6: 1.0, 9: 1.0}
AU_COUNT_PROBS = {1: 0.65, 2: 0.30, 3: 0.04, 4: 0.01}
UNILATERAL_PROB = 0.18
ONSET_APEX_MEDIAN_MS, ONSET_APEX_LOG_SIGMA, ONSET_APEX_CLIP_MS = 155.0, 0.42, (30.0, 300.0)
APEX_OFFSET_MEDIAN_MS, APEX_OFFSET_LOG_SIGMA, APEX_OFFSET_CLIP_MS = 150.0, 0.47, (30.0, 400.0)
AMPLITUDE_RANGE_PX = (0.3, 3.0)
BLINK_PROB = 0.1


def _rng(seed_or_rng: Any) -> tuple[np.random.Generator, int]:
    if isinstance(seed_or_rng, np.random.Generator):
        return seed_or_rng, int(seed_or_rng.integers(0, 2**31 - 1))
    if isinstance(seed_or_rng, bool) or not isinstance(seed_or_rng, (int, np.integer)) or seed_or_rng < 0:
        raise InputError(f"seed must be an integer >= 0 or a numpy Generator, got {seed_or_rng!r}.")
    return np.random.default_rng(int(seed_or_rng)), int(seed_or_rng)


def _lognormal_ms(rng: np.random.Generator, median: float, sigma: float, clip: tuple[float, float]) -> float:
    return float(np.clip(median * math.exp(sigma * rng.standard_normal()), *clip))


def _choose_aus(rng: np.random.Generator) -> list[int]:
    count = int(rng.choice(list(AU_COUNT_PROBS), p=list(AU_COUNT_PROBS.values())))
    names = list(AU_WEIGHTS)
    weights = np.array([AU_WEIGHTS[a] for a in names])
    return [int(a) for a in rng.choice(names, size=count, replace=False, p=weights / weights.sum())]


def _choose_side(rng: np.random.Generator, side: Any) -> str | None:
    if side == "random":
        return str(rng.choice(["L", "R"])) if rng.random() < UNILATERAL_PROB else None
    if side not in ("L", "R", None):
        raise InputError(f"side must be 'L', 'R', None or 'random', got {side!r}.")
    return side


def _timing(rng: np.random.Generator, onset_apex_ms: float | None, apex_offset_ms: float | None) -> tuple[float, float]:
    rise = onset_apex_ms if onset_apex_ms is not None else _lognormal_ms(rng, ONSET_APEX_MEDIAN_MS, ONSET_APEX_LOG_SIGMA, ONSET_APEX_CLIP_MS)
    fall = apex_offset_ms if apex_offset_ms is not None else _lognormal_ms(rng, APEX_OFFSET_MEDIAN_MS, APEX_OFFSET_LOG_SIGMA, APEX_OFFSET_CLIP_MS)
    for name, value in (("onset_apex_ms", rise), ("apex_offset_ms", fall)):
        if not (math.isfinite(float(value)) and float(value) > 0):
            raise InputError(f"{name} must be > 0 milliseconds, got {value!r}.")
    return float(rise) / 1000.0, float(fall) / 1000.0


def _drift(rng: np.random.Generator) -> tuple[float, float]:
    size = rng.uniform(0.0, 1.0) if rng.random() < 0.9 else rng.uniform(1.0, 3.0)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    return (size * math.cos(angle), size * math.sin(angle))


def _blink(rng: np.random.Generator, start_s: float, end_s: float) -> AUEvent:
    close, reopen = rng.uniform(0.04, 0.08), rng.uniform(0.06, 0.14)
    onset = rng.uniform(start_s, max(start_s, end_s - close - reopen))
    return AUEvent(45, None, rng.uniform(2.0, 4.0), onset, onset + close, onset + close + reopen)


def _events(rng: np.random.Generator, aus: list[int], side: str | None, lead: float, rise: float, fall: float,
            amplitude: float, fixed_timing: bool, fixed_amplitude: bool) -> list[AUEvent]:
    """The events of one expression: the first AU sets the timing, the others follow it loosely."""
    events = []
    for index, au in enumerate(aus):
        jitter = 0.0 if index == 0 else rng.uniform(-0.015, 0.015)
        stretch = (1.0, 1.0) if index == 0 or fixed_timing else rng.uniform(0.85, 1.15, size=2)
        amp = amplitude if index == 0 or fixed_amplitude else amplitude * rng.uniform(0.7, 1.3)
        onset = max(0.0, lead + jitter)
        apex = onset + rise * stretch[0]
        events.append(AUEvent(au, side, float(amp), onset, apex, apex + fall * stretch[1]))
    return events


def sample_program(
    seed: Any = 0,
    fps: float = 200.0,
    *,
    aus: Sequence[int] | None = None,
    side: Any = "random",
    amplitude_px: float | None = None,
    onset_apex_ms: float | None = None,
    apex_offset_ms: float | None = None,
    drift_px: tuple[float, float] | None = None,
    noise_sigma: float | None = None,
    quantise: bool = True,
    blink: bool | None = None,
    lead_in_ms: float | None = None,
) -> AUProgram:
    """Draw an :class:`AUProgram` (see the module docstring for the distributions).

    Args:
        seed: int >= 0 or a ``numpy.random.Generator``.
        fps: frame rate of the clip (> 0).
        aus: fix the action units (each one of ``SUPPORTED_AUS``) instead of drawing them.
        side: "L", "R", None (bilateral) or "random" (drawn).
        amplitude_px: fix every AU's peak displacement (pixels at 256²).
        onset_apex_ms, apex_offset_ms: fix the durations of the main AU.
        drift_px: fix the rigid drift ``(dx, dy)``; ``(0, 0)`` for none.
        noise_sigma: fix the sensor noise (0 for none); quantise: uint8 rounding.
        blink: force (True) or forbid (False) a distractor blink; None draws it.
        lead_in_ms: fix the still time before the onset (and after the offset).

    Returns:
        A validated program whose ``seed`` is the integer used (also for the noise).
    """
    rng, seed_int = _rng(seed)
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be a number > 0, got {fps!r}.")
    chosen = [check_au(a) for a in aus] if aus is not None else _choose_aus(rng)
    if not chosen:
        raise InputError("aus must name at least one action unit, e.g. aus=[12].")
    if amplitude_px is not None and not (math.isfinite(float(amplitude_px)) and float(amplitude_px) > 0):
        raise InputError(f"amplitude_px must be > 0 pixels, got {amplitude_px!r}.")
    chosen_side = _choose_side(rng, side)
    rise, fall = _timing(rng, onset_apex_ms, apex_offset_ms)
    lead = (lead_in_ms / 1000.0) if lead_in_ms is not None else rng.uniform(0.02, 0.06)
    base_amplitude = amplitude_px if amplitude_px is not None else math.exp(rng.uniform(*np.log(AMPLITUDE_RANGE_PX)))
    events = _events(rng, chosen, chosen_side, lead, rise, fall, base_amplitude,
                     fixed_timing=onset_apex_ms is not None, fixed_amplitude=amplitude_px is not None)
    end = max(e.offset_s for e in events) + ((lead_in_ms / 1000.0) if lead_in_ms is not None else rng.uniform(0.02, 0.06))
    blink_event = None
    if blink or (blink is None and rng.random() < BLINK_PROB):
        blink_event = _blink(rng, 0.0, end)
        end = max(end, blink_event.offset_s + 0.01)
    return AUProgram(
        events=events,
        fps=float(fps),
        n_frames=max(2, int(math.ceil(end * fps)) + 1),
        drift_px=tuple(drift_px) if drift_px is not None else _drift(rng),
        noise_sigma=float(noise_sigma) if noise_sigma is not None else rng.uniform(0.002, 0.01),
        quantise=quantise,
        blink=blink_event,
        seed=seed_int,
    )
