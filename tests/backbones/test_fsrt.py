"""FSRT: exactness against the official golden vectors, loading, chunking, motion and errors.

Tolerance: every golden output is reproduced within 1e-5 (max abs). The golden JSON reports
that running the whole official pipeline in float64 instead of float32 moves the outputs by up
to 1.1e-5, so 1e-5 is at the float32 noise level; measured here: <= 2.2e-6 (encoder tokens),
keypoints / expression vectors bit-exact.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import magplus
from magplus.backbones.fsrt import VOX256, FSRTBackbone, FSRTConfig, FSRTModel
from magplus.backbones.fsrt.convert import convert
from magplus.backbones.fsrt.decoder import FSRTDecoder
from magplus.backbones.fsrt.encoder import FSRTEncoder
from magplus.backbones.fsrt.expression import ExpressionEncoder
from magplus.backbones.fsrt.loading import stored_config
from magplus.cli import main
from magplus.backbones.fsrt.model import pixel_grid
from magplus.backbones.fsrt.motion import best_reference_frame, movement_scale, relative_keypoints
from magplus.errors import CheckpointMismatchError, InputError, ShapeError, WeightsError
from magplus.weights import strip_prefix

TOL = 1e-5
MODULES = ("encoder", "decoder", "expression_encoder")


@functools.lru_cache(maxsize=1)
def _load_case(folder: str):
    golden = Path(folder)
    meta = json.loads((golden / "fsrt_mini.json").read_text())
    tensors = load_file(str(golden / "fsrt_mini.safetensors"))
    mini = meta["mini_config"]
    expression = {k: v for k, v in mini["ExpressionEncoder_kwargs"].items() if k != "in_channels"}
    widths = {o["constant"].rsplit(".", 1)[-1]: o["mini"] for o in mini["hard_coded_width_overrides"]}
    config = FSRTConfig.from_upstream(mini["model"], mini["KPDetector_kwargs"], expression, widths)
    kp_state = strip_prefix(tensors, "state/kp_detector/")
    vox_state = {name: strip_prefix(tensors, f"state/{name}/") for name in MODULES}
    return config, tensors, kp_state, vox_state



@pytest.fixture
def case(golden):
    """(config, tensors, kp_state, vox_state) of the miniature golden case (read once per session)."""
    return _load_case(str(golden))


@pytest.fixture
def model(case):
    config, _, kp_state, vox_state = case
    net = FSRTModel(config).eval()
    net.load_official(kp_state, vox_state)
    return net


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max())


def _backbone(case, **kwargs) -> FSRTBackbone:
    config, _, kp_state, vox_state = case
    return FSRTBackbone(checkpoint=vox_state, kp_checkpoint=kp_state, config=config, show_progress=False, **kwargs)


def test_golden_every_output(case, model):
    _, t, _, _ = case
    with torch.inference_mode():
        assert _max_diff(pixel_grid(64, 64), t["input/idx_grids"][0, 0]) == 0.0
        source = model.encode_source(t["input/source"])
        kp_d, ex_d = model.keypoints_and_expression(t["input/driving"])
        kp_0, ex_0 = model.keypoints_and_expression(t["input/driving_initial"])
        _, feature_map, heatmap = model.detect(t["input/source"])
        results = {
            "kp_source": source.keypoints, "expression_source": source.expression[None],
            "encoder_tokens": source.tokens, "kp_driving": kp_d, "expression_driving": ex_d,
            "kp_driving_initial": kp_0, "expression_driving_initial": ex_0,
            "debug/source/kp_detector/feature_map": feature_map,
            "debug/source/kp_detector/heatmap": heatmap.unsqueeze(2),
        }
        modes = {"absolute": None, "relative": False, "relative_adapt": True}
        for mode, adapt in modes.items():
            kp = kp_d if adapt is None else relative_keypoints(source.keypoints[0], kp_d, kp_0[0], adapt)
            results[f"kp_norm/{mode}"] = kp
            results[f"decoded/{mode}"] = model.decode(source, kp[0], ex_d[0], chunk_size=1000).permute(1, 2, 0)[None]
        subset = pixel_grid(64, 64).reshape(1, -1, 2)[:, ::64]
        results["debug/decoder_subset/queries"] = model.decoder.allocation_transformer.queries(
            subset, results["kp_norm/relative_adapt"], ex_d)
        scale = movement_scale(source.keypoints[0], kp_0[0])
    assert abs(scale - float(t["output/adapt_movement_scale"])) < 1e-6
    for key, value in results.items():
        assert _max_diff(value, t[f"output/{key}"]) <= TOL, key


def test_chunked_decoding_equals_unchunked(case, model):
    _, t, _, _ = case
    with torch.inference_mode():
        source = model.encode_source(t["input/source"])
        kp, ex = t["output/kp_norm/relative"][0], t["output/expression_driving"][0]
        whole = model.decode(source, kp, ex, chunk_size=None)
        for chunk in (61, 333, 4096):
            assert _max_diff(model.decode(source, kp, ex, chunk_size=chunk), whole) <= 1e-6
        # Upstream style: the decoder recomputes the keys/values from the tokens in one call.
        pixels = pixel_grid(64, 64).reshape(1, -1, 2)
        direct = model.decoder(source.tokens, pixels, kp[None], ex[None])
        assert _max_diff(direct.view(64, 64, 3).permute(2, 0, 1), whole) <= 1e-6


def test_backbone_matches_golden_relative_and_absolute(case):
    _, t, _, _ = case
    driving = torch.cat([t["input/driving_initial"], t["input/driving"]])
    expected = {
        (True, True): "relative_adapt", (True, False): "relative", (False, True): "absolute",
    }
    for (relative, adapt), mode in expected.items():
        backbone = _backbone(case, chunk_size=777, adapt_scale=adapt)
        calls = []
        frames = backbone.animate(t["input/source"][0], driving, relative=relative, progress=calls.append)
        assert frames.shape == (2, 3, 64, 64) and sum(calls) == 2
        golden = t[f"output/decoded/{mode}"][0].permute(2, 0, 1).clamp(0, 1)
        assert _max_diff(frames[1], golden) <= TOL, mode


def test_full_size_key_and_shape_parity(golden):
    manifest = json.loads((golden / "fsrt_full_keys.json").read_text())["modules"]
    with torch.device("meta"):  # shapes only, no memory; the detector's blur kernel needs a real device
        parts = {"encoder": FSRTEncoder(VOX256), "decoder": FSRTDecoder(VOX256),
                 "expression_encoder": ExpressionEncoder(VOX256)}
    parts["kp_detector.pt"] = FSRTModel.build_keypoint_detector(VOX256)
    for name, module in parts.items():
        ours = {k: list(v.shape) for k, v in module.state_dict().items()}
        assert ours == manifest[name]["keys"], name


def test_load_from_pt_files_safetensors_and_convert(case, tmp_path):
    _, t, kp_state, vox_state = case
    kp_path, vox_path = tmp_path / "kp_detector.pt", tmp_path / "vox256.pt"
    torch.save({f"module.{k}": v for k, v in kp_state.items()}, kp_path)  # as a DataParallel save
    torch.save({**{k: dict(v) for k, v in vox_state.items()}, "epoch_it": 3, "optimizer": {"state": {}}}, vox_path)
    source, driving = t["input/source"][0], torch.cat([t["input/driving_initial"], t["input/driving"]])
    config = case[0]
    from_pt = FSRTBackbone(str(vox_path), str(kp_path), config=config, show_progress=False).animate(source, driving)

    out_dir = tmp_path / "converted"  # created by the command
    assert main(["convert-weights", "fsrt", str(kp_path), str(vox_path), str(out_dir)]) == 0
    written = [out_dir / "vox256.safetensors", out_dir / "kp_detector.safetensors"]
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(p.name for p in written)
    assert stored_config(written[0]) == VOX256.to_dict() and stored_config(written[1]) is None
    flat = load_file(str(written[0]))
    assert set(flat) == {f"{m}.{k}" for m in MODULES for k in vox_state[m]}
    for module in MODULES:
        for key, value in vox_state[module].items():
            assert torch.equal(flat[f"{module}.{key}"], value)
    kp_round = load_file(str(written[1]))
    assert set(kp_round) == set(kp_state) and all(torch.equal(kp_round[k], v) for k, v in kp_state.items())
    from_st = FSRTBackbone(written[0], written[1], config=config, show_progress=False).animate(source, driving)
    assert torch.equal(from_pt, from_st)
    golden = t["output/decoded/relative_adapt"][0].permute(2, 0, 1).clamp(0, 1)
    assert _max_diff(from_st[1], golden) <= TOL
    with pytest.raises(InputError, match="two model checkpoints"):
        convert([str(vox_path), str(written[0])], str(out_dir))
    two_source = tmp_path / "vox256_2Source.pt"
    two_source.write_bytes(vox_path.read_bytes())
    (converted,) = convert([str(two_source)], str(out_dir))
    assert stored_config(converted)["num_sources"] == 2


def test_strict_load_reports_every_difference(case):
    config, _, kp_state, vox_state = case
    broken = {name: dict(state) for name, state in vox_state.items()}
    broken["decoder"].pop("render_mlp.8.bias")
    broken["decoder"]["extra.weight"] = torch.zeros(1)
    broken["decoder"]["render_mlp.0.weight"] = torch.zeros(3, 3)
    with pytest.raises(CheckpointMismatchError, match="FSRT decoder") as info:
        FSRTModel(config).load_official(kp_state, broken)
    report = info.value.report
    assert report.missing == ["render_mlp.8.bias"] and report.unexpected == ["extra.weight"]
    assert report.mismatched[0][0] == "render_mlp.0.weight"
    with pytest.raises(CheckpointMismatchError, match=r"lacks the state dict\(s\) \['decoder'\]"):
        FSRTModel(config).load_official(kp_state, {k: v for k, v in vox_state.items() if k != "decoder"})
    with pytest.raises(WeightsError, match="kp_detector.pt as --kp-checkpoint"):
        FSRTBackbone(checkpoint=vox_state, kp_checkpoint=vox_state, config=config)


def test_missing_checkpoints_name_the_official_files_and_flags():
    for kwargs in ({}, {"checkpoint": "x.pt"}):
        with pytest.raises(WeightsError, match=r"vox256\.pt.*--checkpoint.*kp_detector\.pt.*--kp-checkpoint"):
            magplus.create_backbone("fsrt", **kwargs)
    with pytest.raises(WeightsError, match="does not exist"):
        FSRTBackbone(checkpoint="/nonexistent/vox256.pt", kp_checkpoint="/nonexistent/kp_detector.pt")


def test_two_identical_sources_equal_one_source(model):
    """Attention over a duplicated token set gives the same weighted average: a multi-source check."""
    torch.manual_seed(1)
    image = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        one, two = model.encode_source(image), model.encode_source(image.expand(2, -1, -1, -1))
        assert two.tokens.shape == (1, 2 * one.tokens.shape[1], one.tokens.shape[2])
        kp, ex = one.keypoints[0] + 0.05, one.expression[0]
        assert _max_diff(model.decode(two, kp, ex, chunk_size=2048), model.decode(one, kp, ex, chunk_size=2048)) <= TOL


def test_render_size_upsamples_and_inputs_are_checked(case):
    _, t, _, _ = case
    backbone = _backbone(case, render_size=32)
    driving = torch.cat([t["input/driving_initial"], t["input/driving"]])
    frames = backbone.animate(t["input/source"][0], driving)
    full = t["output/decoded/relative_adapt"][0].permute(2, 0, 1).clamp(0, 1)
    assert frames.shape == (2, 3, 64, 64)
    assert 0 < float((frames[1] - full).abs().mean()) < 0.1  # approximate, not identical
    with pytest.raises(ShapeError, match="square"):
        backbone.extract_motion(torch.rand(1, 3, 64, 48))
    with pytest.raises(ShapeError, match=r"values must lie in \[0, 1\]"):
        backbone.prepare_source(torch.rand(3, 64, 64) * 3)
    fast = _backbone(case, precision="bfloat16").animate(t["input/source"][0], driving)
    assert fast.dtype == torch.float32 and 0 < _max_diff(fast[1], full) < 0.05  # bfloat16: approximate
    for bad in ({"chunk_size": 0}, {"render_size": 2}, {"precision": "half"}):
        with pytest.raises(InputError, match=next(iter(bad))):
            _backbone(case, **bad)


def test_relative_keypoints_and_best_reference_frame():
    source = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    reference = source * 2
    driving = torch.stack([reference, reference + torch.tensor([0.2, 0.0])])
    moved = relative_keypoints(source, driving, reference, adapt_scale=True)
    assert torch.allclose(moved[0], source) and torch.allclose(moved[1], source + torch.tensor([0.1, 0.0]))
    assert torch.allclose(relative_keypoints(source, driving, reference, adapt_scale=False)[1],
                          source + torch.tensor([0.2, 0.0]))
    rng = np.random.default_rng(0)
    shape = rng.normal(size=(30, 2))
    candidates = np.stack([shape + rng.normal(scale=0.3, size=shape.shape), shape * 3 + 5, shape[::-1]])
    assert best_reference_frame(shape, candidates) == 1  # same shape, other scale and position
    with pytest.raises(InputError, match="same N"):
        best_reference_frame(shape, candidates[:, :10])
    with pytest.raises(InputError, match="convex hull"):
        movement_scale(torch.zeros(3, 2), torch.zeros(3, 2))


def test_find_best_frame_uses_the_best_matching_driving_frame_as_reference(case, monkeypatch):
    import magplus.face.landmarks as landmarks

    _, t, _, _ = case
    driving = torch.cat([t["input/driving_initial"], t["input/driving"], t["input/source"]])
    shape = np.random.default_rng(0).normal(size=(20, 2))
    others = np.random.default_rng(1).normal(size=(2, 20, 2))
    monkeypatch.setattr(landmarks, "detect_landmarks", lambda image: shape)
    monkeypatch.setattr(landmarks, "detect_landmarks_batch", lambda frames: np.stack([*others, shape * 2 + 1]))
    backbone = _backbone(case, find_best_frame=True)
    frames = backbone.animate(t["input/source"][0], driving)
    motion = backbone.extract_motion(driving)
    expected = backbone.render(backbone.prepare_source(t["input/source"][0]), motion, reference=motion[2])
    first = backbone.render(backbone.prepare_source(t["input/source"][0]), motion)
    assert torch.equal(frames, expected) and not torch.equal(frames, first)
