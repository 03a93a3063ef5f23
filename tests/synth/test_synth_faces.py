"""Faces, landmark anchoring, AU fields and the unbiased resampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from magplus.errors import InputError
from magplus.ops.warp import backward_warp, pixel_grid
from magplus.synth import AU_SPECS, SUPPORTED_AUS, AUEvent, AUProgram, build_au_field, default_face, render_program
from magplus.synth.resample import cubic_sample


def test_default_and_second_faces_are_distinct_crops(face, landmarks):
    from magplus.synth import face_landmarks, second_face

    other = second_face()
    assert face.shape == other.shape == (3, 256, 256) and face.dtype == torch.float32
    assert 0.0 <= float(face.min()) and float(face.max()) <= 1.0
    points = face_landmarks(other)
    # both faces fill a similar part of the crop, but the landmarks differ (another person)
    eye_distance = [float(np.linalg.norm(p[263] - p[33])) for p in (landmarks, points)]
    assert all(60 < d < 120 for d in eye_distance)
    assert float(abs(points - landmarks).mean()) > 3.0
    assert landmarks[263][0] > landmarks[33][0]  # MediaPipe "left" = subject's left = image right


def test_every_au_has_a_unit_peak_field_in_its_region(landmarks):
    assert set(AU_SPECS) == set(SUPPORTED_AUS)
    for au in SUPPORTED_AUS:
        field = build_au_field(au, None, landmarks, 256, 256)
        magnitude = field.grid.norm(dim=0)
        assert float(magnitude.max()) == pytest.approx(1.0, abs=1e-9)
        # localised: the region above 10 % of the peak is a small part of the frame
        assert 0.002 < float(field.mask.float().mean()) < 0.15, au
    with pytest.raises(InputError, match="unsupported action unit"):
        build_au_field(3, None, landmarks, 256, 256)
    with pytest.raises(InputError, match="side must be"):
        build_au_field(12, "both", landmarks, 256, 256)


def test_amplitude_scales_with_the_frame_size():
    small = default_face(128)
    program = AUProgram([AUEvent(4, None, 2.0, 0.0, 0.01, 0.02)], n_frames=3, noise_sigma=0.0, quantise=False)
    clip = render_program(program, small)
    assert clip.frames.shape[-1] == 128
    assert float(clip.peak_px.max()) == pytest.approx(1.0, rel=0.02)  # 2 px at 256² is 1 px at 128²


def test_torch_bicubic_is_biased_and_the_spline_sampler_is_not(ramp):
    """Why the renderer has its own resampler: PyTorch's bicubic misplaces a ramp by ~0.04 px."""
    shift = torch.zeros(2, 256, 256)
    shift[0] = 0.3
    expected = ramp[0] + 0.3 / 400.0  # channel 0 is 0.1 + x / 400
    inner = (slice(8, -8), slice(8, -8))
    torch_error = (backward_warp(ramp, shift, mode="bicubic")[0] - expected)[inner].abs().max()
    assert float(torch_error) * 400 > 0.02  # in pixels
    coords = (pixel_grid(256, 256, dtype=torch.float64) + shift.double())[None]
    ours = cubic_sample(ramp, coords)[0, 0]
    assert float((ours - expected)[inner].abs().max()) * 400 < 1e-3
    # and it interpolates: integer positions give the pixels back
    same = cubic_sample(ramp, pixel_grid(256, 256, dtype=torch.float64)[None])[0]
    assert float((same - ramp).abs().max()) < 1e-5
