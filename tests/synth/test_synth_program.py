"""AU programs: validation, envelopes, JSON round trip, sampling statistics (no rendering)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from magplus.errors import InputError
from magplus.synth import SUPPORTED_AUS, AUEvent, AUProgram, sample_program
from magplus.synth.sampling import AU_WEIGHTS


def test_event_validation_names_the_rule():
    with pytest.raises(InputError, match=r"unsupported action unit 99; supported: 1, 2, 4"):
        AUEvent(99, None, 1.0, 0.0, 0.1, 0.2)
    with pytest.raises(InputError, match="amplitude_px must be > 0"):
        AUEvent(12, None, 0.0, 0.0, 0.1, 0.2)
    with pytest.raises(InputError, match="0 <= onset < apex < offset"):
        AUEvent(12, None, 1.0, 0.2, 0.1, 0.3)
    with pytest.raises(InputError, match="side must be"):
        AUEvent(12, "X", 1.0, 0.0, 0.1, 0.2)
    assert AUEvent("AU12", "l", 1.0, 0.0, 0.1, 0.2).label == "L12"


def test_program_validation():
    event = AUEvent(4, None, 1.0, 0.0, 0.1, 0.2)
    with pytest.raises(InputError, match="fps must be > 0"):
        AUProgram([event], fps=0)
    for bad in (1, 2.5, "9", True):
        with pytest.raises(InputError, match="n_frames must be an integer >= 2"):
            AUProgram([event], n_frames=bad)
    with pytest.raises(InputError, match="at least one AUEvent"):
        AUProgram([])
    with pytest.raises(InputError, match="noise_sigma must be >= 0"):
        AUProgram([event], noise_sigma=-0.1)


def test_envelope_is_raised_cosine():
    event = AUEvent(4, None, 1.0, 0.1, 0.2, 0.4)
    times = np.array([0.0, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5])
    np.testing.assert_allclose(event.envelope(times), [0, 0, 0.5, 1, 0.5, 0, 0], atol=1e-12)
    rise = event.envelope(np.linspace(0.1, 0.2, 50))
    assert np.all(np.diff(rise) > 0)


def test_drift_starts_at_zero_and_reaches_target():
    program = AUProgram([AUEvent(4, None, 1.0, 0.0, 0.1, 0.2)], n_frames=11, drift_px=(1.0, -2.0))
    drift = program.drift()
    assert drift.shape == (11, 2)
    np.testing.assert_allclose(drift[0], 0.0, atol=0)
    np.testing.assert_allclose(drift[-1], [1.0, -2.0])


def test_json_round_trip():
    program = sample_program(11, blink=True)
    text = json.dumps(program.to_dict())
    again = AUProgram.from_dict(json.loads(text))
    assert again.to_dict() == program.to_dict()
    assert again.blink is not None and again.blink.au == 45
    with pytest.raises(InputError, match="'events'"):
        AUProgram.from_dict({"fps": 30})


def test_sampling_is_deterministic():
    assert sample_program(5).to_dict() == sample_program(5).to_dict()
    assert sample_program(5).to_dict() != sample_program(6).to_dict()
    rng = np.random.default_rng(1)
    assert isinstance(sample_program(rng), AUProgram)
    with pytest.raises(InputError, match="seed must be an integer"):
        sample_program("x")


def test_sampling_overrides():
    program = sample_program(3, aus=[12, 4], side="L", amplitude_px=2.0, drift_px=(0, 0), noise_sigma=0.0, blink=False)
    assert [e.au for e in program.events] == [12, 4]
    assert all(e.side == "L" and e.amplitude_px == 2.0 for e in program.events)
    assert program.blink is None and program.noise_sigma == 0.0 and program.drift_px == (0.0, 0.0)
    # the clip covers every event plus still time at both ends
    assert program.duration_s > max(e.offset_s for e in program.events)
    assert min(e.onset_s for e in program.events) > 0
    with pytest.raises(InputError, match="unsupported action unit"):
        sample_program(3, aus=[3])
    with pytest.raises(InputError, match="amplitude_px must be > 0"):
        sample_program(3, amplitude_px=-1)


def test_sampled_statistics_match_domain_facts():
    """DOMAIN.md §1: onset->apex median ~155 ms, 10-25 % unilateral, 60-78 % single AU, AU4 most frequent."""
    programs = [sample_program(seed) for seed in range(400)]
    rise_ms = np.array([(p.events[0].apex_s - p.events[0].onset_s) * 1000 for p in programs])
    fall_ms = np.array([(p.events[0].offset_s - p.events[0].apex_s) * 1000 for p in programs])
    assert 135 < np.median(rise_ms) < 175 and rise_ms.min() >= 30 and rise_ms.max() <= 300
    assert 130 < np.median(fall_ms) < 170
    unilateral = np.mean([p.events[0].side is not None for p in programs])
    assert 0.10 <= unilateral <= 0.26
    counts = np.array([len(p.events) for p in programs])
    assert 0.58 <= np.mean(counts == 1) <= 0.75 and 0.22 <= np.mean(counts == 2) <= 0.38 and np.mean(counts >= 3) < 0.1
    aus = [e.au for p in programs for e in p.events]
    frequency = {au: aus.count(au) for au in AU_WEIGHTS}
    assert max(frequency, key=frequency.get) == 4
    assert frequency[1] > frequency[17] > frequency[5]
    peaks = np.array([e.amplitude_px for p in programs for e in p.events])
    assert 0.2 < peaks.min() and peaks.max() < 4.0 and 0.7 < np.median(peaks) < 1.3
    assert set(aus) <= set(SUPPORTED_AUS) and 45 not in aus  # blinks are distractors, never the expression
    assert 0.03 < np.mean([p.blink is not None for p in programs]) < 0.2
