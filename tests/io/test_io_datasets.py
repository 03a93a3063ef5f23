"""Dataset loaders on miniature fake trees written in the official layouts and annotation formats."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from magplus.errors import InputError, VideoReadError
from magplus.io.datasets import (
    CASME2,
    MMEW,
    SAMM,
    SMIC,
    CASME3,
    ActionUnit,
    GenericDataset,
    estimate_apex_index,
    parse_aus,
    read_annotation,
)
from magplus.io.images import write_image
from magplus.io.video_writer import write_video

SHIFTS = [0, 1, 2, 4, 2, 1]  # horizontal shift (px) of each frame: the largest motion is frame 3


def moving_texture(shifts=SHIFTS, size=48) -> torch.Tensor:
    """A smooth random texture translated by ``shifts`` pixels: ``(T, 3, size, size)``."""
    noise = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(0))  # same texture every call
    base = F.interpolate(noise, size=(size, size), mode="bicubic", align_corners=False)
    return torch.cat([torch.roll(base, shift, dims=-1) for shift in shifts]).clamp(0, 1)


def write_frames(folder, names, gray=False):
    import cv2

    folder.mkdir(parents=True)
    for name, frame in zip(names, moving_texture()):
        if gray:
            cv2.imwrite(str(folder / name), (frame[0].numpy() * 255).round().astype(np.uint8))
        else:
            write_image(folder / name, frame)


def write_xlsx(path, rows, title=None, preamble=0):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    if title:
        sheet.title = title
    for index in range(preamble):
        sheet.append([f"note line {index + 1}"])
    for row in rows:
        sheet.append(list(row))
    book.save(path)


CASME2_HEADER = ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units", "Estimated Emotion"]


@pytest.fixture
def casme2_tree(tmp_path):
    root = tmp_path / "CASME2"
    for subject, clip in (("sub01", "EP02_01f"), ("sub02", "EP03_02"), ("sub02", "EP05_09")):
        write_frames(root / subject / clip, [f"reg_img{n}.jpg" for n in range(8, 14)])
    annotation = tmp_path / "CASME2-coding-20140508.xlsx"
    write_xlsx(annotation, [
        CASME2_HEADER,
        [1, "EP02_01f", 8, 10, 13, "L4+R12", "happiness"],
        [2, "EP03_02", 8, "/", 13, "4B+7", "disgust"],  # apex missing
        [2, "EP05_09", 8, 40, 99, "AU1+AU2", "surprise"],  # apex and offset impossible
    ])
    return root, annotation


def test_parse_aus_variants():
    assert parse_aus("L4+R12") == [ActionUnit(4, "L", None, "L4"), ActionUnit(12, "R", None, "R12")]
    assert [str(u) for u in parse_aus("4B+7")] == ["4B", "7"]
    assert [u.number for u in parse_aus("AU1+AU2")] == [1, 2]
    assert parse_aus("R14A") == [ActionUnit(14, "R", "A", "R14A")]
    assert [u.number for u in parse_aus(12.0)] == [12]
    assert parse_aus("?") == [] and parse_aus(None) == []


def test_casme2_parsing_natural_order_and_apex_repair(casme2_tree):
    root, annotation = casme2_tree
    ds = CASME2(root, annotation)
    assert len(ds) == 3 and ds.fps == 200
    first = ds["sub01", "EP02_01f"]
    assert (first.onset, first.apex, first.offset, first.n_frames) == (8, 10, 13, 6)
    assert not first.apex_estimated and first.emotion == "happiness"
    assert [(u.number, u.side) for u in first.aus] == [(4, "L"), (12, "R")] and first.aus_raw == "L4+R12"
    # "/" apex and out-of-range apex: estimated from flow -> the frame shifted most (number 8 + 3)
    for clip in ("EP03_02", "EP05_09"):
        sample = ds["sub02", clip]
        assert sample.apex_estimated and sample.apex == 11
        assert any("apex" in note for note in sample.notes)
    assert ds["sub02", "EP05_09"].offset == 13  # offset 99 is past the last frame: clamped, noted
    clip = ds.load_frames(first)
    assert clip.frames.shape == (6, 3, 48, 48) and clip.fps == 200 and clip.meta["first_frame"] == 8
    # img9 must come before img10: frame numbered 9 is shifted by 1 px, 10 by 2 px
    expected = moving_texture()
    middle = ds.load_frames(first, start=9, stop=10, resize=24)
    assert middle.frames.shape == (2, 3, 24, 24)
    loaded = ds.load_frames(first, 9, 10).frames
    # JPEG (4:2:0 chroma) error on this colour noise is ~0.03, neighbouring frames differ by ~0.08
    closest = [int((frame - expected).abs().mean((1, 2, 3)).argmin()) for frame in loaded]
    assert closest == [1, 2]


def test_midpoint_when_estimation_disabled_and_table(casme2_tree, tmp_path):
    root, annotation = casme2_tree
    ds = CASME2(root, annotation, estimate_apex=False)
    assert ds["sub02", "EP03_02"].apex == 10  # midpoint of frames 8..13 (positions 0..5 -> 2)
    table = ds.to_table()
    assert table[1]["aus"] == "4B+7" and table[1]["apex_estimated"] is True
    out = ds.write_csv(tmp_path / "casme2.csv")
    rows = list(csv.DictReader(out.open()))
    assert [row["clip"] for row in rows] == ["EP02_01f", "EP03_02", "EP05_09"] and rows[0]["onset"] == "8"


def test_missing_frame_folder_is_a_clear_error(casme2_tree, tmp_path):
    root, _ = casme2_tree
    annotation = tmp_path / "more.xlsx"
    write_xlsx(annotation, [CASME2_HEADER, [1, "EP02_01f", 8, 10, 13, "4", "x"], [5, "EP09_09", 1, 2, 3, "4", "x"]])
    with pytest.raises(VideoReadError, match=r"sub05/EP09_09 \(annotation row 3\) not found at .*sub05"):
        CASME2(root, annotation)
    ds = CASME2(root, annotation, skip_missing=True)
    assert len(ds) == 1 and ds.missing[0][:2] == ("sub05", "EP09_09")
    with pytest.raises(InputError, match="needs its annotation"):
        CASME2(root, None)


def test_samm_header_on_row_14_and_grayscale(tmp_path):
    root = tmp_path / "SAMM"
    write_frames(root / "006" / "006_1_2", [f"006_0{n}.jpg" for n in range(5561, 5567)], gray=True)
    header = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
              "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]
    annotation = tmp_path / "SAMM_Micro_FACS_Codes_v2.xlsx"
    write_xlsx(annotation, [header, [6, "006_1_2", 1, 5562, 5564, 5566, 5, "Micro - 1/2", "R14A", "Contempt", 3, ""]],
               preamble=13)
    assert read_annotation(annotation, required=("subject", "clip", "onset"))[0]["_row"] == 15
    ds = SAMM(root, annotation)
    sample = ds[0]
    assert (sample.subject, sample.clip, sample.onset, sample.apex, sample.offset) == ("006", "006_1_2", 5562, 5564, 5566)
    assert sample.objective_class == "3" and sample.aus == [ActionUnit(14, "R", "A", "R14A")]
    frames = ds.load_frames(sample).frames
    assert frames.shape == (5, 3, 48, 48)
    assert torch.equal(frames[:, 0], frames[:, 1]) and torch.equal(frames[:, 1], frames[:, 2])


def test_smic_midpoint_flagged_and_variants(tmp_path):
    root = tmp_path / "SMIC"
    write_frames(root / "HS" / "s1" / "micro" / "negative" / "s1_ne_01", [f"reg_{n:05d}.bmp" for n in range(1, 6)])
    write_frames(root / "HS" / "s3" / "micro" / "positive" / "s3_po_05", [f"reg_{n:05d}.bmp" for n in range(1, 6)])
    ds = SMIC(root, variant="hs")
    assert ds.name == "SMIC-HS" and ds.fps == 100 and len(ds) == 2
    sample = ds["s1", "s1_ne_01"]
    assert (sample.onset, sample.apex, sample.offset) == (1, 3, 5) and sample.apex_estimated
    assert sample.emotion == "negative" and ds[1].emotion == "positive"
    with pytest.raises(InputError, match="variant must be one of HS, VIS, NIR"):
        SMIC(root, variant="IR")
    with pytest.raises(InputError, match="VIS/s1/micro"):
        SMIC(root, variant="VIS")


def test_casme3_duplicate_names_keyed_by_subject(tmp_path):
    root = tmp_path / "CASME3"
    for subject in ("spNO.1", "spNO.2"):
        write_frames(root / "part_A" / subject / "a" / "color", [f"{n}.jpg" for n in range(6)])
    annotation = tmp_path / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"
    header = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"]
    write_xlsx(annotation, [header, ["spNO.1", "a", 0, 2, 5, "L12", 1, "happy"],
                            ["spNO.2", "a", 0, 3, 4, "4+7", 2, "disgust"],
                            ["spNO.2", "a", 1, 3, 5, "4", 2, "disgust"]], title="label")
    ds = CASME3(root, annotation)
    assert ds["spNO.1", "a"].emotion == "happy" and ds["spNO.1", "a"].fps == 30
    assert [s.onset for s in ds.find("a", subject="spNO.2")] == [0, 1]
    with pytest.raises(InputError, match="2 samples"):
        ds["spNO.2", "a"]
    assert ds.load_frames(ds[1]).frames.shape[0] == 5


def test_mmew_and_generic(tmp_path):
    root = tmp_path / "MMEW"
    write_frames(root / "S03" / "happiness" / "S03-01-002", [f"{n}.jpg" for n in range(1, 7)])
    annotation = tmp_path / "MMEW_Micro_Exp.xlsx"
    write_xlsx(annotation, [CASME2_HEADER, ["S03", "S03-01-002", 1, 4, 6, "6+12", "Happiness"]])
    sample = MMEW(root, annotation)[0]  # emotion spelled differently from the folder: searched
    assert sample.frames_dir.parts[-2:] == ("happiness", "S03-01-002") and sample.fps == 90

    clips = tmp_path / "mine"
    clips.mkdir()
    write_video(clips / "v.mkv", moving_texture(), fps=50, lossless=True)
    table = clips / "labels.csv"
    table.write_text("clip,onset,apex,offset,subject,aus\nv.mkv,0,,5,p1,AU12\n")
    ds = GenericDataset(clips, table, fps=50)
    assert ds[0].apex == 3 and ds[0].apex_estimated and ds[0].subject == "p1"
    assert ds.load_frames(ds[0], start=2, stop=3).frames.shape == (2, 3, 48, 48)
    with pytest.raises(InputError, match="no header row with the columns clip"):
        GenericDataset(clips, _write(tmp_path / "bad.csv", "name,start\nx,1\n"))


def _write(path, text):
    path.write_text(text)
    return path


def test_estimate_apex_index_on_known_motion():
    assert estimate_apex_index(moving_texture([0, 1, 3, 5, 3, 1])) == 3
    assert estimate_apex_index(moving_texture([0])) == 0
