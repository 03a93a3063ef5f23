"""Index groups derived from MediaPipe's connection sets, checked against a real face."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from magplus.face import mesh


def _polygon_is_simple(points: np.ndarray) -> bool:
    # A simple (non-self-intersecting) outline of a convex-ish part has |signed area| close to its
    # hull's; a crossed outline cancels part of its own area.
    area = abs(cv2.contourArea(points.astype(np.float32)))
    hull = cv2.contourArea(cv2.convexHull(points.astype(np.float32)))
    return area > 0.5 * hull


def test_groups_sizes_and_sides(astronaut_landmarks):
    points = astronaut_landmarks
    groups = mesh.mesh_groups()
    assert len(groups["FACE_OVAL"]) == 36 and len(groups["EYE_L"]) == 16 and len(groups["LIPS_OUTER"]) == 20
    assert mesh.BROW_L == groups["BROW_L"]
    # Subject's left features are on the image's right in the (non-mirrored) astronaut photo.
    for left, right in (("BROW_L", "BROW_R"), ("EYE_L", "EYE_R"), ("IRIS_L", "IRIS_R"), ("LIP_CORNER_L", "LIP_CORNER_R")):
        assert points[list(groups[left]), 0].mean() > points[list(groups[right]), 0].mean()
    # Upper lid above lower lid, upper lip above lower lip (image y grows downwards).
    for side in "LR":
        assert points[list(groups[f"UPPER_LID_{side}"][1:-1]), 1].mean() < points[list(groups[f"LOWER_LID_{side}"][1:-1]), 1].mean()
    assert points[list(groups["UPPER_LIP_OUTER"]), 1].mean() < points[list(groups["LOWER_LIP_OUTER"]), 1].mean()
    assert points[list(groups["CHIN"]), 1].mean() > points[list(groups["LOWER_LIP_OUTER"]), 1].max()


@pytest.mark.parametrize("name", ["BROW_L", "BROW_R", "EYE_L", "EYE_R", "FACE_OVAL", "LIPS_OUTER", "LIPS_INNER"])
def test_ordered_groups_are_simple_outlines(astronaut_landmarks, name):
    assert _polygon_is_simple(astronaut_landmarks[list(mesh.mesh_groups()[name])])


def test_unknown_group_is_attribute_error():
    with pytest.raises(AttributeError, match="NOT_A_GROUP"):
        mesh.NOT_A_GROUP  # noqa: B018
