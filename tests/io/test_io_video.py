"""Video / frame-folder reading and writing: round trips, ordering, ranges, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from magplus.errors import InputError, VideoReadError
from magplus.io import VideoReader, VideoWriter, list_frame_files, natural_key, read_video, write_video
from magplus.io.images import write_image


def quantised_clip(frames: int = 6, height: int = 32, width: int = 48) -> torch.Tensor:
    """Random uint8-exact frames: an exact codec must give them back bit for bit."""
    return torch.randint(0, 256, (frames, 3, height, width)).float() / 255.0


def smooth_clip(frames: int = 6, height: int = 48, width: int = 64) -> torch.Tensor:
    """Smooth moving colour blobs (natural-image-like spectrum), quantised to uint8."""
    ys, xs = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing="ij")
    out = []
    for t in range(frames):
        red = 0.5 + 0.4 * torch.sin((xs + 2 * t) / 9.0)
        green = 0.5 + 0.4 * torch.cos((ys - t) / 7.0)
        blue = torch.exp(-((xs - 20 - t) ** 2 + (ys - 24) ** 2) / 200.0)
        out.append(torch.stack([red, green, blue]))
    return (torch.stack(out) * 255).round() / 255


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean()))


@pytest.mark.parametrize("name", ["exact.mkv", "exact.avi", "exact.mp4", "frames", "frames_slash/"])
def test_lossless_round_trip_is_exact(tmp_path, name):
    clip = quantised_clip(height=31, width=45)  # odd sizes: lossless paths keep them
    path = tmp_path / name
    write_video(path, clip, fps=25, lossless=True)
    back = read_video(path)
    assert back.frames.shape == clip.shape
    assert torch.equal(back.frames, clip)
    assert back.fps == pytest.approx(25)
    assert back.meta["path"].endswith(name.rstrip("/"))


@pytest.mark.parametrize("name", ["lossy.mp4", "lossy.mkv", "lossy.mov"])
def test_h264_round_trip_within_tolerance(tmp_path, name):
    # Measured on this saturated-colour 48x64 clip: 33.7 dB at crf 18 and 40.4 dB at crf 0 (yuv420p
    # halves the chroma resolution; x264 spends few bits on tiny frames). So the bar is 30 dB PSNR
    # and a mean error under 5 grey levels (measured 3.7); exact work should use FFV1 or PNG.
    clip = smooth_clip()
    path = tmp_path / name
    write_video(path, clip, fps=200)
    back = read_video(path)
    assert back.frames.shape == clip.shape and back.fps == pytest.approx(200)
    assert psnr(back.frames, clip) > 30
    assert (back.frames - clip).abs().mean() < 5 / 255


def test_mp4_odd_size_is_padded_by_edge_replication(tmp_path):
    clip = smooth_clip(frames=3, height=33, width=47)
    write_video(tmp_path / "odd.mp4", clip, fps=30)
    with VideoReader(tmp_path / "odd.mp4") as reader:
        assert reader.size == (34, 48)
        frames = reader.read()
    assert psnr(frames[..., :33, :47], clip) > 30
    # the padded row and column repeat the last real ones (up to compression error, ~4 levels)
    assert (frames[..., 33, :47] - clip[..., 32, :]).abs().mean() < 6 / 255
    assert (frames[..., :33, 47] - clip[..., :, 46]).abs().mean() < 6 / 255


def test_gif_round_trip_palette_tolerance(tmp_path):
    # This clip's three channels vary independently, so its colours fill a 3-D volume that 256 colours
    # tile in cells ~30 levels wide: measured mean error 6.5 levels, max 27 (a natural face photo
    # gives ~3 levels mean). Bars: mean < 8 levels, max < 40 levels.
    clip = smooth_clip(frames=4)
    write_video(tmp_path / "a.gif", clip, fps=25)
    back = read_video(tmp_path / "a.gif")
    assert back.frames.shape == clip.shape
    assert back.fps == pytest.approx(25)  # 25 fps = 4/100 s delays: representable exactly
    assert (back.frames - clip).abs().mean() < 8 / 255
    assert (back.frames - clip).abs().max() < 40 / 255


def test_fps_is_kept_for_fractional_rates(tmp_path):
    clip = smooth_clip(frames=3)
    write_video(tmp_path / "ntsc.mp4", clip, fps=30000 / 1001)
    assert VideoReader(tmp_path / "ntsc.mp4").fps == pytest.approx(29.97, abs=1e-3)
    write_video(tmp_path / "folder", clip, fps=12.5)
    assert VideoReader(tmp_path / "folder").fps == 12.5
    assert VideoReader(tmp_path / "folder", fps=90).fps == 90


def test_natural_order_of_frame_folders(tmp_path):
    names = ["reg_img10.jpg", "reg_img9.jpg", "reg_img46.jpg", "reg_img100.jpg"]
    assert sorted(names, key=natural_key) == ["reg_img9.jpg", "reg_img10.jpg", "reg_img46.jpg", "reg_img100.jpg"]
    assert sorted(["006_05562.jpg", "006_5561.jpg"], key=natural_key)[0] == "006_5561.jpg"
    for index, name in enumerate(["img9.png", "img10.png", "img2.png", "notes.txt"]):
        value = {"img2.png": 0.1, "img9.png": 0.5, "img10.png": 0.9}.get(name)
        if value is None:
            (tmp_path / name).write_text("not a frame")
            continue
        write_image(tmp_path / name, torch.full((3, 4, 5), value))
    assert [p.name for p in list_frame_files(tmp_path)] == ["img2.png", "img9.png", "img10.png"]
    frames = read_video(tmp_path).frames
    assert frames[:, 0, 0, 0].tolist() == pytest.approx([0.1, 0.5, 0.9], abs=1 / 255)


def test_lazy_range_reading_equals_full_reading(tmp_path):
    clip = quantised_clip(frames=9)
    write_video(tmp_path / "c.mkv", clip, fps=30, lossless=True)
    write_video(tmp_path / "c", clip, fps=30)
    for source in (tmp_path / "c.mkv", tmp_path / "c"):
        with VideoReader(source) as reader:
            assert len(reader) == 9 and reader.size == (32, 48)
            full = reader.read()
            # sequential reads continue the open decoder; a backward range re-opens it
            assert torch.equal(reader.read(2, 5), full[2:5])
            assert torch.equal(reader.read(5, 9), full[5:9])
            assert torch.equal(reader.read(0, 1), full[0:1])
            assert torch.equal(torch.stack(list(reader.iter_frames(3, 7))), full[3:7])
            assert torch.equal(torch.stack(list(reader)), full)
        assert torch.equal(read_video(source, start=4, stop=6).frames, full[4:6])


def test_grayscale_sources_become_three_channels(tmp_path):
    import cv2

    folder = tmp_path / "gray"
    folder.mkdir()
    for index in range(3):
        cv2.imwrite(str(folder / f"{index}.bmp"), np.full((7, 9), 40 * index, np.uint8))
    frames = read_video(folder).frames
    assert frames.shape == (3, 3, 7, 9)
    assert torch.equal(frames[:, 0], frames[:, 2]) and frames[2, 1, 0, 0] == pytest.approx(80 / 255)


def test_streaming_writer_accepts_chunks_and_iterators(tmp_path):
    clip = quantised_clip(frames=5)
    with VideoWriter(tmp_path / "s.mkv", fps=10, lossless=True) as writer:
        writer.write(clip[:2])
        writer.write(clip[2])
        writer.write(clip[3:])
    assert torch.equal(read_video(tmp_path / "s.mkv").frames, clip)
    write_video(tmp_path / "it.avi", (frame for frame in clip), fps=10, lossless=True)
    assert torch.equal(read_video(tmp_path / "it.avi").frames, clip)


def test_read_errors_name_the_path(tmp_path):
    with pytest.raises(VideoReadError, match="does not exist"):
        VideoReader(tmp_path / "missing.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoReadError, match="holds no png/jpg/jpeg/bmp image"):
        VideoReader(tmp_path / "empty")
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video" * 10)
    with pytest.raises(VideoReadError, match="broken.mp4"):
        read_video(bad)
    (tmp_path / "zero.avi").write_bytes(b"")
    with pytest.raises(VideoReadError, match="zero.avi"):
        read_video(tmp_path / "zero.avi")


def test_bad_arguments_and_atomic_failure(tmp_path):
    clip = quantised_clip(frames=2)
    write_video(tmp_path / "ok.mkv", clip, fps=5, lossless=True)
    with pytest.raises(InputError, match="outside"):
        VideoReader(tmp_path / "ok.mkv").read(1, 5)
    with pytest.raises(InputError, match="extension '.xyz'"):
        write_video(tmp_path / "out.xyz", clip, fps=5)
    with pytest.raises(InputError, match="fps must be"):
        write_video(tmp_path / "out.mp4", clip, fps=0)
    with pytest.raises(InputError, match="fps is required"):
        write_video(tmp_path / "out.mp4", clip)
    with pytest.raises(InputError, match="no frame was written"):
        write_video(tmp_path / "none.mp4", iter([]), fps=5)
    with pytest.raises(InputError, match="differs from the first"):
        write_video(tmp_path / "mixed.mkv", iter([clip, quantised_clip(1, 8, 8)]), fps=5)
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["ok.mkv"]  # failed writes leave no partial file
