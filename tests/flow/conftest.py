"""Fixtures of the flow tests: a textured image."""

from __future__ import annotations

import pytest
import torch
from flow_testdata import make_texture


@pytest.fixture(scope="session")
def texture128() -> torch.Tensor:
    return make_texture(128).float()

