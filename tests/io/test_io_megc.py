"""MEGC generation protocol: manifest and runner with a dummy transfer callable."""

from __future__ import annotations

import csv

import pytest
import torch

from magplus.errors import InputError
from magplus.io.datasets.megc import MEGC_DRIVING_CLIPS, MEGC_TEMPLATES, DrivingClip, output_name, run_megc
from magplus.io.video import read_video
from magplus.types import Clip


def test_manifest_matches_the_protocol():
    assert len(MEGC_DRIVING_CLIPS) == 9
    per_dataset = {d: sorted(c.emotion for c in MEGC_DRIVING_CLIPS if c.dataset == d) for d in ("SAMM", "CASME2", "SMIC")}
    assert all(emotions == ["negative", "positive", "surprise"] for emotions in per_dataset.values())
    assert {c.name for c in MEGC_DRIVING_CLIPS} >= {"007_7_1", "sub19_EP01_01f", "s11_ne_02"}
    assert MEGC_TEMPLATES[2021] == ("normalized_westernMale", "normalized_asianFemale")
    assert len(MEGC_TEMPLATES[2022]) == 4
    driving = DrivingClip("CASME2", "sub17", "EP01_13", "surprise")
    assert output_name(2021, "normalized_westernMale", driving) == "2021_normalized_westernMale_CASME2_sub17_EP01_13.mp4"


def test_run_megc_with_dummy_transfer(tmp_path):
    calls = []

    def loader(driving):
        length = 3 + len(calls) % 2
        return Clip(torch.full((length, 3, 8, 8), 0.5), fps=200 if driving.dataset != "SMIC" else 100)

    def transfer(source, clip):
        calls.append((float(source.mean()), len(clip)))
        # source brightness times the driving clip: lets us check which template went where
        return source[None].expand(len(clip), -1, -1, -1) * clip.frames

    templates = {"normalized_westernMale": torch.full((3, 8, 8), 0.2), "normalized_asianFemale": torch.full((3, 8, 8), 1.0)}
    records = run_megc(transfer, loader, templates, tmp_path / "megc", year=2021, ext=".mkv")
    assert len(records) == 18 == len(calls)
    written = tmp_path / "megc" / "2021_normalized_asianFemale_SMIC_s3_po_05.mkv"
    clip = read_video(written)
    assert clip.fps == 100 and abs(float(clip.frames.mean()) - 0.5) < 2 / 255
    rows = list(csv.DictReader((tmp_path / "megc" / "megc2021_manifest.csv").open()))
    assert len(rows) == 18 and rows[0]["driving"] == "007_7_1"


def test_run_megc_rejects_bad_templates_and_outputs(tmp_path):
    def loader(driving):
        return Clip(torch.rand(2, 3, 8, 8), fps=30)

    with pytest.raises(InputError, match="missing normalized_asianFemale"):
        run_megc(lambda s, c: c.frames, loader, {"normalized_westernMale": torch.rand(3, 8, 8)}, tmp_path / "o", 2021)
    with pytest.raises(InputError, match="unknown Alien"):
        run_megc(lambda s, c: c.frames, loader, {"Alien": torch.rand(3, 8, 8)}, tmp_path / "o", 2022)
    with pytest.raises(InputError, match="year must be one of"):
        run_megc(lambda s, c: c.frames, loader, {}, tmp_path / "o", 2020)
    records = run_megc(lambda s, c: c.frames, loader, {"Male_Asian": torch.rand(3, 8, 8)}, tmp_path / "o", 2022,
                       clips=MEGC_DRIVING_CLIPS[:1], allow_partial=True)
    assert [r["template"] for r in records] == ["Male_Asian"]
    # A transfer that returns the wrong shape is recorded as failed with its reason; the run goes on.
    failed = run_megc(lambda s, c: c.frames[0], loader, {"Male_Asian": torch.rand(3, 8, 8)}, tmp_path / "o2", 2022,
                      clips=MEGC_DRIVING_CLIPS[:1], allow_partial=True)
    assert failed[0]["status"] == "failed" and "must have shape" in failed[0]["error"]
