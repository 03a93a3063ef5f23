"""FSRT on a random miniature (fsrt_mini.py): loading, conversion, chunking, precision, sources,
reference frames and errors. Parity with the official code is in test_fsrt_golden.py.

Tolerance of the float32 comparisons that are not bit-exact by construction (chunked vs whole
decoding, one vs two identical sources): max(1e-5 x magnitude, 8 x the float32-vs-float64 spread
measured on the same inputs) (golden_parity.spread_tolerance). Measured here: chunking is bit-exact,
the float64 spread of a decoded frame is 3.6e-7 to 4.6e-7.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fsrt_mini import MINI, SIZE, mini_frames, mini_states
from golden_parity import spread_tolerance
from safetensors.torch import load_file

import magplus
from magplus.backbones.fsrt import VOX256, FSRTBackbone, FSRTModel
from magplus.backbones.fsrt.convert import convert
from magplus.backbones.fsrt.loading import stored_config
from magplus.backbones.fsrt.model import pixel_grid
from magplus.backbones.fsrt.motion import best_reference_frame, movement_scale, relative_keypoints
from magplus.cli import main
from magplus.errors import CheckpointMismatchError, InputError, ShapeError, WeightsError

MODULES = ("encoder", "decoder", "expression_encoder")


@pytest.fixture(scope="module")
def states():
    """(kp_state, vox_state) of the random miniature."""
    return mini_states()


@pytest.fixture
def model(states):
    net = FSRTModel(MINI).eval()
    net.load_official(*states)
    return net


@pytest.fixture(scope="module")
def frames() -> torch.Tensor:
    """Source (index 0) and three driving frames, (4, 3, SIZE, SIZE)."""
    return mini_frames(4, seed=5)


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max())


def _backbone(states, **kwargs) -> FSRTBackbone:
    kp_state, vox_state = states
    return FSRTBackbone(checkpoint=vox_state, kp_checkpoint=kp_state, config=MINI, show_progress=False, **kwargs)


def test_chunked_decoding_equals_unchunked(model, frames):
    with torch.inference_mode():
        source = model.encode_source(frames[:1])
        kp, ex = model.keypoints_and_expression(frames[1:2])
        kp, ex = kp[0], ex[0]
        whole = model.decode(source, kp, ex, chunk_size=None)
        exact = model.double().decode(model.encode_source(frames[:1].double()), kp.double(), ex.double(), chunk_size=None)
        model.float()
        tolerance = spread_tolerance(whole, exact)
        assert 0.1 < float(whole.std()) and tolerance < 1e-4  # a real image, and a float32-level bound
        for chunk in (61, 333, 4096):
            assert _max_diff(model.decode(source, kp, ex, chunk_size=chunk), whole) <= tolerance, chunk
        # Upstream style: the decoder recomputes the keys/values from the tokens in one call.
        pixels = pixel_grid(SIZE, SIZE).reshape(1, -1, 2)
        direct = model.decoder(source.tokens, pixels, kp[None], ex[None])
        assert _max_diff(direct.view(SIZE, SIZE, 3).permute(2, 0, 1), whole) <= tolerance


def test_load_from_pt_files_safetensors_and_convert(states, frames, tmp_path):
    kp_state, vox_state = states
    kp_path, vox_path = tmp_path / "kp_detector.pt", tmp_path / "vox256.pt"
    torch.save({f"module.{k}": v for k, v in kp_state.items()}, kp_path)  # as a DataParallel save
    torch.save({**{k: dict(v) for k, v in vox_state.items()}, "epoch_it": 3, "optimizer": {"state": {}}}, vox_path)
    source, driving = frames[0], frames[1:]
    from_pt = FSRTBackbone(str(vox_path), str(kp_path), config=MINI, show_progress=False).animate(source, driving)
    assert torch.equal(from_pt, _backbone(states).animate(source, driving))  # the files hold the same model

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
    from_st = FSRTBackbone(written[0], written[1], config=MINI, show_progress=False).animate(source, driving)
    assert torch.equal(from_pt, from_st)
    with pytest.raises(InputError, match="two model checkpoints"):
        convert([str(vox_path), str(written[0])], str(out_dir))
    two_source = tmp_path / "vox256_2Source.pt"
    two_source.write_bytes(vox_path.read_bytes())
    (converted,) = convert([str(two_source)], str(out_dir))
    assert stored_config(converted)["num_sources"] == 2


def test_strict_load_reports_every_difference(states):
    kp_state, vox_state = states
    broken = {name: dict(state) for name, state in vox_state.items()}
    broken["decoder"].pop("render_mlp.8.bias")
    broken["decoder"]["extra.weight"] = torch.zeros(1)
    broken["decoder"]["render_mlp.0.weight"] = torch.zeros(3, 3)
    with pytest.raises(CheckpointMismatchError, match="FSRT decoder") as info:
        FSRTModel(MINI).load_official(kp_state, broken)
    report = info.value.report
    assert report.missing == ["render_mlp.8.bias"] and report.unexpected == ["extra.weight"]
    assert report.mismatched[0][0] == "render_mlp.0.weight"
    with pytest.raises(CheckpointMismatchError, match=r"lacks the state dict\(s\) \['decoder'\]"):
        FSRTModel(MINI).load_official(kp_state, {k: v for k, v in vox_state.items() if k != "decoder"})
    with pytest.raises(WeightsError, match="kp_detector.pt as --kp-checkpoint"):
        FSRTBackbone(checkpoint=vox_state, kp_checkpoint=vox_state, config=MINI)


def test_missing_checkpoints_name_the_official_files_and_flags():
    for kwargs in ({}, {"checkpoint": "x.pt"}):
        with pytest.raises(WeightsError, match=r"vox256\.pt.*--checkpoint.*kp_detector\.pt.*--kp-checkpoint"):
            magplus.create_backbone("fsrt", **kwargs)
    with pytest.raises(WeightsError, match="does not exist"):
        FSRTBackbone(checkpoint="/nonexistent/vox256.pt", kp_checkpoint="/nonexistent/kp_detector.pt")


def test_two_identical_sources_equal_one_source(model, frames):
    """Attention over a duplicated token set gives the same weighted average: a multi-source check."""
    image = frames[:1]
    with torch.inference_mode():
        one, two = model.encode_source(image), model.encode_source(image.expand(2, -1, -1, -1))
        assert two.tokens.shape == (1, 2 * one.tokens.shape[1], one.tokens.shape[2])
        kp, ex = one.keypoints[0] + 0.05, one.expression[0]
        single = model.decode(one, kp, ex, chunk_size=2048)
        exact = model.double().decode(model.encode_source(image.double()), kp.double(), ex.double(), chunk_size=2048)
        model.float()
        assert _max_diff(model.decode(two, kp, ex, chunk_size=2048), single) <= spread_tolerance(single, exact)
        # ... and a different second source does change the result (the second token set is used).
        other = model.encode_source(torch.cat([image, frames[3:4]]))
        assert _max_diff(model.decode(other, kp, ex, chunk_size=2048), single) > 1e-3


def test_render_size_upsamples_and_inputs_are_checked(states, frames):
    source, driving = frames[0], frames[1:]
    full = _backbone(states).animate(source, driving)
    coarse = _backbone(states, render_size=SIZE // 2).animate(source, driving)
    assert coarse.shape == full.shape == (3, 3, SIZE, SIZE)
    # Measured: mean |coarse - full| 0.003 on frames of std 0.21: approximate, not identical, not unrelated.
    assert 1e-3 < float((coarse - full).abs().mean()) < 0.05
    backbone = _backbone(states)
    with pytest.raises(ShapeError, match="square"):
        backbone.extract_motion(torch.rand(1, 3, SIZE, SIZE - 8))
    with pytest.raises(ShapeError, match=r"values must lie in \[0, 1\]"):
        backbone.prepare_source(torch.rand(3, SIZE, SIZE) * 3)
    fast = _backbone(states, precision="bfloat16").animate(source, driving)
    # bfloat16 keeps 8 bits of mantissa: measured max |fast - full| 0.009; it is really bfloat16 (> 1e-4).
    assert fast.dtype == torch.float32 and 1e-4 < _max_diff(fast, full) < 0.05
    for bad in ({"chunk_size": 0}, {"render_size": 2}, {"precision": "half"}):
        with pytest.raises(InputError, match=next(iter(bad))):
            _backbone(states, **bad)


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


def test_find_best_frame_uses_the_best_matching_driving_frame_as_reference(states, frames, monkeypatch):
    import magplus.face.landmarks as landmarks

    source, driving = frames[0], frames[1:]
    shape = np.random.default_rng(0).normal(size=(20, 2))
    others = np.random.default_rng(1).normal(size=(2, 20, 2))
    monkeypatch.setattr(landmarks, "detect_landmarks", lambda image: shape)
    monkeypatch.setattr(landmarks, "detect_landmarks_batch", lambda frames: np.stack([*others, shape * 2 + 1]))
    backbone = _backbone(states, find_best_frame=True)
    out = backbone.animate(source, driving)
    motion = backbone.extract_motion(driving)
    expected = backbone.render(backbone.prepare_source(source), motion, reference=motion[2])
    first = backbone.render(backbone.prepare_source(source), motion)
    assert torch.equal(out, expected) and _max_diff(out, first) > 1e-3
