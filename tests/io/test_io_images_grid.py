"""Single images and side-by-side grids."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from magplus.errors import InputError, ShapeError, VideoReadError
from magplus.io import read_image, side_by_side, write_image
from magplus.io.grid import label_bar


def test_png_round_trip_is_exact_and_jpeg_is_close(tmp_path):
    image = torch.randint(0, 256, (3, 9, 13)).float() / 255
    write_image(tmp_path / "a.png", image)
    assert torch.equal(read_image(tmp_path / "a.png"), image)
    smooth = torch.linspace(0, 1, 16 * 16).reshape(1, 16, 16).expand(3, 16, 16).contiguous()
    write_image(tmp_path / "a.jpg", smooth, jpeg_quality=95)
    assert (read_image(tmp_path / "a.jpg") - smooth).abs().mean() < 3 / 255


def test_grayscale_and_16bit_images(tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "g.png"), np.arange(12, dtype=np.uint8).reshape(3, 4) * 20)
    gray = read_image(tmp_path / "g.png")
    assert gray.shape == (3, 3, 4) and torch.equal(gray[0], gray[1]) and gray[0, 0, 1] == pytest.approx(20 / 255)
    deep = np.full((2, 2, 3), 65535 // 3, np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), deep)
    assert read_image(tmp_path / "d.png")[0, 0, 0] == pytest.approx(1 / 3, abs=1e-4)


def test_image_errors(tmp_path):
    with pytest.raises(VideoReadError, match="missing.png"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "junk.jpg").write_bytes(b"nope")
    with pytest.raises(VideoReadError, match="cannot decode image"):
        read_image(tmp_path / "junk.jpg")
    with pytest.raises(InputError, match="extension '.txt'"):
        write_image(tmp_path / "a.txt", torch.zeros(3, 2, 2))
    with pytest.raises(ShapeError):
        write_image(tmp_path / "a.png", torch.zeros(2, 2, 3))


def test_side_by_side_shapes_lengths_and_resizing():
    first = torch.full((3, 3, 20, 30), 0.5)
    second = torch.full((5, 3, 10, 10), 1.0)  # half the height: resized to 20x20
    grid = side_by_side([first, second], labels=["input", "magnified"], pad=2, bar_height=12)
    assert grid.shape == (5, 3, 2 + 12 + 20 + 2, 2 + 30 + 2 + 30 + 2)
    # the first clip repeats its last frame for frames 3 and 4; the second is centred in its cell
    assert torch.equal(grid[4, :, 14:34, 2:32], first[-1])
    assert torch.allclose(grid[0, :, 14:34, 34 + 5 : 34 + 25], torch.ones(3, 20, 20))
    assert grid[0, :, 14:34, 34:39].max() == 0  # cell margin left of the narrower clip
    # label bars hold white text on grey
    assert grid[0, :, 2:14, 2:32].max() > 0.9 and grid[0, :, 2:14, 2:32].min() == pytest.approx(0.15, abs=1 / 255)


def test_side_by_side_rows_and_no_labels():
    clips = [torch.rand(2, 3, 8, 8) for _ in range(3)]
    grid = side_by_side(clips, rows=2, pad=1)
    assert grid.shape == (2, 3, 2 * 8 + 3, 2 * 8 + 3)
    assert torch.equal(grid[:, :, 10:18, 1:9], clips[2])  # third clip starts the second row


def test_side_by_side_errors_and_long_labels():
    clip = torch.rand(1, 3, 8, 8)
    with pytest.raises(InputError, match="labels must be None or 2 strings"):
        side_by_side([clip, clip], labels=["one"])
    with pytest.raises(InputError, match="rows must be an int in 1..2"):
        side_by_side([clip, clip], rows=3)
    with pytest.raises(InputError, match="non-empty list"):
        side_by_side([])
    bar = label_bar("a very long label that cannot fit", width=30, height=12)
    assert bar.shape == (3, 12, 30) and bar[:, :, -2:].max() <= 0.16  # nothing drawn past the end
