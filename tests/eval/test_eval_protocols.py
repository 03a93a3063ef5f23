"""Protocols and reports end to end on tiny runs, and CLI errors."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from magplus.cli import main
from magplus.errors import InputError
from magplus.eval.magnify import protocol_samples, run_magnify, score_sample


def test_magnify_samples_have_exact_truth_and_oracle_scores_perfectly():
    samples = list(protocol_samples(quick=True, size=32, textures=1))
    assert {s.protocol for s in samples} == {"delta", "alpha", "noise"} and len(samples) == 6
    sample = samples[2]  # alpha protocol, no noise
    assert sample.frames.shape == (2, 3, 32, 32) and sample.moving.sum() > 50
    # The truth of α = 1 is I1 itself: the scene renderer is consistent.
    same = next(protocol_samples(quick=True, size=32, textures=1))
    assert not torch.equal(same.frames[0], same.frames[1])

    def oracle(ref, frames, alpha, mask=None):
        return torch.stack([frames[0], sample.truth])

    def identity(ref, frames, alpha, mask=None):
        return frames.clone()

    perfect = score_sample(oracle, sample)
    assert perfect["ssim"] == pytest.approx(1.0) and perfect["rmse"] == 0.0
    lazy = score_sample(identity, sample)
    assert lazy["ssim"] < 0.99 and lazy["rmse"] > 1.0


def test_magnify_report_end_to_end(tmp_path):
    folder, summary = run_magnify(["lagrangian"], str(tmp_path / "mag"), quick=True, size=32, textures=1,
                                  progress=False)
    payload = json.loads((folder / "metrics.json").read_text())
    assert payload["seed"] == 0 and payload["versions"]["torch"] == torch.__version__
    assert set(payload["summary"]["lagrangian"]) >= {"ssim", "rmse", "motion_error", "magnification_error"}
    assert summary["lagrangian"]["ssim"]["n"] == 6
    assert (folder / "plots" / "alpha.png").is_file() and "| alpha | 0.25 | 5 |" in (folder / "metrics.md").read_text()


def test_transfer_report_end_to_end_on_tiny_synthetic_run(tmp_path, capsys):
    out = tmp_path / "report"
    status = main(["eval", "transfer", "--backbone", "landmark-warp", "--synthetic", "2", "--resolution", "96",
                   "--frames", "6", "--videos", "1", "--alpha", "8", "-o", str(out), "--quiet"])
    assert status == 0, capsys.readouterr().err
    payload = json.loads((out / "metrics.json").read_text())
    assert "--synthetic 2" in payload["command"] and payload["config"]["backbone"] == "landmark-warp"
    assert set(payload["summary"]) == {"direct", "magplus", "ground_truth"}
    truth = payload["summary"]["ground_truth"]
    # The ground truth is the program on the source face: its motion follows the driving clip.
    assert truth["region_correlation"]["mean"] > 0.8 and truth["epe"]["mean"] < 0.2
    for condition in payload["summary"].values():
        mean, low, high = (condition["peak_ratio"][k] for k in ("mean", "ci_low", "ci_high"))
        assert low <= mean <= high
    with open(out / "per_clip.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and {r["clip"] for r in rows} == {"synth-000", "synth-001"}
    assert "| peak_ratio |" in (out / "metrics.md").read_text()
    assert (out / "plots" / "distributions.png").is_file() and (out / "plots" / "curves_synth-000.png").is_file()
    assert sorted(p.name for p in (out / "videos").iterdir()) == ["synth-000.mp4"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


@pytest.mark.parametrize("argv, message", [
    (["--backbone", "no-such-net", "--synthetic", "1"], "unknown backbone"),
    (["--backbone", "landmark-warp", "--dataset", "casme2", "--root", "/no/such/folder"], "is not a folder"),
    (["--backbone", "landmark-warp"], "exactly one of --synthetic"),
    (["--backbone", "landmark-warp", "--synthetic", "1", "--alpha", "0.5"], "--alpha must be"),
])
def test_transfer_cli_bad_input_exits_with_one_line(tmp_path, capsys, argv, message):
    status = main(["eval", "transfer", *argv, "-o", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert status != 0 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_magnify_cli_unknown_magnifier(tmp_path, capsys):
    assert main(["eval", "magnify", "--magnifier", "lagrangain", "-o", str(tmp_path / "m")]) == 2
    assert "did you mean 'lagrangian'" in capsys.readouterr().err.lower()


def test_dataset_cases_from_a_generic_table(tmp_path):
    from magplus.eval.cases import dataset_cases
    from magplus.io import write_image, write_video

    clips = tmp_path / "clips"
    clips.mkdir()
    write_video(clips / "v.mkv", torch.rand(8, 3, 40, 56), fps=50, lossless=True)
    table = clips / "labels.csv"
    table.write_text("clip,onset,apex,offset,subject,aus\nv.mkv,2,4,6,p1,L12+4\n")
    face = tmp_path / "face.png"
    write_image(face, torch.rand(3, 32, 32))
    cases, count = dataset_cases("generic", clips, table, sources=[face], max_side=28, fps=50)
    cases = list(cases)
    assert count == 1 and len(cases) == 1
    case = cases[0]
    assert case.name == "p1/v.mkv@face" and case.driving.shape == (5, 3, 20, 28) and case.fps == 50
    assert (case.annotation.onset, case.annotation.apex, case.annotation.offset) == (0, 2, 4)
    assert sorted(case.aus, key=str) == sorted([(12, "L"), (4, None)], key=str) and not case.aligned
    with pytest.raises(InputError, match=r"source image '.*missing\.png' does not exist; pass existing face images"):
        dataset_cases("generic", clips, table, sources=[tmp_path / "missing.png"])
