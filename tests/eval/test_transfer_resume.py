"""Dataset-style runs: a failing clip is recorded with its reason and the run goes on; re-runs resume."""

from __future__ import annotations

import json

import pytest
import torch

from magplus.errors import InputError
from magplus.eval import transfer
from magplus.eval.cases import TransferCase, synthetic_cases


def cases(count: int, faceless: bool = False) -> list[TransferCase]:
    out = list(synthetic_cases(count, seed=0, resolution=96, fps=200.0, frames=6))
    if faceless:
        bad = out[0]
        out.insert(1, TransferCase(name="no-face", driving=bad.driving, source=torch.full((3, 96, 96), 0.5), fps=200.0))
    return out


def run(folder, items, **kwargs):
    return transfer.run_transfer(items, str(folder), backbone="landmark-warp", alpha=8.0, resolution=96, videos=1,
                                 progress=False, **kwargs)


def test_failed_clip_is_recorded_and_a_rerun_skips_done_clips(tmp_path, monkeypatch):
    out = tmp_path / "report"
    folder, _ = run(out, cases(1, faceless=True))
    info = json.loads((folder / "metrics.json").read_text())
    status = {c["clip"]: (c["status"], c["error"]) for c in info["clips"]}
    assert status["synth-000"] == ("done", None)
    assert status["no-face"][0] == "failed" and "no face" in status["no-face"][1]
    assert "`no-face`: NoFaceError" in (folder / "metrics.md").read_text()
    record = json.loads((folder / "clips" / "no-face.json").read_text())
    assert record["status"] == "failed" and "no face" in record["error"]
    assert (folder / "videos" / "synth-000.mp4").is_file()

    evaluated = []
    real = transfer.evaluate_case
    monkeypatch.setattr(transfer, "evaluate_case", lambda f, case, *a, **k: evaluated.append(case.name) or real(f, case, *a, **k))
    folder, summary = run(out, cases(2, faceless=True))  # one more clip: only it and the failed one run
    assert evaluated == ["no-face", "synth-001"]
    info = json.loads((folder / "metrics.json").read_text())
    assert [c["clip"] for c in info["clips"] if c["status"] == "done"] == ["synth-000", "synth-001"]
    assert summary["direct"]["peak_ratio"]["n"] == 2  # the resumed clip's metrics are back in the summary
    assert "1 resumed" in (folder / "metrics.md").read_text()
    assert (folder / "videos" / "synth-000.mp4").is_file()  # carried over from the first run
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_rerun_with_other_settings_is_refused(tmp_path):
    run(tmp_path / "r", cases(1))
    with pytest.raises(InputError, match="other settings .*alpha"):
        transfer.run_transfer(cases(1), str(tmp_path / "r"), backbone="landmark-warp", alpha=4.0, resolution=96,
                              progress=False)
