"""MetaPortrait inputs: official file formats, line images, mouth mask, MediaPipe -> 669 approximation.

Line images and the approximation use SYNTHETIC mesh edges (test_metaportrait_mesh.py): magplus
does not ship the official connectivity.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from test_metaportrait_mesh import random_edges, structured_edges

from magplus.backbones.metaportrait.approx import contour_plan, mediapipe_to_dense
from magplus.backbones.metaportrait.files import find_official_landmarks, load_dense_file, load_identity
from magplus.backbones.metaportrait.lines import (SPARSE_INDEX, draw_line_image, edge_palette, mouth_mask,
                                                  select_sparse)
from magplus.errors import InputError, ShapeError


def _face_like(seed: int = 0) -> np.ndarray:
    """669 points spread inside [0.2, 0.8]^2 (a stand-in for official landmarks)."""
    return np.random.default_rng(seed).uniform(0.2, 0.8, size=(669, 2)).astype(np.float32)


def test_line_image_draws_each_edge_in_its_colour():
    edges = random_edges(4)
    points = np.full((669, 2), np.nan, dtype=np.float32)
    first, second = edges[5]
    points[first], points[second] = (0.25, 0.5), (0.75, 0.5)  # only edge 5 has both ends placed
    image = draw_line_image(points, edges)
    assert image.shape == (3, 256, 256) and image.dtype == torch.float32
    # A horizontal line at y = int(0.5 * 256); anti-aliasing spreads it over neighbouring rows.
    column = image[:, 120:136, 130]
    assert int(column.sum(0).argmax()) == 128 - 120
    expected = torch.tensor(edge_palette(616)[5], dtype=torch.float32) / 255
    drawn = column.sum(1)  # anti-aliasing changes the brightness, not the hue
    assert torch.allclose(drawn / drawn.max(), expected / expected.max(), atol=0.02)
    assert image[:, :100].abs().sum() == 0  # nothing drawn far from the line
    # The same edge listed first takes colour 0 instead: the file's order decides the colours.
    recoloured = draw_line_image(points, np.concatenate([edges[5:6], edges[:5], edges[6:]]))
    expected = torch.tensor(edge_palette(616)[0], dtype=torch.float32) / 255
    drawn = recoloured[:, 120:136, 130].sum(1)
    assert torch.allclose(drawn / drawn.max(), expected / expected.max(), atol=0.02)
    with pytest.raises(ShapeError, match=r"\(E, 2\)"):
        draw_line_image(points, edges.astype(np.float32))
    with pytest.raises(InputError, match="669 vertices"):
        draw_line_image(points, edges + 100)


def test_sparse_selection_and_mouth_mask():
    dense = _face_like()
    sparse = select_sparse(dense)
    assert sparse.shape == (58, 2)
    np.testing.assert_allclose(sparse[13], dense[SPARSE_INDEX[13]] * 2 - 1)
    sparse = np.zeros((58, 2), dtype=np.float32)
    sparse[14, 0], sparse[15, 0], sparse[56, 1], sparse[57, 1] = -0.5, 0.5, 0.0, 0.25
    mask = mouth_mask(sparse)
    ys, xs = torch.nonzero(mask[0], as_tuple=True)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (64 - 5, 192 + 5, 128 - 5, 160 + 5)


def test_dense_file_formats_and_errors(tmp_path):
    dense = _face_like()
    np.save(tmp_path / "a_ldmk.npy", dense)
    np.savetxt(tmp_path / "b.txt", dense)
    np.testing.assert_array_equal(load_dense_file(tmp_path / "a_ldmk.npy"), dense)
    np.testing.assert_allclose(load_dense_file(tmp_path / "b.txt"), dense, atol=1e-6)
    np.save(tmp_path / "short.npy", dense[:68])
    with pytest.raises(ShapeError, match=r"\(68, 2\), expected \(669, 2\)"):
        load_dense_file(tmp_path / "short.npy")
    np.save(tmp_path / "pixels.npy", dense * 256)
    with pytest.raises(ShapeError, match="normalised"):
        load_dense_file(tmp_path / "pixels.npy")
    with pytest.raises(InputError, match="does not exist"):
        load_dense_file(tmp_path / "missing.npy")


def test_identity_file_shapes(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(256, dtype=np.float32)[None])
    np.save(tmp_path / "b.npy", np.ones(256, dtype=np.float32))
    np.save(tmp_path / "c.npy", np.ones((2, 256), dtype=np.float32))
    assert load_identity(tmp_path / "a.npy").shape == (1, 256)
    assert load_identity(tmp_path / "a.npy")[0, 5] == 5
    assert load_identity(tmp_path / "b.npy").shape == (1, 256)
    with pytest.raises(ShapeError, match=r"expected \(256,\) or \(1, 256\)"):
        load_identity(tmp_path / "c.npy")
    with pytest.raises(InputError, match="--identity"):
        load_identity(tmp_path / "none.npy")


def _official_root(root, subjects=("0",), frames=3):
    for k in subjects:
        np.save(root / f"src_{k}_ldmk.npy", _face_like(99))
        np.save(root / f"src_{k}_id.npy", np.ones((1, 256), dtype=np.float32))
        (root / k / "ldmks").mkdir(parents=True)
        for t in range(frames):
            np.save(root / k / "ldmks" / f"{t:08d}_ldmk.npy", _face_like(t))
            np.save(root / k / "ldmks" / f"{t:08d}_theta.npy", np.zeros(6))


def test_official_layout_is_found(tmp_path):
    _official_root(tmp_path)
    found = find_official_landmarks(tmp_path)
    assert found.driving.shape == (3, 669, 2)
    np.testing.assert_array_equal(found.driving[2], _face_like(2))
    np.testing.assert_array_equal(found.source, _face_like(99))
    assert found.identity_file == tmp_path / "src_0_id.npy"
    subject = find_official_landmarks(tmp_path / "0" / "ldmks")  # a subject's frame folder works too
    assert subject.driving.shape == (3, 669, 2) and subject.source is not None


def test_official_layout_errors(tmp_path):
    _official_root(tmp_path, subjects=("0", "1"))
    with pytest.raises(InputError, match="several subjects"):
        find_official_landmarks(tmp_path)
    assert find_official_landmarks(tmp_path / "1").driving.shape == (3, 669, 2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no per-frame landmark files"):
        find_official_landmarks(tmp_path / "empty")
    with pytest.raises(InputError, match="does not exist"):
        find_official_landmarks(tmp_path / "nowhere")


@pytest.fixture(scope="module")
def astronaut_points():
    from skimage import data as skimage_data  # a dependency: missing is an error, not a skip
    from magplus.face.landmarks import detect_landmarks

    image = skimage_data.astronaut()
    return image, detect_landmarks(image)


def test_mediapipe_mapping_lies_inside_the_face(astronaut_points):
    image, points = astronaut_points
    height, width = image.shape[:2]
    edges, contour_edges = structured_edges()
    dense = mediapipe_to_dense(points, width, height, contour_plan(edges))
    assert dense.shape == (669, 2)
    placed = np.isfinite(dense).all(axis=1)
    assert placed.sum() == contour_edges + 1  # contour vertices (one per edge of the loops) + vertex 61
    assert sum(placed[a] and placed[b] for a, b in edges) == contour_edges  # only contours are drawn
    # Every placed vertex lies in the face's landmark box (normalised), and the gaze and mouth rows exist.
    low, high = points.min(0) / (width, height), points.max(0) / (width, height)
    assert ((dense[placed] >= low - 0.01) & (dense[placed] <= high + 0.01)).all()
    sparse_rows = [SPARSE_INDEX[r] for r in (*range(29, 37), 14, 15, 56, 57)]
    assert placed[sparse_rows].all()
    sparse = select_sparse(dense)
    assert sparse[14, 0] < sparse[15, 0] and sparse[56, 1] < sparse[57, 1]  # mouth box not empty
    image_left_eye = dense[[505, 338]].mean(0)
    image_right_eye = dense[[35, 191]].mean(0)
    assert image_left_eye[0] < image_right_eye[0]
    line = draw_line_image(dense, edges)
    assert line.shape == (3, 256, 256) and line.sum() > 0
    with pytest.raises(ShapeError, match="478"):
        mediapipe_to_dense(points[:68], width, height, contour_plan(edges))
    with pytest.raises(InputError, match="contour_plan"):
        mediapipe_to_dense(points, width, height, edges)  # edges must be turned into a plan first
