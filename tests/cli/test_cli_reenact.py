"""`magplus reenact / magnify / demagnify / demo` as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from magplus.io import write_image, write_video
from magplus.synth import default_face, render_program, sample_program, second_face


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "magplus", *args], capture_output=True, text=True, timeout=timeout)


def small(image: torch.Tensor, size: int = 96) -> torch.Tensor:
    return F.interpolate(image[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    program = sample_program(2, fps=30, aus=[12], amplitude_px=2.0, side=None, blink=False)
    clip = render_program(program, small(second_face()))
    paths = {"source": root / "face.png", "driving": root / "drive.mkv", "one": root / "one.mkv", "blank": root / "blank.png"}
    write_image(paths["source"], small(default_face()))
    write_video(paths["driving"], clip.frames[:8], fps=30, lossless=True)
    write_video(paths["one"], clip.frames[:1], fps=30, lossless=True)
    write_image(paths["blank"], torch.full((3, 96, 96), 0.5))
    return paths


def test_reenact_happy_path_with_side_by_side(inputs, tmp_path):
    out = tmp_path / "out.mp4"
    report = tmp_path / "report.json"
    res = run_cli("reenact", "--source", str(inputs["source"]), "--driving", str(inputs["driving"]), "-o", str(out),
                  "--alpha", "4", "--side-by-side", "--resolution", "96", "--report", str(report))
    assert res.returncode == 0, res.stderr
    assert out.is_file() and (tmp_path / "out_side_by_side.mp4").is_file() and report.is_file()
    assert "alpha 4.00" in res.stdout
    from magplus.io import read_video

    assert read_video(out).frames.shape[0] == 8
    summary = json.loads(report.read_text())
    assert summary["alpha"] == 4.0 and summary["demagnify_path"] == "motion" and summary["stabilised"] is True
    assert 0 <= summary["head_shift_peak_px"] < 1.0  # a clip without head drift: DIS's median face flow stays small


def test_reenact_no_stabilise_reports_it(inputs, tmp_path):
    report = tmp_path / "report.json"
    res = run_cli("reenact", "--source", str(inputs["source"]), "--driving", str(inputs["driving"]), "-o",
                  str(tmp_path / "out.mp4"), "--alpha", "4", "--no-stabilise", "--resolution", "96", "--report", str(report))
    assert res.returncode == 0, res.stderr
    summary = json.loads(report.read_text())
    assert summary["stabilised"] is False and summary["head_shift_peak_px"] is None


def test_reenact_reports_both_amplitudes_and_can_drop_the_local_cap(inputs, tmp_path):
    """Automatic α: the report gives the face's amplitude and its local one; with the local cap
    off, α lifts the face's amplitude alone (to the 8-px target at 256 px, 3 px at this 96-px crop)."""
    report = tmp_path / "report.json"
    res = run_cli("reenact", "--source", str(inputs["source"]), "--driving", str(inputs["driving"]), "-o",
                  str(tmp_path / "out.mp4"), "--resolution", "96", "--max-local-ratio", "off", "--report", str(report))
    assert res.returncode == 0, res.stderr
    summary = json.loads(report.read_text())
    assert summary["driving_local_peak_px"] >= summary["driving_peak_px"] > 0
    assert summary["alpha"] == pytest.approx(min(3.0 / summary["driving_peak_px"], 40.0), rel=1e-6)
    assert "(local " in res.stdout


