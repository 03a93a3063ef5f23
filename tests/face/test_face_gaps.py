"""Face-less frames: short gaps bridged with a warning, long gaps / a face-less onset refused by name."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from magplus.context import clip_context
from magplus.errors import FaceGapWarning, NoFaceError
from magplus.face.gaps import bridge_gaps, format_runs, max_gap_frames, missing_runs
from magplus.face.landmarks import detect_landmarks_batch, track_landmarks
from magplus.types import to_frames


def ramp_track(frames: int = 10, points: int = 3) -> np.ndarray:
    """Landmarks moving 1 px per frame in x: (T, N, 2)."""
    base = np.arange(points * 2, dtype=np.float32).reshape(points, 2)
    return np.stack([base + [t, 0.0] for t in range(frames)]).astype(np.float32)


def test_gap_rule_in_frames_follows_fps():
    assert (max_gap_frames(30), max_gap_frames(100), max_gap_frames(200), max_gap_frames(5)) == (4, 15, 30, 1)
    with clip_context(fps=200):
        assert max_gap_frames() == 30
    assert max_gap_frames() == 4  # outside any context: 30 fps assumed
    assert missing_runs(np.array([1, 0, 0, 1, 0, 1, 0], bool)) == [(1, 2), (4, 4), (6, 6)]
    assert format_runs([(1, 2), (4, 4)]) == "frames 1-2, 4" and format_runs([(3, 3)]) == "frame 3"


def test_interior_gap_is_interpolated_and_end_gap_held():
    truth = ramp_track(10)
    found = np.ones(10, bool)
    found[[3, 4, 5, 9]] = False
    holed = truth.copy()
    holed[~found] = np.nan
    with pytest.warns(FaceGapWarning, match=r"frames 3-5, 9 of driving clip 'x.mp4' \(4 of 10\)"):
        filled = bridge_gaps(holed, found, "driving clip 'x.mp4'")
    assert np.allclose(filled[:9], truth[:9])  # linear motion: interpolation is exact
    assert np.allclose(filled[9], truth[8])  # the clip ends face-less: held
    assert bridge_gaps(truth, np.ones(10, bool)) is truth  # nothing missing: untouched, no copy


def test_onset_without_face_is_refused_by_name():
    found = np.ones(6, bool)
    found[0] = False
    with pytest.raises(NoFaceError, match=r"frame 0 \(the onset/reference frame\) of driving clip 'a.mp4'") as info:
        bridge_gaps(ramp_track(6), found, "driving clip 'a.mp4'")
    assert info.value.frames == [0]


def test_long_gap_and_mostly_missing_clips_are_refused():
    found = np.ones(20, bool)
    found[5:10] = False  # 5 frames: one more than 150 ms at 30 fps
    with pytest.raises(NoFaceError, match=r"frames 5-9 of the clip .* longer than 4 frame\(s\) \(150 ms at 30 fps, assumed\)") as info:
        bridge_gaps(ramp_track(20), found)
    assert info.value.frames == [5, 6, 7, 8, 9] and info.value.frame_index == 5
    with clip_context("magnified clip 'b'", fps=200):  # the same 25 ms gap is short at 200 fps
        with pytest.warns(FaceGapWarning, match="frames 5-9 of magnified clip 'b'"):
            bridge_gaps(ramp_track(20), found)
    alternate = np.ones(9, bool)
    alternate[1::2] = False
    alternate[2] = False  # 5 of 9 face-less, every gap short
    with pytest.raises(NoFaceError, match="more than 50% of a clip"):
        bridge_gaps(ramp_track(9), alternate)


@pytest.fixture(scope="module")
def face_clip() -> torch.Tensor:
    """20 frames of the astronaut at 128², frames 8-11 black (a 133 ms gap at 30 fps)."""
    from skimage import data

    face = F.interpolate(to_frames(data.astronaut()[:300, 100:400]), size=(128, 128), mode="bilinear", antialias=True)
    frames = face.clamp(0, 1).expand(20, -1, -1, -1).clone()
    frames[8:12] = 0
    return frames


def test_detectors_bridge_a_short_gap(face_clip):
    with pytest.warns(FaceGapWarning, match="frames 8-11 of driving clip 'x.mp4'"):
        batch = detect_landmarks_batch(face_clip, what="driving clip 'x.mp4'")
    assert np.isfinite(batch).all()
    # Still clip: the bridged rows equal the neighbours (within MediaPipe's own jitter, < 0.5 px here).
    assert np.abs(batch[8:12] - batch[7]).max() < 0.5
    with pytest.warns(FaceGapWarning, match="frames 8-11 of the clip"):
        tracked = track_landmarks(face_clip)
    assert tracked.shape == (20, 478, 2) and np.isfinite(tracked).all()


def test_detectors_refuse_a_long_gap_or_faceless_onset(face_clip):
    longer = face_clip.clone()
    longer[12] = 0
    with clip_context("driving clip 'y.mp4'"):
        with pytest.raises(NoFaceError, match="frames 8-12 of driving clip 'y.mp4'"):
            detect_landmarks_batch(longer)
    onset = face_clip.clone()
    onset[0] = 0
    with pytest.raises(NoFaceError, match="frame 0 .*of driving clip 'z'"):
        track_landmarks(onset, what="driving clip 'z'")


def test_stderr_filter_is_set_up_once_per_clip(face_clip, tmp_path, monkeypatch):
    log = open(tmp_path / "stderr.txt", "w+b")  # noqa: SIM115 (closed below)
    monkeypatch.setattr(sys, "stderr", log)
    calls = []
    real_dup = os.dup
    monkeypatch.setattr(os, "dup", lambda fd: calls.append(fd) or real_dup(fd))
    with pytest.warns(FaceGapWarning):
        detect_landmarks_batch(face_clip)
    log.close()
    assert len(calls) == 1  # one descriptor dance for 20 frames, not 20
