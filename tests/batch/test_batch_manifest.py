"""Manifests: parsing, validation before any work (one line naming the row), generators, shards."""

from __future__ import annotations

import csv

import pytest
import torch
from conftest import synthetic_rows, write_csv

from magplus.batch.executors import parse_shard, select_shard
from magplus.batch.generators import cross_rows, megc_rows, settings_grid, synthetic_rows as make_synthetic
from magplus.batch.manifest import read_manifest, write_manifest
from magplus.batch.validate import check_jobs, load_manifest
from magplus.cli import main
from magplus.errors import InputError
from magplus.io import write_image


def test_csv_and_yaml_parse_to_the_same_jobs(tmp_path):
    rows = synthetic_rows([3], magnifiers=("lagrangian",))
    write_csv(tmp_path / "m.csv", rows)
    (tmp_path / "m.yaml").write_text("defaults: {magnifier: lagrangian, alpha: 8}\n"
                                     "jobs:\n  - {output: lagrangian/synth-3.mp4, driving: synthetic, seed: 3, "
                                     "frames: 5, resolution: 64}\n")
    from_csv, problems_csv = read_manifest(tmp_path / "m.csv")
    from_yaml, problems_yaml = read_manifest(tmp_path / "m.yaml")
    assert problems_csv == problems_yaml == []
    assert from_csv[0].spec == from_yaml[0].spec and from_csv[0].key == from_yaml[0].key
    job = from_csv[0]
    assert job.kind == "synthetic" and job.spec["backbone"] == "landmark-warp" and job.spec["alpha"] == 8.0
    assert job.condition == "landmark-warp/lagrangian/alpha=8.0" and job.where == "m.csv row 2"


def test_relative_paths_resolve_against_the_manifest_folder(tmp_path, face_inputs):
    face, driving, _ = face_inputs
    sub = tmp_path / "sub"
    sub.mkdir()
    write_csv(sub / "m.csv", [{"output": "a.mp4", "source": "../face.png", "driving": str(driving)}])
    write_image(tmp_path / "face.png", torch.rand(3, 16, 16))
    job = load_manifest(sub / "m.csv", tmp_path / "out")[0]
    assert job.spec["source"] == str(tmp_path / "face.png") and job.kind == "file"


def test_every_problem_is_one_line_naming_its_row(tmp_path, face_inputs):
    face, driving, _ = face_inputs
    good = {"source": str(face), "driving": str(driving)}
    write_csv(tmp_path / "bad.csv", [
        {"output": "a.mp4", **good},
        {"output": "a.mp4", **good},                                     # row 3: duplicate output
        {"output": "b.mp4", **good, "source": str(tmp_path / "no.png")},  # row 4: missing source
        {"output": "c.mp4", **good, "backbone": "landmrk-warp"},          # row 5: unknown backbone
        {"output": "d.mp4", **good, "alpha": "0.5"},                      # row 6: alpha < 1
        {"output": "../e.mp4", **good},                                   # row 7: outside the folder
        {"output": "f.txt", **good},                                      # row 8: not a video
        {"output": "driving.mkv", **good},                                # row 9: overwrites the driving clip
        {"output": "g.mp4", **good, "magnifier": "lagrangain"},           # row 10: unknown magnifier
        {"output": "h.mp4", **good, "resolution": "big"},                 # row 11: not a number
    ])
    jobs, parse_problems = read_manifest(tmp_path / "bad.csv")
    problems = check_jobs(jobs, face.parent, str(tmp_path / "bad.csv"), parse_problems)
    expected = {3: "already used by bad.csv row 2", 4: "does not exist", 5: "did you mean 'landmark-warp'",
                6: "alpha must be 'auto' or >= 1", 7: "without '..'", 8: "extension '.txt'",
                9: "would overwrite or write inside input", 10: "did you mean 'lagrangian'",
                11: "resolution must be a number"}
    for row, message in expected.items():
        assert any(f"row {row}" in p and message in p.lower() for p in problems), (row, problems)
    assert all("\n" not in p for p in problems) and len(problems) == len(expected)
    assert [int(p.split(" row ")[1].split()[0].strip(":")) for p in problems] == sorted(expected)


