"""MediaPipe landmarks on a real face photo: plausibility, largest face, errors, tracking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from magplus.errors import FaceGapWarning, NoFaceError, ShapeError
from magplus.face.landmarks import detect_landmarks, detect_landmarks_batch, track_landmarks
from magplus.types import to_frames


def test_landmarks_plausible_on_astronaut(astronaut, astronaut_landmarks):
    points = astronaut_landmarks
    assert points.shape == (478, 2) and points.dtype == np.float32
    # The astronaut's face lies in x 170..290, y 40..200 of the 512² photo (checked by eye).
    assert (points[:, 0] > 150).all() and (points[:, 0] < 300).all()
    assert (points[:, 1] > 30).all() and (points[:, 1] < 210).all()
    # Iris centres (468 subject's right, 473 subject's left) lie between their eye corners.
    for centre, (a, b) in ((468, (33, 133)), (473, (362, 263))):
        lo, hi = sorted((points[a, 0], points[b, 0]))
        assert lo < points[centre, 0] < hi
    # Subject's left eye appears on the image's right in this non-mirrored photo.
    assert points[263, 0] > points[33, 0]
    # Same result from a float tensor (3, H, W).
    again = detect_landmarks(to_frames(astronaut)[0])
    assert np.abs(again - points).max() < 1e-3


def test_largest_face_is_chosen(astronaut):
    import cv2

    small = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    canvas = np.full((512, 768, 3), 128, np.uint8)
    canvas[:, 256:] = astronaut  # big face on the right
    canvas[128:384, :256] = small  # half-size face on the left
    points = detect_landmarks(canvas)
    assert points[:, 0].min() > 256, "the big (right) copy must win"
    width = points[:, 0].max() - points[:, 0].min()
    assert width > 90  # the big face is ~110 px wide, the small one ~55


def test_no_face_errors(astronaut):
    blank = np.zeros((128, 128, 3), np.uint8)
    with pytest.raises(NoFaceError, match="no face found in the image"):
        detect_landmarks(blank)
    frames = to_frames(np.stack([astronaut, astronaut, np.random.randint(0, 255, astronaut.shape, np.uint8)]))
    with pytest.raises(NoFaceError, match="frame 2 of the batch") as info:
        detect_landmarks_batch(frames, bridge=False)  # unrelated images: nothing to bridge from
    assert info.value.frame_index == 2 and info.value.frames == [2]
    with pytest.raises(ShapeError, match=r"uint8 RGB array \(H, W, 3\)"):
        detect_landmarks(astronaut.astype(np.float32))
    with pytest.raises(ShapeError, match=r"values must lie in \[0, 1\]"):
        detect_landmarks(torch.full((3, 8, 8), 2.0))


def test_track_still_clip_and_missing_frame(astronaut, astronaut_landmarks):
    frames = to_frames(np.stack([astronaut] * 3))
    track = track_landmarks(frames)
    assert track.shape == (3, 478, 2)
    # A still clip: the tracker stays within a couple of pixels of the image-mode result.
    # Video mode re-crops around the previous frame, which moves points by ~1 px mean, up to ~4 px
    # (measured: mean 0.76-1.0 px, max 2.3-4.0 px on a ~110 px face), so the bounds are loose.
    error = np.linalg.norm(track - astronaut_landmarks, axis=-1)
    assert error.mean() < 2.0 and error.max() < 8.0
    smooth = track_landmarks(frames, smooth="savgol", window=3, order=1)
    assert smooth.shape == (3, 478, 2)
    broken = frames.clone()
    broken[1] = 0
    with pytest.warns(FaceGapWarning, match="frame 1 of the clip"):
        bridged = track_landmarks(broken)
    assert np.isfinite(bridged).all()


def test_stderr_filter_drops_noise_keeps_errors(tmp_path, monkeypatch):
    import os
    import sys

    from magplus.face.landmarks import _filtered_stderr

    log = open(tmp_path / "stderr.txt", "w+b")  # noqa: SIM115 (closed below)
    monkeypatch.setattr(sys, "stderr", log)
    with _filtered_stderr():
        os.write(log.fileno(), b"W0000 00:00:1 x.cc:1] routine warning\nINFO: Created TensorFlow Lite delegate\n")
        os.write(log.fileno(), b"E0000 00:00:1 x.cc:2] a real error\nplain text\n")
    log.seek(0)
    assert log.read() == b"E0000 00:00:1 x.cc:2] a real error\nplain text\n"
    log.close()
