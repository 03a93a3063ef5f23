"""α bound, output-path checks, GIF rate, clip context, run records and smoothing in seconds."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from magplus.context import clip_context, clip_fps, clip_label, current_clip
from magplus.errors import InputError, OutputPathError
from magplus.io.atomic import check_output_dir
from magplus.io.records import RunRecords
from magplus.io.video_writer import write_video
from magplus.magnify.alpha import DEFAULT_ALPHA_MAX, choose_alpha
from magplus.types import ALPHA_LIMIT, check_alpha


def test_alpha_is_bounded_with_the_reason():
    assert DEFAULT_ALPHA_MAX <= ALPHA_LIMIT == 100
    for good in (1.0, 0.01, 100.0, torch.tensor([0.5, 40.0])):
        check_alpha(good)
    for bad in (1e9, 100.5, 0.009, torch.tensor([1.0, 1e3])):
        with pytest.raises(InputError, match=r"alpha must lie in \[0.01, 100\].*leaves its crop"):
            check_alpha(bad)
    check_alpha(1e3, limit=None)  # callers that know better can lift the bound
    with pytest.raises(InputError, match="alpha_max must be <= 100"):
        choose_alpha(0.1, alpha_max=1e4)


def test_output_folders_may_not_be_or_hold_an_input(tmp_path):
    data = tmp_path / "dataset" / "sub01"
    data.mkdir(parents=True)
    with pytest.raises(OutputPathError, match="is or holds the input"):
        check_output_dir(tmp_path / "dataset", [data])
    with pytest.raises(OutputPathError, match="does not exist"):
        check_output_dir(tmp_path / "a" / "b")
    assert check_output_dir(tmp_path / "a" / "b", parents=True) == (tmp_path / "a" / "b").absolute()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError, match="is an existing file"):
        check_output_dir(tmp_path / "file")


def test_gif_refuses_rates_it_cannot_play(tmp_path):
    frames = torch.rand(2, 3, 8, 8)
    with pytest.raises(InputError, match="at 200 fps.*at most 50 fps"):
        write_video(tmp_path / "a.gif", frames, fps=200)
    assert not list(tmp_path.iterdir())
    write_video(tmp_path / "b.gif", frames, fps=25)  # representable: 4/100 s per frame


def test_clip_context_nests_and_explicit_arguments_win():
    assert current_clip().what is None and clip_fps() == (30.0, False)
    with clip_context("driving clip 'a'", fps=200):
        with clip_context(fps=100):
            assert clip_label() == "driving clip 'a'" and clip_fps() == (100.0, True)
        assert clip_label("the source") == "the source" and clip_fps(25) == (25.0, True)
    with pytest.raises(InputError, match="fps must be a finite number > 0"):
        with clip_context(fps=0):
            pass


def test_run_records_resume_and_refuse_other_settings(tmp_path):
    records = RunRecords(tmp_path / "run", {"alpha": 8, "backbone": "fomm"})
    records.save("sub01/EP02_01f", "done", metric=float("nan"), curve=np.arange(3.0))
    records.save("sub02/x", "failed", "NoFaceError: no face")
    again = RunRecords(tmp_path / "run", {"alpha": 8, "backbone": "fomm"})
    done = again.done("sub01/EP02_01f")
    assert done["metric"] is None and done["curve"] == [0.0, 1.0, 2.0]  # JSON-safe: NaN -> null
    assert again.done("sub02/x") is None and again.get("sub02/x")["error"] == "NoFaceError: no face"
    assert json.loads((tmp_path / "run" / "clips" / "run.json").read_text())["settings"]["alpha"] == 8
    with pytest.raises(InputError, match=r"other settings \(alpha differ\)"):
        RunRecords(tmp_path / "run", {"alpha": 4, "backbone": "fomm"})


def test_landmark_warp_smoothing_is_in_seconds(monkeypatch):
    from magplus.backbones.landmark_warp import LandmarkWarpBackbone

    impulse = np.zeros((41, 478, 2), np.float32)
    impulse[20] = 1.0  # one frame of motion: what smoothing does to it shows σ in frames
    from magplus.backbones.landmark_warp import LandmarkTrackBuilder

    def fake_add(builder, frames):  # the detector's output for these frames: the impulse, all found
        builder._points.append(impulse.copy())
        builder._found.append(np.ones(len(impulse), bool))

    monkeypatch.setattr(LandmarkTrackBuilder, "add", fake_add)
    backbone = LandmarkWarpBackbone(smoothing_seconds=0.015)
    frames = torch.zeros(41, 3, 8, 8)

    def peak(motion) -> float:
        points = getattr(motion, "points", motion)
        return float(np.asarray(points)[20, 0, 0])

    at_30, at_200 = peak(backbone.extract_motion(frames, fps=30)), peak(backbone.extract_motion(frames, fps=200))
    # σ = 0.45 frames at 30 fps, 3 frames at 200 fps: a Gaussian's centre weight is ~1/(σ√(2π)) for σ >~ 1.
    assert at_30 > 0.7 and abs(at_200 - 1 / (3 * np.sqrt(2 * np.pi))) < 0.01
    with clip_context(fps=200):
        assert peak(backbone.extract_motion(frames)) == pytest.approx(at_200)
    with pytest.raises(InputError, match="smoothing_seconds must lie in"):
        LandmarkWarpBackbone(smoothing_seconds=0.5)
