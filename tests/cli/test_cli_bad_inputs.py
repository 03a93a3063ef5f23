"""The bad-input suite for clips as users bring them (issue 14), run in-process for speed.

Refusals must come before any work: the pipeline and the magnifiers are replaced by a tripwire,
so a check that only fires after the compute fails the test instead of passing late.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from magplus.cli import main
from magplus.io import read_video, write_image, write_video
from magplus.synth import default_face, render_program, sample_program, second_face


def small(image: torch.Tensor, size: int = 96) -> torch.Tensor:
    return F.interpolate(image[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """A face, a 12-frame 96² driving clip (clean, with a 4-frame gap, a 6-frame gap, a black onset),
    a frame folder without fps.txt, and a fake CASME II tree (200 fps) holding the clip."""
    root = tmp_path_factory.mktemp("bad")
    program = sample_program(2, fps=30, aus=[12], amplitude_px=2.0, side=None, blink=False)
    frames = render_program(program, small(second_face())).frames[:12]
    paths = {"source": root / "face.png", "blank": root / "blank.png", "driving": root / "drive.mkv",
             "gap": root / "gap.mkv", "long": root / "long.mkv", "black_onset": root / "onset.mkv",
             "folder": root / "frames", "casme2": root / "CASME2", "annotation": root / "casme2.csv"}
    write_image(paths["source"], small(default_face()))
    write_image(paths["blank"], torch.full((3, 96, 96), 0.5))
    write_video(paths["driving"], frames, fps=30, lossless=True)
    for name, black in (("gap", slice(4, 8)), ("long", slice(3, 9)), ("black_onset", slice(0, 1))):
        holed = frames.clone()
        holed[black] = 0
        write_video(paths[name], holed, fps=30, lossless=True)
    paths["folder"].mkdir()
    for index, frame in enumerate(frames[:6]):
        write_image(paths["folder"] / f"img{index + 1}.png", frame)
    clip_dir = paths["casme2"] / "sub01" / "EP02_01f"
    clip_dir.mkdir(parents=True)
    for index, frame in enumerate(frames[:8]):
        write_image(clip_dir / f"img{index + 1}.png", frame)
    paths["annotation"].write_text("Subject,Filename,OnsetFrame,ApexFrame,OffsetFrame,Action Units,Estimated Emotion\n"
                                   "1,EP02_01f,1,4,8,12,happiness\n")
    return paths


@pytest.fixture
def tripwire(monkeypatch):
    """Fail loudly if the compute starts (the pipeline, or a standalone magnifier)."""
    from magplus import pipeline
    from magplus.magnify.base import Magnifier

    def boom(*args, **kwargs):
        raise AssertionError("the work started before the bad input was refused")

    monkeypatch.setattr(pipeline.MagPipeline, "__call__", boom)
    monkeypatch.setattr(Magnifier, "__call__", boom)


def refused(capsys, argv: list[str], pattern: str) -> str:
    """Run ``magplus argv``; expect exit 2 and one ``magplus ...: error:`` line containing ``pattern``."""
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse type errors: usage + error line
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2, err
    assert pattern in err and "Traceback" not in err, err
    return err


def reenact(inputs, output, *extra: str, driving: str = "driving") -> list[str]:
    return ["reenact", "--source", str(inputs["source"]), "--driving", str(inputs[driving]), "-o", str(output),
            "--resolution", "96", *extra]


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in (root ignores permissions: use /proc there)."""
    if os.geteuid() == 0:
        return Path("/proc")
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o500)
    return folder


