"""Fixtures of the face tests: the public-domain astronaut photo and its landmarks (cached)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from magplus.types import to_frames


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut (Eileen Collins, NASA, public domain): uint8 (512, 512, 3) RGB."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def astronaut_landmarks(astronaut) -> np.ndarray:
    from magplus.face.landmarks import detect_landmarks

    return detect_landmarks(astronaut)


@pytest.fixture
def astronaut_frame(astronaut) -> torch.Tensor:
    """The astronaut as one float frame (3, 512, 512)."""
    return to_frames(astronaut)[0]
