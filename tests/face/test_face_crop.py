"""Fixed face box, crop, landmark coordinate maps and paste-back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from magplus.errors import InputError, NoFaceError, ShapeError
from magplus.face.crop import FaceBox, crop, crop_face_clip, crop_landmarks, feather_weight, paste_back, uncrop_landmarks


def test_box_from_landmarks(astronaut_landmarks):
    box = FaceBox.from_landmarks(astronaut_landmarks, margin=1.7)
    extent = (astronaut_landmarks.max(0) - astronaut_landmarks.min(0)).max()
    assert box.size == pytest.approx(1.7 * extent, rel=1e-6)
    centre = (astronaut_landmarks.max(0) + astronaut_landmarks.min(0)) / 2
    assert (box.x0 + box.size / 2, box.y0 + box.size / 2) == pytest.approx(tuple(centre), abs=1e-3)
    assert FaceBox.from_dict(box.to_dict()) == box
    # image_size shifts a box that sticks out (here: above the top) back inside, same size.
    high = FaceBox.from_landmarks(astronaut_landmarks - [0, 60], image_size=(512, 512))
    assert high.y0 == 0.0 and high.size == pytest.approx(box.size)
    with pytest.raises(InputError, match="margin must be > 0"):
        FaceBox.from_landmarks(astronaut_landmarks, margin=0)
    with pytest.raises(InputError, match="missing"):
        FaceBox.from_dict({"x0": 1})
    with pytest.raises(InputError, match="size > 0"):
        FaceBox(0, 0, -1)


def test_landmark_maps_are_inverse():
    box = FaceBox(12.3, -4.5, 77.7)
    points = np.random.rand(5, 2).astype(np.float32) * 100
    crop_points = crop_landmarks(points, box, 64)
    assert crop_points.dtype == np.float32
    assert np.allclose(uncrop_landmarks(crop_points, box, 64), points, atol=1e-4)
    # Box corners go to crop corners.
    corners = crop_landmarks(np.array([[12.3, -4.5], [90.0, 73.2]]), box, 64)
    assert np.allclose(corners, [[0, 0], [64, 64]], atol=1e-4)
    track = torch.rand(3, 5, 2, dtype=torch.float64) * 100
    assert torch.allclose(uncrop_landmarks(crop_landmarks(track, box, 64), box, 64), track)
    with pytest.raises(ShapeError, match=r"\(N, 2\) or \(T, N, 2\)"):
        crop_landmarks(np.zeros((5, 3)), box, 64)


def test_crop_at_unit_scale_is_exact_shifted_copy():
    # A box of side S aligned to whole pixels samples pixel centres exactly: no interpolation.
    frames = torch.rand(2, 3, 40, 50)
    out = crop(frames, FaceBox(7.0, 5.0, 16.0), size=16)
    assert out.shape == (2, 3, 16, 16)
    assert torch.allclose(out, frames[:, :, 5:21, 7:23], atol=1e-6)
    single = crop(frames[0], FaceBox(7.0, 5.0, 16.0), size=16)
    assert single.shape == (3, 16, 16)


def test_crop_pads_outside_image():
    frames = torch.rand(1, 3, 20, 20) * 0.5 + 0.5
    edge = crop(frames, FaceBox(-10.0, 0.0, 20.0), size=20)
    zeros = crop(frames, FaceBox(-10.0, 0.0, 20.0), size=20, pad="zeros")
    assert torch.allclose(edge[..., :9], frames[..., :1].expand(-1, -1, -1, 9), atol=1e-6)
    assert float(zeros[..., :9].abs().max()) == 0.0
    with pytest.raises(InputError, match="pad must be one of"):
        crop(frames, FaceBox(0, 0, 5), 8, pad="mirror")


def test_crop_paste_back_round_trip(astronaut_frame, astronaut_landmarks):
    clip = astronaut_frame[None].repeat(2, 1, 1, 1)
    box = FaceBox.from_landmarks(astronaut_landmarks, image_size=(512, 512))  # side ≈ 181 px
    crops = crop(clip, box, 256)
    back = paste_back(clip, crops, box, feather=0.1)
    x0, y0, side = int(box.x0), int(box.y0), int(box.size)
    inner = slice(y0 + side // 8, y0 + side - side // 8), slice(x0 + side // 8, x0 + side - side // 8)
    error = (back - clip)[..., inner[0], inner[1]].abs()
    # Upsampling 181 -> 256 then antialiased shrinking back blurs fine texture: measured mean
    # 0.008 (2/255) with rare edge pixels up to 0.18, so bound the mean and the 99th percentile.
    assert float(error.mean()) < 0.015
    assert float(error.flatten().quantile(0.99)) < 0.08
    # Outside the box nothing changes; the input is not modified in place.
    assert torch.equal(back[..., :, : x0 - 1], clip[..., :, : x0 - 1])
    assert torch.equal(clip[0], astronaut_frame)
    # A changed crop shows up inside the box.
    grey = paste_back(clip, torch.full_like(crops, 0.5), box, feather=0.1)
    assert float((grey[..., inner[0], inner[1]] - 0.5).abs().max()) < 1e-5


def test_paste_back_mask_and_checks():
    full = torch.zeros(1, 3, 32, 32)
    crops = torch.ones(1, 3, 16, 16)
    mask = torch.zeros(16, 16)
    mask[:, 8:] = 1.0  # paste only the right half of the crop
    out = paste_back(full, crops, FaceBox(0.0, 0.0, 32.0), feather=0.0, mask=mask)
    assert float(out[0, 0, 16, 4]) == 0.0 and float(out[0, 0, 16, 28]) == pytest.approx(1.0, abs=1e-5)
    weight = feather_weight(20, 0.25)
    assert weight[10, 10] == 1.0 and 0 < weight[0, 10] < 0.1
    with pytest.raises(ShapeError, match="match full_frames"):
        paste_back(full, torch.ones(2, 3, 16, 16), FaceBox(0.0, 0.0, 32.0))
    with pytest.raises(ShapeError, match="mask must have shape"):
        paste_back(full, crops, FaceBox(0.0, 0.0, 32.0), mask=torch.ones(8, 8))


def test_crop_face_clip_box_is_fixed(astronaut):
    import cv2

    from magplus.types import to_frames

    # The face moves 6 px right in frame 1: the box (from frame 0) must not follow it.
    shifted = cv2.warpAffine(astronaut, np.float32([[1, 0, 6], [0, 1, 0]]), (512, 512), borderMode=cv2.BORDER_REPLICATE)
    clip = to_frames(np.stack([astronaut, shifted]))
    crops, box = crop_face_clip(clip, size=128)
    assert crops.shape == (2, 3, 128, 128)
    assert torch.allclose(crop(clip[1], box, 128), crops[1])
    # In crop pixels the content moved by 6 * 128 / box.size: compare shifted columns.
    moved = 6 * 128 / box.size
    step = int(round(moved))
    assert abs(moved - step) < 0.5
    diff_aligned = (crops[1, :, 32:96, 32 + step : 96 + step] - crops[0, :, 32:96, 32:96]).abs().mean()
    diff_same = (crops[1, :, 32:96, 32:96] - crops[0, :, 32:96, 32:96]).abs().mean()
    assert diff_aligned < diff_same
    with pytest.raises(NoFaceError, match="frame 0") as info:
        crop_face_clip(torch.zeros(2, 3, 64, 64))
    assert info.value.frame_index == 0
