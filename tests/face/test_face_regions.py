"""AU region masks on the astronaut's landmarks: placement, symmetry, soft edges, AU lookup."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from magplus.errors import InputError, ShapeError
from magplus.face.regions import AU_REGIONS, REGION_NAMES, au_mask, region_mask, region_masks

SIZE = (256, 256)


@pytest.fixture(scope="module")
def crop_points(astronaut_landmarks):
    from magplus.face.crop import FaceBox, crop_landmarks

    box = FaceBox.from_landmarks(astronaut_landmarks, image_size=(512, 512))
    return crop_landmarks(astronaut_landmarks, box, 256)


@pytest.fixture(scope="module")
def masks(crop_points):
    return region_masks(crop_points, SIZE)


def _centroid(mask: torch.Tensor) -> np.ndarray:
    ys, xs = torch.meshgrid(torch.arange(mask.shape[0]), torch.arange(mask.shape[1]), indexing="ij")
    total = mask.sum()
    return np.array([float((mask * xs).sum() / total), float((mask * ys).sum() / total)])


def test_all_regions_present_and_soft(masks):
    assert set(masks) == set(REGION_NAMES)
    for name, mask in masks.items():
        assert mask.shape == SIZE and mask.dtype == torch.float32
        assert float(mask.min()) >= 0.0 and float(mask.max()) <= 1.0
        # Thin regions (the brow band) blur to a peak just under 1.
        assert float(mask.max()) > 0.99, name
        soft = ((mask > 0.02) & (mask < 0.98)).sum()
        assert soft > 20, f"{name} has no soft edge"
    assert torch.allclose(masks["background"], 1.0 - masks["face"])


def test_regions_lie_where_expected(masks, crop_points):
    y = {name: _centroid(masks[name])[1] for name in ("brows", "eyes", "nose", "upper_lip", "chin_lips")}
    # Top to bottom on an upright face (image y grows downwards).
    assert y["brows"] < y["eyes"] < y["nose"] < y["upper_lip"] < y["chin_lips"]
    # Each region sits inside the face.
    for name in ("brows", "eyes", "nose", "upper_lip", "lip_corners", "chin_lips"):
        inside = float((masks[name] * masks["face"]).sum() / masks[name].sum())
        assert inside > 0.8, name
    # The eye mask covers the iris centres; the nose mask covers the nose tip.
    for index in (468, 473):
        x, yy = crop_points[index].astype(int)
        assert float(masks["eyes"][yy, x]) > 0.99
    from magplus.face.mesh import NOSE

    x, yy = crop_points[list(NOSE)].mean(0).astype(int)
    assert float(masks["nose"][yy, x]) > 0.99
    # The tip projects ~3 px inside the nose outline's lower edge on a frontal face: inside, soft.
    assert float(masks["nose"][int(crop_points[1, 1]), int(crop_points[1, 0])]) > 0.5


def test_sided_regions_are_symmetric(masks):
    face_axis = _centroid(masks["face"])[0]
    for name in ("brows", "eyes", "lip_corners"):
        left, right = _centroid(masks[f"{name}_L"]), _centroid(masks[f"{name}_R"])
        # Subject's left is on the image's right; both sides mirror round the face axis and
        # have the same area (the astronaut is nearly frontal: 15 % slack).
        assert left[0] > face_axis > right[0], name
        assert abs((left[0] - face_axis) - (face_axis - right[0])) < 0.15 * (left[0] - right[0]), name
        assert abs(left[1] - right[1]) < 6.0, name  # pixels of a 256² crop
        area_l, area_r = float(masks[f"{name}_L"].sum()), float(masks[f"{name}_R"].sum())
        assert abs(area_l - area_r) < 0.15 * max(area_l, area_r), name
    # Eyes and lip corners: the whole region is the union of its sides (brows add the glabella).
    for name in ("eyes", "lip_corners"):
        assert torch.allclose(masks[name], torch.maximum(masks[f"{name}_L"], masks[f"{name}_R"]), atol=0.05)
    assert float((masks["brows"] - torch.maximum(masks["brows_L"], masks["brows_R"])).min()) > -1e-5


def test_soften_zero_is_hard(crop_points):
    hard = region_mask("nose", crop_points, SIZE, soften=0.0, grow=0.0)
    assert set(torch.unique(hard).tolist()) == {0.0, 1.0}


def test_au_mask(crop_points, masks):
    assert AU_REGIONS[4] == "brows" and AU_REGIONS[12] == "lip_corners"
    assert torch.allclose(au_mask(12, crop_points, SIZE), masks["lip_corners"])
    assert torch.allclose(au_mask(["L12"], crop_points, SIZE), masks["lip_corners_L"])
    assert torch.allclose(au_mask([12], crop_points, SIZE, side="R"), masks["lip_corners_R"])
    both = au_mask(["AU4", 17], crop_points, SIZE)
    assert torch.allclose(both, torch.maximum(masks["brows"], masks["chin_lips"]))
    # Unsided regions ignore the side.
    assert torch.allclose(au_mask(9, crop_points, SIZE, side="L"), masks["nose"])
    with pytest.raises(InputError, match="AU 99 has no region"):
        au_mask(99, crop_points, SIZE)
    with pytest.raises(InputError, match="not understood"):
        au_mask("twelve", crop_points, SIZE)
    with pytest.raises(InputError, match="side must be"):
        au_mask(12, crop_points, SIZE, side="left")


def test_input_checks(crop_points):
    with pytest.raises(ShapeError, match=r"\(478, 2\)"):
        region_masks(crop_points[:68], SIZE)
    with pytest.raises(InputError, match="unknown region"):
        region_masks(crop_points, SIZE, names=["mouth"])
    with pytest.raises(InputError, match="soften must lie"):
        region_masks(crop_points, SIZE, soften=2.0)
    with pytest.raises(InputError, match=r"size must be"):
        region_masks(crop_points, (256,))


def test_regions_follow_head_roll(crop_points):
    # Roll the face by 90° about the crop centre: "up" must follow the face, not the image.
    centre = np.array([128.0, 128.0])
    rotated = (crop_points - centre) @ np.array([[0.0, 1.0], [-1.0, 0.0]]) + centre
    masks = region_masks(rotated, SIZE, names=["brows", "eyes", "upper_lip", "chin_lips"])
    down = rotated[152] - rotated[10]
    down /= np.linalg.norm(down)
    along = {name: float(_centroid(mask) @ down) for name, mask in masks.items()}
    assert along["brows"] < along["eyes"] < along["upper_lip"] < along["chin_lips"]
    upright = region_masks(crop_points, SIZE, names=["upper_lip"])["upper_lip"]
    assert float(masks["upper_lip"].sum()) == pytest.approx(float(upright.sum()), rel=0.1)
