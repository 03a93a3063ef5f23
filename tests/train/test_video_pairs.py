"""Users' videos as self-supervised training pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from magplus.errors import InputError
from magplus.train.config import TrainConfig
from magplus.train.data import MAGNIFY_RANGE
from magplus.train.loop import build_dataset
from magplus.train.video_pairs import VideoPairs


def write_video(path, frames: int = 5, size: int = 48) -> None:
    import av

    rng = np.random.default_rng(0)
    base = (rng.random((size + 8, size + 8, 3)) * 255).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for t in range(frames):
            image = np.ascontiguousarray(base[:size, t:t + size])
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_video_pairs_items(tmp_path):
    write_video(tmp_path / "a.mp4")
    data = VideoPairs(tmp_path, MAGNIFY_RANGE, size=32, seed=1)
    assert len(data) == 4
    item = data[2]
    assert item["ref"].shape == (3, 32, 32) and float(item["supervised"]) == 0.0
    assert 1.0 <= float(item["alpha"]) <= 32.0
    assert not torch.equal(item["ref"], item["frame"])  # consecutive frames of a moving texture


def test_video_training_needs_self_supervised_terms(tmp_path):
    write_video(tmp_path / "a.mp4")
    with pytest.raises(InputError, match="--w-flow"):
        build_dataset(TrainConfig(size=32, videos=str(tmp_path)))
    mixed = build_dataset(TrainConfig(size=32, videos=str(tmp_path), loss={"flow": 1.0}))
    assert float(mixed[0]["supervised"]) == 1.0 and float(mixed[1]["supervised"]) == 0.0
    with pytest.raises(InputError, match="no video"):
        VideoPairs(_empty(tmp_path), MAGNIFY_RANGE, 32)


def _empty(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder
