"""LivePortrait weights: the official folder layout (.pth, ``module.`` prefixes, sub-folders), the
safetensors conversion, strict loading with a key report, and the error paths of the CLI."""

from __future__ import annotations

import json

import pytest
import torch
from golden_parity import load_case

from magplus import create_backbone
from magplus.backbones.liveportrait.config import BASE_NETWORKS
from magplus.backbones.liveportrait.loading import STITCHING_ENTRIES, read_weights
from magplus.cli import main as cli_main
from magplus.errors import CheckpointMismatchError, InputError, WeightsError
from magplus.weights import strip_prefix


@pytest.fixture
def case(golden):
    return load_case(str(golden), "liveportrait")


def write_official_folder(case, root, subfolders: bool = True):
    """The golden weights saved as the official download lays them out."""
    base = root / "base_models" if subfolders else root
    retarget = root / "retargeting_models" if subfolders else root
    base.mkdir(parents=True, exist_ok=True)
    retarget.mkdir(parents=True, exist_ok=True)
    for name in BASE_NETWORKS:
        torch.save(strip_prefix(case.tensors, f"state/{name}/"), base / f"{name}.pth")
    mlps = {entry: {f"module.{k}": v for k, v in strip_prefix(case.tensors, f"state/{name}/").items()}
            for name, entry in STITCHING_ENTRIES.items()}
    torch.save(mlps, retarget / "stitching_retargeting_module.pth")
    config = root / "models.json"
    config.write_text(json.dumps({"model_params": case.meta["mini_config"]}))
    return config


def _animate(backbone, case):
    return backbone.animate(case.tensors["input/source"][0], case.tensors["input/driving"])


@pytest.mark.parametrize("subfolders", [True, False])
def test_official_folder_loads_and_reproduces_golden(case, tmp_path, subfolders):
    config = write_official_folder(case, tmp_path, subfolders)
    backbone = create_backbone("liveportrait", weights_dir=tmp_path, config=config, input_size=None, native_output=True)
    case.check("prediction", _animate(backbone, case))


def test_convert_weights_round_trip(case, tmp_path, capsys):
    config = write_official_folder(case, tmp_path / "official")
    assert cli_main(["convert-weights", "liveportrait", str(tmp_path / "official"), str(config), str(tmp_path / "out")]) == 0
    written = capsys.readouterr().out.split()
    assert [p.rsplit("/", 1)[-1] for p in written] == ["liveportrait.safetensors", "liveportrait.json"]
    card = json.loads((tmp_path / "out" / "liveportrait.json").read_text())
    assert len(card["converted_from"]) == 5 and all(len(h) == 64 for h in card["converted_from"].values())
    # The config travels in the safetensors metadata; the folder or the file both work (--weights DIR).
    converted = create_backbone("liveportrait", weights=tmp_path / "out", input_size=None, native_output=True)
    original = create_backbone("liveportrait", weights_dir=tmp_path / "official", config=config, input_size=None,
                               native_output=True)
    assert torch.equal(_animate(converted, case), _animate(original, case))


def test_strict_loading_reports_missing_unexpected_and_wrong_shape_keys(case, tmp_path):
    config = write_official_folder(case, tmp_path)
    path = tmp_path / "base_models" / "warping_module.pth"
    state = torch.load(path, weights_only=True)
    state.pop("fourth.bias")
    state["extra.weight"] = torch.zeros(1)
    state["third.conv.bias"] = torch.zeros(3)
    torch.save(state, path)
    with pytest.raises(CheckpointMismatchError) as info:
        create_backbone("liveportrait", weights_dir=tmp_path, config=config)
    message = str(info.value)
    assert "warping_module" in message and "1 missing: fourth.bias" in message and "1 unexpected: extra.weight" in message
    assert "third.conv.bias (checkpoint [3] vs model [16])" in message
    report = info.value.report
    assert report.missing == ["fourth.bias"] and report.unexpected == ["extra.weight"]


def test_pickles_are_read_weights_only(case, tmp_path):
    config = write_official_folder(case, tmp_path)
    torch.save({"model": object()}, tmp_path / "base_models" / "spade_generator.pth")
    with pytest.raises(WeightsError, match="weights_only=True"):
        create_backbone("liveportrait", weights_dir=tmp_path, config=config)


