"""MEGC runner on real-life trouble: a clip that fails is recorded and skipped; an interrupted run resumes."""

from __future__ import annotations

import csv

import pytest
import torch

from magplus.errors import InputError
from magplus.io.datasets.megc import MEGC_DRIVING_CLIPS, run_megc
from magplus.types import Clip

TEMPLATES = {"normalized_westernMale": torch.full((3, 8, 8), 0.2), "normalized_asianFemale": torch.full((3, 8, 8), 1.0)}


def loader(driving):
    if driving.dataset == "SAMM":
        raise InputError(f"no SAMM dataset was given for MEGC clip {driving.name}")
    return Clip(torch.full((3, 3, 8, 8), 0.5), fps=30)


def test_failures_are_recorded_and_the_rest_is_made(tmp_path):
    def transfer(source, clip):
        return source[None].expand(len(clip), -1, -1, -1) * clip.frames

    rows = run_megc(transfer, loader, TEMPLATES, tmp_path / "megc", year=2021, ext=".mkv")
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(rows) == 18 and len(failed) == 6 and {r["dataset"] for r in failed} == {"SAMM"}
    assert all("no SAMM dataset" in r["error"] for r in failed)
    manifest = list(csv.DictReader((tmp_path / "megc" / "megc2021_manifest.csv").open()))
    assert [r["status"] for r in manifest].count("done") == 12 and manifest[0]["error"].startswith("InputError")
    assert not (tmp_path / "megc" / "2021_normalized_westernMale_SAMM_007_7_1.mkv").exists()


def test_interrupted_run_resumes_without_redoing_videos(tmp_path):
    calls = []

    def flaky(source, clip):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt  # the user stops the run mid-way
        return clip.frames

    with pytest.raises(KeyboardInterrupt):
        run_megc(flaky, loader, TEMPLATES, tmp_path / "m", year=2021, clips=MEGC_DRIVING_CLIPS[3:])
    done_before = sorted(p.name for p in (tmp_path / "m").glob("*.mp4"))
    assert len(done_before) == 4
    calls.clear()
    rows = run_megc(lambda s, c: calls.append(1) or c.frames, loader, TEMPLATES, tmp_path / "m", year=2021,
                    clips=MEGC_DRIVING_CLIPS[3:])
    assert len(rows) == 12 and all(r["status"] == "done" for r in rows)
    # Second run: the 4 finished videos were skipped (no call), the other 8 were made.
    assert len(calls) == 8 and len(sorted((tmp_path / "m").glob("*.mp4"))) == 12
    with pytest.raises(InputError, match="other settings .*ext"):
        run_megc(lambda s, c: c.frames, loader, TEMPLATES, tmp_path / "m", year=2021, ext=".mkv")
