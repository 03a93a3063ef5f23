"""``magplus synth``: happy path in a subprocess, input errors in-process and in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from magplus.cli import main

# One intra-op thread: on a shared 2-core machine more threads only spin (see conftest.py).
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def test_cli_writes_clip_metadata_and_flow(tmp_path):
    out = tmp_path / "clip.mp4"
    cmd = [sys.executable, "-m", "magplus", "synth", "--aus", "4,12", "--amplitude", "1.5", "--fps", "30",
           "--seed", "3", "--blink", "no", "--save-flow", "-o", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=ENV)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 1000
    meta = json.loads((tmp_path / "clip.json").read_text())
    assert [e["au"] for e in meta["program"]["events"]] == [4, 12]
    assert meta["fps"] == 30 and meta["seed"] == 3 and meta["alpha"] == 1
    assert 1.2 < meta["peak_px"] <= 1.5 + 1e-6  # at 30 fps the apex may fall between frames
    assert meta["timings"][0]["apex_frame"] > meta["timings"][0]["onset_frame"]
    assert {t["role"] for t in meta["timings"]} == {"expression"}
    flow = np.load(tmp_path / "clip_flow.npy")
    assert flow.dtype == np.float16 and flow.shape == (meta["n_frames"], 2, 256, 256)
    assert not flow[0].any()

    from magplus.io import read_video

    clip = read_video(out)
    assert len(clip) == meta["n_frames"] and clip.frames.shape[-2:] == (256, 256)


def test_cli_bad_au_exits_nonzero_with_one_line(tmp_path):
    cmd = [sys.executable, "-m", "magplus", "synth", "--aus", "4,99", "-o", str(tmp_path / "c.mp4")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=ENV)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "unsupported action unit '99'; supported: 1, 2, 4" in lines[0]
    assert not (tmp_path / "c.mp4").exists()


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--amplitude", "0"], "--amplitude must be > 0"),
        (["--fps", "-5"], "--fps must be a number > 0"),
        (["--alpha", "0"], "--alpha"),
        (["--aus", ","], "--aus must list action units"),
        (["--face", "missing.png"], "does not exist"),
    ],
)
def test_cli_input_errors(tmp_path, capsys, extra, message):
    status = main(["synth", "-o", str(tmp_path / "c.mp4"), *extra])
    err = capsys.readouterr().err.strip()
    assert status == 2 and message in err and len(err.splitlines()) == 1


def test_cli_unreadable_and_faceless_images(tmp_path, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    assert main(["synth", "--face", str(broken), "-o", str(tmp_path / "c.mp4")]) == 2
    assert "cannot decode image" in capsys.readouterr().err
    import cv2

    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((64, 64, 3), 128, np.uint8))
    assert main(["synth", "--face", str(blank), "-o", str(tmp_path / "c.mp4")]) == 2
    assert "no face found" in capsys.readouterr().err
    # An input as the output: refused before anything is written (the output check now names the
    # image extension first, which a video output cannot have), and the input is left untouched.
    before = blank.read_bytes()
    assert main(["synth", "--face", str(blank), "-o", str(blank)]) == 2
    assert "extension '.png' is not one of" in capsys.readouterr().err
    assert blank.read_bytes() == before