def test_missing_files_name_the_file_and_the_flag(case, tmp_path):
    with pytest.raises(WeightsError, match=r"--weights DIR"):
        create_backbone("liveportrait")
    with pytest.raises(WeightsError, match=r"does not exist.*--weights DIR"):
        create_backbone("liveportrait", weights_dir=tmp_path / "nowhere")
    config = write_official_folder(case, tmp_path)
    (tmp_path / "retargeting_models" / "stitching_retargeting_module.pth").unlink()
    with pytest.raises(WeightsError, match=r"stitching_retargeting_module\.pth.*stitching=False.*--weights DIR"):
        create_backbone("liveportrait", weights_dir=tmp_path, config=config)
    # Without stitching that file is not needed.
    backbone = create_backbone("liveportrait", weights_dir=tmp_path, config=config, stitching=False)
    assert backbone.networks.stitching is None
    (tmp_path / "base_models" / "motion_extractor.pth").unlink()
    with pytest.raises(WeightsError, match=r"motion_extractor\.pth, which is not in .*--weights DIR"):
        read_weights(tmp_path)


def test_stitching_file_without_its_entries_is_refused(case, tmp_path):
    config = write_official_folder(case, tmp_path)
    torch.save({"retarget_shoulder": {}}, tmp_path / "retargeting_models" / "stitching_retargeting_module.pth")
    with pytest.raises(WeightsError, match="lacks the entries"):
        create_backbone("liveportrait", weights_dir=tmp_path, config=config)


def test_conflicting_weight_arguments(tmp_path):
    with pytest.raises(InputError, match="give the LivePortrait weights once"):
        create_backbone("liveportrait", weights_dir=tmp_path / "a", weights=tmp_path / "b")


def test_convert_weights_cli_errors(case, tmp_path, capsys):
    assert cli_main(["convert-weights", "liveportrait", str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli_main(["convert-weights", "liveportrait", str(tmp_path / "empty"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "appearance_feature_extractor.pth" in err and "--weights DIR" in err
    assert not (tmp_path / "out").exists()
    # Weights that do not fit the default (full-size) architecture: strict failure, nothing written.
    write_official_folder(case, tmp_path / "mini")
    assert cli_main(["convert-weights", "liveportrait", str(tmp_path / "mini"), str(tmp_path / "out")]) == 2
    assert "does not match the LivePortrait" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_reenact_cli_names_the_weights_flag(tmp_path, capsys):
    from magplus.io import write_image, write_video
    from magplus.synth import default_face

    face = torch.nn.functional.interpolate(default_face()[None], size=(96, 96), mode="bilinear", antialias=True)[0]
    write_image(tmp_path / "face.png", face.clamp(0, 1))
    write_video(tmp_path / "drive.mkv", face.clamp(0, 1)[None].repeat(2, 1, 1, 1), fps=30, lossless=True)
    base = ["reenact", "--source", str(tmp_path / "face.png"), "--driving", str(tmp_path / "drive.mkv"),
            "-o", str(tmp_path / "out.mp4"), "--backbone", "liveportrait", "--resolution", "96"]
    assert cli_main(base) == 2
    assert "--weights DIR" in capsys.readouterr().err
    assert cli_main(base + ["--weights", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "nowhere' does not exist" in err and "--weights DIR" in err
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("options, pattern", [
    ({"batch_size": 0}, "batch_size must be an integer >= 1"),
    ({"driving_multiplier": -1.0}, "driving_multiplier must be a finite number > 0"),
])
def test_bad_options_fail_before_any_weights_are_read(tmp_path, options, pattern):
    with pytest.raises(InputError, match=pattern):
        create_backbone("liveportrait", weights_dir=tmp_path / "nowhere", **options)


def test_input_size_must_fit_the_architecture(case, tmp_path):
    config = write_official_folder(case, tmp_path)
    with pytest.raises(InputError, match="input_size must be a multiple of 32"):
        create_backbone("liveportrait", weights_dir=tmp_path, config=config, input_size=48)
