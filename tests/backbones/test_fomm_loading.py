"""FOMM checkpoint formats, strict loading, unsafe pickles, config files and convert-weights."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from fomm_mini import MINI

from magplus.backbones.fomm import FOMMBackbone
from magplus.backbones.fomm.config import build_modules, load_config
from magplus.cli import main as cli_main
from magplus.cli.convert_weights import load_converter
from magplus.errors import CheckpointMismatchError, DependencyError, InputError, WeightsError



@pytest.fixture
def states():
    kp_detector, generator = build_modules(MINI)
    return generator.state_dict(), kp_detector.state_dict()


def _frames(seed: int = 1, count: int = 2) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 3, 4, 4, generator=gen)
    return torch.nn.functional.interpolate(coarse, size=(32, 32), mode="bilinear").clamp(0, 1)


def _reference_output(states) -> torch.Tensor:
    backbone = FOMMBackbone.from_state_dicts(*states, config=MINI)
    frames = _frames()
    return backbone.animate(frames[0], frames)


def test_official_pth_tar_layout_loads_and_ignores_training_state(tmp_path, states):
    generator_state, kp_state = states
    path = tmp_path / "vox-cpk.pth.tar"
    torch.save({"generator": generator_state, "kp_detector": kp_state, "discriminator": {"x": torch.zeros(1)},
                "optimizer_generator": {"state": {}, "param_groups": [{"lr": 2e-4}]}, "epoch": 99}, path)
    backbone = FOMMBackbone(checkpoint=path, config=MINI)
    frames = _frames()
    assert torch.equal(backbone.animate(frames[0], frames), _reference_output(states))


def test_flat_safetensors_and_module_prefix_load(tmp_path, states):
    from safetensors.torch import save_file

    generator_state, kp_state = states
    flat = {f"generator.module.{k}": v for k, v in generator_state.items()}
    flat.update({f"kp_detector.{k}": v for k, v in kp_state.items()})
    path = tmp_path / "fomm.safetensors"
    save_file(flat, str(path), metadata={"config": json.dumps(MINI)})
    backbone = FOMMBackbone(checkpoint=path)  # config read from the metadata
    frames = _frames()
    assert torch.equal(backbone.animate(frames[0], frames), _reference_output(states))


def test_strict_failure_lists_missing_unexpected_and_wrong_shape(states):
    generator_state, kp_state = (dict(s) for s in states)
    generator_state.pop("final.bias")
    generator_state["extra.weight"] = torch.zeros(1)
    kp_state["kp.weight"] = torch.zeros(1, 2, 3, 3)
    with pytest.raises(CheckpointMismatchError, match=r"1 missing: final\.bias; 1 unexpected: extra\.weight") as info:
        FOMMBackbone.from_state_dicts(generator_state, states[1], config=MINI)
    assert info.value.report.missing == ["final.bias"]
    with pytest.raises(CheckpointMismatchError, match=r"wrong shape: kp\.weight \(checkpoint \[1, 2, 3, 3\]"):
        FOMMBackbone.from_state_dicts(states[0], kp_state, config=MINI)


def test_unsafe_pickle_is_refused(tmp_path, states):
    path = tmp_path / "unsafe.pth.tar"
    torch.save({"generator": states[0], "kp_detector": states[1], "args": argparse.Namespace(x=1)}, path)
    with pytest.raises(WeightsError, match="weights_only=True"):
        FOMMBackbone(checkpoint=path, config=MINI)


def test_missing_checkpoint_names_official_file_and_flag(tmp_path):
    for missing in (None, tmp_path / "nope.pth.tar"):
        with pytest.raises(WeightsError, match=r"vox-cpk\.pth\.tar.*--checkpoint"):
            FOMMBackbone(checkpoint=missing)


def test_wrong_layout_is_explained(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"model": {"w": torch.zeros(1)}}, path)
    with pytest.raises(WeightsError, match="no 'generator' and 'kp_detector'.*seen: model"):
        FOMMBackbone(checkpoint=path)


def test_official_yaml_config_is_read(tmp_path):
    import yaml

    path = tmp_path / "vox-256.yaml"
    path.write_text(yaml.safe_dump({"dataset_params": {"frame_shape": [256, 256, 3]}, "model_params": MINI}))
    assert load_config(path) == MINI
    assert load_config(None)["common_params"]["num_kp"] == 10
    with pytest.raises(InputError, match="lacks generator_params"):
        load_config({"model_params": {"common_params": {}, "kp_detector_params": {}}})
    with pytest.raises(InputError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_convert_weights_round_trip(tmp_path, states, capsys):
    import yaml

    checkpoint, config = tmp_path / "vox-cpk.pth.tar", tmp_path / "vox-256.yaml"
    torch.save({"generator": states[0], "kp_detector": states[1], "epoch": 3}, checkpoint)
    config.write_text(yaml.safe_dump({"model_params": MINI}))
    assert cli_main(["convert-weights", "fomm", str(checkpoint), str(config), str(tmp_path / "out")]) == 0
    written = capsys.readouterr().out.split()
    assert [p.rsplit("/", 1)[-1] for p in written] == ["fomm.safetensors", "fomm.json"]
    card = json.loads((tmp_path / "out" / "fomm.json").read_text())
    assert card["model_params"] == MINI and len(card["source_sha256"]) == 64
    backbone = FOMMBackbone(checkpoint=tmp_path / "out" / "fomm.safetensors")
    frames = _frames()
    assert torch.equal(backbone.animate(frames[0], frames), _reference_output(states))


def test_convert_weights_errors(tmp_path, states, capsys):
    import yaml

    checkpoint, config = tmp_path / "ck.pth.tar", tmp_path / "other.yaml"
    torch.save({"generator": states[0], "kp_detector": states[1]}, checkpoint)
    other = json.loads(json.dumps(MINI))
    other["common_params"]["num_kp"] = 4
    config.write_text(yaml.safe_dump({"model_params": other}))
    # A config that does not fit the weights: strict failure, exit 2, nothing written.
    assert cli_main(["convert-weights", "fomm", str(checkpoint), str(config), str(tmp_path / "out")]) == 2
    assert "does not match the FOMM" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    with pytest.raises(DependencyError, match="no weight converter for backbone 'nonexistent'"):
        load_converter("nonexistent")