@pytest.mark.parametrize("case, output, extra, pattern", [
    ("unknown extension", "out.xyz", [], "extension '.xyz'"),
    ("missing folder", "missing/out.mp4", [], "does not exist"),
    ("report not json", "out.mp4", ["--report", "r.txt"], "ending in .json"),
    ("alpha beyond the limit", "out.mp4", ["--alpha", "1e9"], "alpha must be <= 100"),
    ("local ratio below 1", "out.mp4", ["--max-local-ratio", "0.5"], "'off' or a finite number >= 1"),
    ("gif cannot hold 200 fps", "out.gif", ["--fps", "200"], "a GIF holds at most 50 fps"),
])
def test_reenact_refuses_before_any_work(inputs, tmp_path, capsys, tripwire, case, output, extra, pattern):
    refused(capsys, reenact(inputs, tmp_path / output, *extra), pattern)
    assert list(tmp_path.iterdir()) == []


def test_reenact_refuses_unwritable_folder_and_inputs_as_outputs(inputs, tmp_path, capsys, tripwire):
    refused(capsys, reenact(inputs, unwritable_folder(tmp_path) / "out.mp4"), "is not writable")
    before = inputs["driving"].read_bytes()
    refused(capsys, reenact(inputs, inputs["driving"]), "same file as an input")
    assert inputs["driving"].read_bytes() == before
    refused(capsys, ["reenact", "--source", str(inputs["source"]), "-o", str(tmp_path / "o.mp4")],
            "give the driving clip as --driving PATH or as --dataset")


def test_reenact_names_the_input_without_a_face(inputs, tmp_path, capsys, tripwire):
    argv = reenact(inputs, tmp_path / "o.mp4")
    argv[argv.index("--source") + 1] = str(inputs["blank"])
    refused(capsys, argv, "no face found in the source image")
    refused(capsys, reenact(inputs, tmp_path / "o.mp4", driving="black_onset"),
            "no face found in frame 0 (onset) of driving clip 'onset.mkv'")


def test_reenact_bridges_a_short_gap_with_a_warning(inputs, tmp_path, capsys):
    out = tmp_path / "o.mp4"
    assert main(reenact(inputs, out, "--alpha", "4", driving="gap")) == 0
    err = capsys.readouterr().err
    assert "magplus reenact: warning: no face found in frames 4-7 of driving clip 'gap.mkv'" in err, err
    assert read_video(out).frames.shape[0] == 12


def test_reenact_refuses_a_long_gap_naming_clip_and_frames(inputs, tmp_path, capsys):
    refused(capsys, reenact(inputs, tmp_path / "o.mp4", "--alpha", "4", driving="long"),
            "no face found in frames 3-8 of driving clip 'long.mkv' (6 of 12 frames)")
    assert not (tmp_path / "o.mp4").exists()


def test_reenact_dataset_sample_keeps_200_fps(inputs, tmp_path, capsys):
    dataset = ["--dataset", "casme2", "--root", str(inputs["casme2"]), "--annotation", str(inputs["annotation"])]
    base = ["reenact", "--source", str(inputs["source"]), "--resolution", "96", "--alpha", "4", *dataset]
    refused(capsys, [*base, "--sample", "sub01/EP99", "-o", str(tmp_path / "o.mp4")], "CASME2 has no sample 'sub01/EP99'")
    refused(capsys, [*base, "--sample", "sub01/EP02_01f", "-o", str(tmp_path / "o.gif")], "at 200 fps")
    refused(capsys, [*base, "--sample", "sub01/EP02_01f", "-o", str(inputs["casme2"] / "sub01" / "EP02_01f")],
            "holds the input")
    assert main([*base, "--sample", "sub01/EP02_01f", "-o", str(tmp_path / "o.mp4")]) == 0
    clip = read_video(tmp_path / "o.mp4")
    assert clip.fps == 200 and clip.frames.shape[0] == 8


def test_reenact_frame_folder_without_rate_is_30_fps_with_a_note(inputs, tmp_path, capsys):
    assert main(reenact(inputs, tmp_path / "o.mp4", "--alpha", "4", driving="folder")) == 0
    err = capsys.readouterr().err
    assert "has no fps.txt; assuming 30 fps (pass --fps" in err
    assert read_video(tmp_path / "o.mp4").fps == 30


