"""Shared fixtures: golden-vector folder, tiny textured images, deterministic seeds."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


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


def golden_dir() -> Path:
    """Folder of the official golden vectors (``MAGPLUS_GOLDEN_DIR``, default ``../shared/golden``)."""
    return Path(os.environ.get("MAGPLUS_GOLDEN_DIR", ROOT.parent / "shared" / "golden"))


@pytest.fixture
def golden() -> Path:
    path = golden_dir()
    if not path.is_dir():
        pytest.skip(f"golden vectors not found at {path} (set MAGPLUS_GOLDEN_DIR)")
    return path