def test_unknown_columns_are_refused_with_the_closest_name(tmp_path):
    write_csv(tmp_path / "m.csv", [{"output": "a.mp4", "driving": "synthetic", "magnifer": "none"}])
    with pytest.raises(InputError, match="header: unknown column 'magnifer' \\(did you mean 'magnifier'\\?\\)"):
        read_manifest(tmp_path / "m.csv")
    (tmp_path / "m.yaml").write_text("- {output: a.mp4, driving: synthetic, sed: 3}\n")
    assert "m.yaml job 1: unknown column 'sed' (did you mean 'seed'?)" in read_manifest(tmp_path / "m.yaml")[1]


def test_cli_refuses_a_bad_manifest_before_any_work(tmp_path, face_inputs, capsys):
    face, driving, _ = face_inputs
    write_csv(tmp_path / "m.csv", [{"output": "a.mp4", "source": str(face), "driving": str(driving)},
                                   {"output": "b.mp4", "source": str(face), "driving": str(tmp_path / "gone.mp4")}])
    assert main(["batch", str(tmp_path / "m.csv"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "m.csv row 3 (b.mp4): driving" in err and "does not exist" in err
    assert not (tmp_path / "out").exists()
    assert main(["batch", str(tmp_path / "m.csv"), "-o", str(tmp_path / "out"), "--check"]) == 2
    assert "1 problem(s)" in capsys.readouterr().out


def test_outputs_whose_records_would_collide_are_refused(tmp_path, face_inputs):
    face, driving, _ = face_inputs
    write_csv(tmp_path / "m.csv", [{"output": "a/b.mp4", "source": str(face), "driving": str(driving)},
                                   {"output": "a_b.mp4", "source": str(face), "driving": str(driving)}])
    jobs, _ = read_manifest(tmp_path / "m.csv")
    problems = check_jobs(jobs, tmp_path / "out", None)
    assert problems == ["m.csv row 3 (a_b.mp4): output name gives the same record name as m.csv row 2 (a/b.mp4); "
                        "rename one of them"]


def test_outputs_may_not_nest_or_hold_inputs(tmp_path, face_inputs):
    face, driving, _ = face_inputs
    write_csv(tmp_path / "m.csv", [{"output": "clips", "source": str(face), "driving": str(driving)},
                                   {"output": "clips/a.mp4", "source": str(face), "driving": str(driving)}])
    jobs, _ = read_manifest(tmp_path / "m.csv")
    problems = check_jobs(jobs, tmp_path / "out", None)
    assert len(problems) == 1 and "is a folder that holds the output of m.csv row 3" in problems[0]
    # -o at the inputs' folder with an output named like the driving clip's folder
    problems = check_jobs(jobs[:1], driving.parent.parent, None)
    assert problems == [] or "holds inputs" in problems[0]


def test_shards_are_disjoint_and_cover_every_job(tmp_path):
    write_csv(tmp_path / "m.csv", synthetic_rows(range(7), magnifiers=("none",)))
    jobs, _ = read_manifest(tmp_path / "m.csv")
    shards = [select_shard(jobs, parse_shard(f"{k}/3")) for k in range(3)]
    assert sorted(j.index for s in shards for j in s) == list(range(7)) and [len(s) for s in shards] == [3, 2, 2]
    for bad in ("3/3", "1/0", "a/b", "-1/2"):
        with pytest.raises(InputError, match="--shard"):
            parse_shard(bad)


def test_settings_grid_has_direct_once_and_folders_per_setting():
    grid = settings_grid(["landmark-warp"], ["none", "lagrangian"], ["auto", 8])
    assert [s["_prefix"] for s in grid] == ["landmark-warp_direct/", "landmark-warp_lagrangian_aauto/",
                                            "landmark-warp_lagrangian_a8/"]
    assert settings_grid()[0]["_prefix"] == ""


def _frames(folder, names):
    folder.mkdir(parents=True)
    for name in names:
        write_image(folder / name, torch.rand(3, 8, 8))


@pytest.fixture
def megc_trees(tmp_path):
    """Miniature CASME II / SAMM / SMIC trees holding the 9 MEGC driving clips (3 frames each)."""
    from magplus.io.datasets.megc import MEGC_DRIVING_CLIPS

    roots = {"CASME2": tmp_path / "CASME2", "SAMM": tmp_path / "SAMM", "SMIC": tmp_path / "SMIC"}
    tables = {"CASME2": [["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units"]],
              "SAMM": [["Subject", "Filename", "Onset Frame", "Apex Frame", "Offset Frame", "Action Units"]]}
    for clip in MEGC_DRIVING_CLIPS:
        if clip.dataset == "CASME2":
            _frames(roots["CASME2"] / clip.subject / clip.clip, [f"img{n}.jpg" for n in (1, 2, 3)])
            tables["CASME2"].append([clip.subject[3:], clip.clip, 1, 2, 3, "12"])
        elif clip.dataset == "SAMM":
            _frames(roots["SAMM"] / clip.subject / clip.clip, [f"{clip.subject}_0000{n}.jpg" for n in (1, 2, 3)])
            tables["SAMM"].append([clip.subject, clip.clip, 1, 2, 3, "4"])
        else:
            emotion = {"surprise": "surprise", "positive": "positive", "negative": "negative"}[clip.emotion]
            _frames(roots["SMIC"] / "HS" / clip.subject / "micro" / emotion / clip.clip,
                    [f"reg_0000{n}.png" for n in (1, 2, 3)])
    annotations = {}
    for name, rows in tables.items():
        annotations[name] = tmp_path / f"{name}.csv"
        with open(annotations[name], "w", newline="") as handle:
            csv.writer(handle).writerows(rows)
    templates = tmp_path / "templates"
    templates.mkdir()
    for slot in ("Female_Asian", "Female_Europe", "Male_Asian", "Male_Europe"):
        write_image(templates / f"{slot}.png", torch.rand(3, 16, 16))
    return roots, annotations, templates


def test_megc2022_manifest_validates_and_names_outputs_as_the_protocol(tmp_path, megc_trees, capsys):
    roots, annotations, templates = megc_trees
    argv = ["batch", "make-manifest", "megc", "--year", "2022", "--casme2", str(roots["CASME2"]),
            "--casme2-annotation", str(annotations["CASME2"]), "--samm", str(roots["SAMM"]),
            "--samm-annotation", str(annotations["SAMM"]), "--smic", str(roots["SMIC"]),
            "--templates", str(templates), "-o", str(tmp_path / "megc.csv")]
    assert main(argv) == 0, capsys.readouterr().err
    jobs = load_manifest(tmp_path / "megc.csv", tmp_path / "out")  # every sample is found in its dataset
    assert len(jobs) == 36 and len({j.output for j in jobs}) == 36
    assert "2022_Male_Europe_SAMM_022_3_3.mp4" in {j.output for j in jobs}
    assert {j.spec["dataset"] for j in jobs} == {"casme2", "samm", "smic"}
    with pytest.raises(InputError, match="missing: Female_Asian, Female_Europe, Male_Europe, SAMM, SMIC"):
        megc_rows(2022, {"CASME2": (str(roots["CASME2"]), None)}, {"Male_Asian": "x.png"}, settings_grid())


def test_cross_and_synthetic_generators(tmp_path, megc_trees, face_inputs):
    roots, annotations, _ = megc_trees
    face = face_inputs[0]
    rows = cross_rows("casme2", str(roots["CASME2"]), str(annotations["CASME2"]), [str(face)],
                      settings_grid(magnifiers=["none", "lagrangian"]), max_clips=2)
    assert [r["output"] for r in rows][:2] == ["landmark-warp_direct/casme2/sub17_EP01_13@face.mp4",
                                                "landmark-warp_direct/casme2/sub19_EP01_01f@face.mp4"]
    assert len(rows) == 4
    write_manifest(tmp_path / "cross.yaml", rows)
    assert len(load_manifest(tmp_path / "cross.yaml", tmp_path / "out")) == 4
    rows = make_synthetic(3, settings_grid(), seed=10, frames=5, extra={"resolution": 64})
    assert [r["seed"] for r in rows] == [10, 11, 12] and rows[0]["output"] == "synth-010.mp4"
    with pytest.raises(InputError, match="must not|same file"):
        write_manifest(face, rows, inputs=[face])


def test_threads_per_worker_share_the_available_cores():
    from magplus.batch.executors import available_cores, threads_per_worker

    cores = available_cores()
    assert threads_per_worker(1) == cores and threads_per_worker(cores * 4) == 1
    assert threads_per_worker(2, threads=3) == 3
    with pytest.raises(InputError, match="--threads must be >= 1"):
        threads_per_worker(1, threads=0)