def test_other_subcommands_validate_outputs_first(inputs, tmp_path, capsys, tripwire):
    refused(capsys, ["synth", "-o", str(tmp_path / "x.xyz")], "extension '.xyz'")
    refused(capsys, ["synth", "-o", str(tmp_path / "x.gif")], "at 200 fps")
    refused(capsys, ["magnify", str(inputs["driving"]), "-o", str(tmp_path / "m.xyz"), "--alpha", "4"], "extension")
    refused(capsys, ["magnify", str(inputs["driving"]), "-o", str(tmp_path / "m.mp4"), "--alpha", "1000"], "<= 100")
    refused(capsys, ["demagnify", str(inputs["driving"]), "-o", str(inputs["driving"]), "--alpha", "4"],
            "same file as an input")
    refused(capsys, ["eval", "transfer", "--backbone", "landmark-warp", "--dataset", "casme2", "--root",
                     str(inputs["casme2"]), "--annotation", str(inputs["annotation"]), "-o", str(inputs["casme2"])],
            "holds the input")
    refused(capsys, ["eval", "magnify", "--quick", "-o", str(tmp_path / "missing" / "r")], "does not exist")
    refused(capsys, ["demo", "--out", str(inputs["source"] / "x")], "is a file")
    refused(capsys, ["convert-weights", "fomm", str(inputs["source"]), str(tmp_path / "no" / "out")], "does not exist")
    assert list(tmp_path.iterdir()) == []


def test_magnify_default_needs_no_face_and_face_mode_names_its_flag(tmp_path, capsys):
    texture = F.interpolate(torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1)), size=(64, 64),
                            mode="bicubic", align_corners=False).clamp(0, 1)
    clip = torch.cat([torch.roll(texture, shift, dims=-1) for shift in (0, 0, 1, 1)])
    path = tmp_path / "texture.mkv"
    write_video(path, clip, fps=30, lossless=True)
    assert main(["magnify", str(path), "-o", str(tmp_path / "m.mkv"), "--alpha", "2", "--lossless"]) == 0
    assert "magnified all motion of 4 frames" in capsys.readouterr().out
    refused(capsys, ["magnify", str(path), "-o", str(tmp_path / "f.mkv"), "--alpha", "2", "--face"],
            "--face needs one; drop --face")


def test_magnify_default_scales_a_whole_frame_translation(tmp_path, capsys):
    """FlowMag's behaviour: a translating texture moves α times as far (it used to stay put)."""
    from magplus.flow.clip import clip_flows

    texture = F.interpolate(torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(2)), size=(96, 96),
                            mode="bicubic", align_corners=False).clamp(0, 1)
    shift = 0.5  # px per frame, sub-pixel: a shifted bicubic resampling of the same texture
    theta = torch.tensor([[[1.0, 0.0, -2 * shift * t / 96], [0.0, 1.0, 0.0]] for t in range(3)])
    grid = F.affine_grid(theta, (3, 3, 96, 96), align_corners=False)
    clip = F.grid_sample(texture.expand(3, -1, -1, -1), grid, mode="bicubic", padding_mode="border",
                         align_corners=False).clamp(0, 1)
    path = tmp_path / "moving.mkv"
    write_video(path, clip, fps=30, lossless=True)
    assert main(["magnify", str(path), "-o", str(tmp_path / "m.mkv"), "--alpha", "4", "--lossless"]) == 0
    out = read_video(tmp_path / "m.mkv").frames
    inner = (slice(None), slice(None), slice(24, 72), slice(24, 72))  # away from the borders
    measured = clip_flows(out, flow="dis")[inner][:, 0].mean(dim=(1, 2))
    given = clip_flows(clip, flow="dis")[inner][:, 0].mean(dim=(1, 2))
    ratio = measured[1:] / given[1:]
    # 4x: the output moves by 2 and 4 px (measured ratios 3.90 and 3.98: DIS and the warp's
    # resampling cost ~2.5 %); ±10 % leaves room for that, while the old default stayed near 1.
    assert torch.all((ratio > 3.6) & (ratio < 4.4)), (measured, given)
