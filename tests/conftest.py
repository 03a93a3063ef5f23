"""Shared fixtures: golden-vector folder, tiny textured images, deterministic seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from golden_parity import GOLDEN_ENV, golden_dir, summary_lines

ROOT = Path(__file__).resolve().parents[1]


def pytest_sessionstart(session):
    """Stop at once, with the fix, when mediapipe is missing (face tests cannot run without it).

    It is not in the `test` extra (see pyproject.toml): `pip install -e .[test]` alone would
    otherwise give dozens of import errors instead of one line.
    """
    import importlib.util

    if importlib.util.find_spec("mediapipe") is None:
        raise pytest.UsageError("mediapipe is not installed; run `make test`, or `pip install --no-deps "
                                "mediapipe==0.10.21` (its declared jax/GUI-OpenCV dependencies are not needed).")


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """One intra-op thread for every test: the tensors are tiny, and on a 2-core machine shared with
    other processes extra threads only spin (measured 5-10x slower on the synth and flow tests)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture(scope="session")
def golden() -> Path:
    """The golden-vector folder. Missing is a failure, not a skip: the parity tests are the point."""
    path = golden_dir()
    if not path.is_dir():
        pytest.fail(f"golden vectors not found at {path} (the repository ships them in tests/data/golden; "
                    f"{GOLDEN_ENV} overrides the folder)")
    return path


def pytest_terminal_summary(terminalreporter):
    """Print the observed golden-parity differences, so that exactness stays visible in `make test`."""
    lines = summary_lines()
    if lines:
        terminalreporter.write_sep("-", f"golden parity ({golden_dir()})")
        for line in lines:
            terminalreporter.write_line(line)
