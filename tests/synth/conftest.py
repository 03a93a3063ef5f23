"""Fixtures of the synthetic-generator tests: the default face and its landmarks (detected once)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def face():
    from magplus.synth import default_face

    return default_face()


@pytest.fixture(scope="session")
def landmarks(face):
    from magplus.synth import face_landmarks

    return face_landmarks(face)


@pytest.fixture(scope="session")
def ramp(face):
    """A linear colour ramp the size of the face: bilinear/bicubic resampling reproduce it exactly."""
    _, height, width = face.shape
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    return torch.stack([0.1 + xs / 400.0, 0.1 + ys / 400.0, 0.2 + (xs + ys) / 900.0])