def expect_one_line_error(res: subprocess.CompletedProcess, pattern: str) -> None:
    assert res.returncode != 0
    lines = [line for line in res.stderr.strip().splitlines() if line.startswith("magplus")]
    assert len(lines) == 1 and pattern in lines[0], res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("case, extra, pattern", [
    ("no face in source", {"source": "blank"}, "no face"),
    ("driving of one frame", {"driving": "one"}, "at least 2"),
    ("alpha <= 0", {"alpha": "0"}, "alpha"),
    ("unknown backbone", {"backbone": "fomn"}, "Did you mean 'fomm'"),
    ("output in a missing folder", {"output": "missing/out.mp4"}, "does not exist"),
    ("output equal to an input", {"output": "@driving"}, "same file as an input"),
])
def test_reenact_bad_inputs(inputs, tmp_path, case, extra, pattern):
    source = inputs[extra.get("source", "source")]
    driving = inputs[extra.get("driving", "driving")]
    output = extra.get("output", "out.mp4")
    output = driving if output == "@driving" else tmp_path / output
    before = sorted(p.name for p in tmp_path.iterdir())
    driving_bytes = Path(driving).read_bytes()
    args = ["reenact", "--source", str(source), "--driving", str(driving), "-o", str(output), "--resolution", "96"]
    if "alpha" in extra:
        args += ["--alpha", extra["alpha"]]
    if "backbone" in extra:
        args += ["--backbone", extra["backbone"]]
    res = run_cli(*args)
    if case == "alpha <= 0":  # rejected by argparse: usage line + error line, exit 2
        assert res.returncode == 2 and "alpha must be a finite number > 0" in res.stderr
    else:
        expect_one_line_error(res, pattern)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing half-written
    assert Path(driving).read_bytes() == driving_bytes  # input untouched


def _moving_texture(shifts: list[float], size: int = 64) -> torch.Tensor:
    """A smooth random texture whose content moves right by ``shifts`` px, frames ``(T, 3, size, size)``."""
    from magplus.ops.pyramid import gaussian_blur
    from magplus.ops.warp import backward_warp

    gen = torch.Generator().manual_seed(0)
    texture = gaussian_blur(torch.rand(1, 3, size, size, generator=gen), 2.0)
    texture = (texture - texture.amin()) / (texture.amax() - texture.amin())
    flows = torch.zeros(len(shifts), 2, size, size)
    flows[:, 0] = torch.tensor(shifts).view(-1, 1, 1)
    return backward_warp(texture.expand(len(shifts), -1, -1, -1), -flows).clamp(0, 1)


def _horizontal_motion(path: Path) -> torch.Tensor:
    """Median horizontal DIS flow (frame 0 -> frame t) of a written clip, per frame, central region."""
    from magplus.flow.opencv import DISFlow
    from magplus.io import read_video

    frames = read_video(path).frames
    flow = DISFlow()(frames[:1].expand_as(frames), frames)
    return flow[:, 0, 12:-12, 12:-12].flatten(1).median(dim=1).values


def test_magnify_and_demagnify_commands(inputs, tmp_path):
    shifts = [0.0, 0.1, 0.2, 0.3, 0.2, 0.1]
    clip = tmp_path / "texture.mkv"
    write_video(clip, _moving_texture(shifts), fps=30, lossless=True)
    mag = tmp_path / "mag.mkv"
    res = run_cli("magnify", str(clip), "-o", str(mag), "--alpha", "5", "--lossless")
    assert res.returncode == 0, res.stderr
    assert "magnified all motion of 6 frames by x5 " in res.stdout, res.stdout
    demag = tmp_path / "demag.mkv"
    res = run_cli("demagnify", str(mag), "-o", str(demag), "--alpha", "5", "--lossless")
    assert res.returncode == 0, res.stderr
    assert "de-magnified all motion of 6 frames by x0.2 " in res.stdout, res.stdout
    # The files hold what stdout says: the least-squares gain of the measured motion over the true
    # shifts. Measured: input 1.07 (DIS's own bias), magnified 5.22 = 4.88 x input, de-magnified
    # 1.10 = 1.02 x input. alpha 4 or 6 would give 4 or 6 x input; a de-magnify by 1/4 gives 1.25.
    truth = torch.tensor(shifts)
    gain = {name: float((_horizontal_motion(path) * truth).sum() / (truth * truth).sum())
            for name, path in (("in", clip), ("mag", mag), ("demag", demag))}
    assert 0.9 < gain["in"] < 1.2, gain
    assert 4.5 < gain["mag"] / gain["in"] < 5.5, gain
    assert 0.85 < gain["demag"] / gain["in"] < 1.15, gain
    bad = run_cli("magnify", str(inputs["one"]), "-o", str(tmp_path / "x.mkv"), "--alpha", "5")
    expect_one_line_error(bad, "at least 2")


def test_list_commands():
    for what, name in (("backbones", "landmark-warp"), ("magnifiers", "lagrangian"), ("flows", "dis")):
        res = run_cli("list", what)
        assert res.returncode == 0 and name in res.stdout
