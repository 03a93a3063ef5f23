"""Fixtures of the flow tests: a textured image and one-thread torch."""

from __future__ import annotations

import pytest
import torch
from flow_testdata import make_texture


@pytest.fixture(scope="session")
def texture128() -> torch.Tensor:
    return make_texture(128).float()


@pytest.fixture(autouse=True)
def _one_thread():
    # the test machine is shared; one thread keeps timings predictable
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
