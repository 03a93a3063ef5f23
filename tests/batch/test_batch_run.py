"""A small batch end to end: records, failures, resume, edited rows, status, report."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from conftest import synthetic_rows, write_csv

from magplus.batch.runner import run_batch
from magplus.batch.state import batch_state, leftovers, open_records
from magplus.cli import main


@pytest.fixture(scope="module")
def batch(tmp_path_factory, face_inputs):
    """One run of five jobs: direct + MagPlus on a synthetic clip, a file job scored against its driving
    clip, a generic-dataset job, and a job whose driving clip has no face."""
    face, driving, noise = face_inputs
    folder = tmp_path_factory.mktemp("batch")
    (folder / "labels.csv").write_text(f"clip,onset,apex,offset,aus\n{driving.name},0,2,4,12\n")
    rows = synthetic_rows([0]) + [
        {"output": "file/face.mp4", "source": str(face), "driving": str(driving), "metrics": "yes", "alpha": 8,
         "resolution": 64},
        {"output": "dataset/face.mkv", "source": "builtin:default_face", "dataset": "generic",
         "root": str(driving.parent), "annotation": str(folder / "labels.csv"), "sample": driving.name,
         "fps": 50, "resolution": 64, "magnifier": "none"},
        {"output": "file/noise.mp4", "source": str(face), "driving": str(noise), "resolution": 64},
    ]
    write_csv(folder / "m.csv", rows)
    run = run_batch(folder / "m.csv", folder / "out", progress=False)
    return folder, run


def test_run_records_every_job_and_continues_after_a_failure(batch):
    folder, run = batch
    assert (run.selected, run.done, run.failed, run.skipped) == (5, 4, 1, 0)
    (output, reason), = run.failures
    assert output == "file/noise.mp4" and reason.startswith("NoFaceError") and "\n" not in reason
    state = batch_state(folder / "out")
    assert state.counts() == {"done": 4, "failed": 1, "pending": 0}
    assert leftovers(folder / "out") == []


def test_records_hold_alpha_timings_metrics_versions_and_commit(batch):
    folder, _ = batch
    state = {s.job.output: s for s in batch_state(folder / "out").jobs}
    magplus = state["lagrangian/synth-0.mp4"].record
    assert magplus["alpha"] == 8.0 and magplus["ground_truth"] and magplus["frames"] == 5
    assert {"load", "magnify", "write", "metrics"} <= set(magplus["timings_s"]) and magplus["total_s"] > 0
    assert magplus["versions"]["torch"] == torch.__version__ and "git_commit" in magplus
    assert 0 <= magplus["metrics"]["epe"] < 1.0 and len(magplus["curves"]["ground_truth_exact"]) == 5
    assert state["none/synth-0.mp4"].record["alpha"] == 1.0
    scored = state["file/face.mp4"].record  # no ground truth, scored against its driving clip (metrics: yes)
    assert not scored["ground_truth"] and "peak_ratio" in scored["metrics"] and "epe" not in scored["metrics"]
    assert state["dataset/face.mkv"].record["metrics"] is None and state["dataset/face.mkv"].record["fps"] == 50
    failed = state["file/noise.mp4"].record
    assert failed["status"] == "failed" and failed["traceback"]
    assert not (folder / "out" / "file" / "noise.mp4").exists()


def test_rerun_skips_done_jobs_redoes_failed_and_edited_ones(batch):
    folder, _ = batch
    out = folder / "out"
    before = {p: p.stat().st_mtime_ns for p in (out / "records").rglob("*.json")}
    rows = list(csv.DictReader(open(folder / "m.csv")))
    rows[0]["condition"] = "renamed"  # a label: not a new job
    rows[1]["alpha"] = "6"  # MagPlus job with another alpha: redone
    write_csv(folder / "m.csv", rows)
    run = run_batch(folder / "m.csv", out, progress=False)
    assert (run.skipped, run.done, run.failed) == (3, 1, 1)
    changed = {p.relative_to(out).as_posix() for p, t in before.items() if p.stat().st_mtime_ns != t}
    assert changed == {"records/lagrangian_synth-0.mp4.json", "records/file_noise.mp4.json"}
    jobs = {s.job.output: s.job for s in batch_state(out).jobs}
    assert open_records(out).get("lagrangian/synth-0.mp4")["alpha"] == 6.0
    assert jobs["none/synth-0.mp4"].condition == "renamed"


def test_status_and_report(batch, capsys):
    folder, _ = batch
    out = folder / "out"
    assert main(["batch", "--status", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("5 job(s): 4 done, 1 failed, 0 pending") and "failed  file/noise.mp4: NoFaceError" in text
    assert main(["batch", "--report", str(out)]) == 0, capsys.readouterr().err
    report = out / "report"
    payload = json.loads((report / "metrics.json").read_text())
    assert payload["config"]["failed"] == 1 and payload["command"].startswith("magplus batch --report")
    summary = payload["summary"]
    assert {"none/synth-0.mp4", "lagrangian/synth-0.mp4"} <= {r["clip"] for r in payload["per_clip"]}
    magplus = next(c for c in summary if "lagrangian" in c and "alpha=6" in c)
    entry = summary[magplus]["epe"]
    assert entry["n"] == 1 and entry["ci_low"] <= entry["mean"] <= entry["ci_high"]
    assert summary["renamed"]["alpha"]["mean"] == 1.0
    jobs = list(csv.DictReader(open(report / "jobs.csv")))
    assert [r["status"] for r in jobs].count("failed") == 1 and len(jobs) == 5
    assert (report / "plots" / "distributions.png").is_file() and (report / "metrics.md").is_file()
    assert any(p.name.startswith("curves_") for p in (report / "plots").iterdir())


def test_status_of_a_folder_that_is_not_a_batch(tmp_path, capsys):
    assert main(["batch", "--status", str(tmp_path)]) == 2
    assert "is not a batch folder" in capsys.readouterr().err


def test_leftovers_of_killed_writers_are_found_per_job(batch):
    import subprocess
    import sys

    from magplus.batch.state import remove_leftovers

    folder, _ = batch
    out = folder / "out"
    target = out / "file" / "face.mp4"
    kill = ("import os, signal, sys; from magplus.io.atomic import atomic_output; "
            "tmp = atomic_output(sys.argv[1]).__enter__(); tmp.write_bytes(b'half'); os.kill(os.getpid(), signal.SIGKILL)")
    assert subprocess.run([sys.executable, "-c", kill, str(target)]).returncode == -9
    job = next(s.job for s in batch_state(out).jobs if s.job.output == "file/face.mp4")
    other = next(s.job for s in batch_state(out).jobs if s.job.output == "file/noise.mp4")
    found = leftovers(out, [job])
    assert len(found) == 1 and found[0].parent == target.parent and found[0].name.startswith(".face.")
    assert leftovers(out, [other]) == [] and leftovers(out) == found
    assert remove_leftovers(found) == 1 and leftovers(out) == [] and target.is_file()
