"""Face training data: AU programs on augmented faces (MagPlus) and backbone-output pairs (DeMagPlus)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from magplus.errors import InputError
from magplus.ops.warp import backward_warp
from magplus.train.backbone_pairs import demagnify_scene, mapped_program
from magplus.train.config import TrainConfig
from magplus.train.face_data import FaceBank, build_bank, exact_demagnify_scene, magnify_scene
from magplus.train.loop import make_batch


@pytest.fixture(scope="module")
def scene() -> dict:
    return magnify_scene(5, ["astronaut"], alpha_max=48.0, pairs=3)


def test_magnify_scene_is_deterministic_and_its_field_explains_the_target(scene):
    again = magnify_scene(5, ["astronaut"], alpha_max=48.0, pairs=3)
    assert all(torch.equal(scene[k], again[k]) for k in scene)
    assert scene["frames"].shape == scene["targets"].shape == (3, 3, 128, 128) and scene["ref"].dtype == torch.uint8
    alpha = float(scene["alpha"][0])
    assert 1.0 <= alpha <= 48.0
    frames, targets = scene["frames"].float() / 255, scene["targets"].float() / 255
    moved = (frames - targets).abs().mean()
    oracle = (backward_warp(frames, scene["field"].float()) - targets).abs().mean()
    # First-order exact field (the target is α× the frame's motion): it must explain most of the change.
    assert moved > 1 / 255 and oracle < 0.6 * moved


def test_face_bank_items_crop_flip_and_noise(scene, tmp_path):
    bank = FaceBank([scene], size=64, seed=1)
    batch = make_batch(bank, list(range(6)))
    assert batch["ref"].shape == (6, 3, 64, 64) and batch["field"].shape == (6, 2, 64, 64)
    assert torch.equal(make_batch(FaceBank([scene], size=64, seed=1), [3])["frame"][0], batch["frame"][3])
    # Flips move the field with the pixels: warping by it still beats doing nothing on every item.
    oracle = (backward_warp(batch["frame"], batch["field"]) - batch["target"]).abs().flatten(1).mean(1)
    identity = (batch["frame"] - batch["target"]).abs().flatten(1).mean(1)
    assert bool((oracle < identity).all())
    calls = []
    make = lambda seed: calls.append(seed) or scene  # noqa: E731
    first = build_bank(make, 2, seed=4, key="k", cache=tmp_path / "bank.pt")
    again = build_bank(make, 2, seed=4, key="k", cache=tmp_path / "bank.pt")
    assert len(calls) == 2 and torch.equal(first[1]["frames"], again[1]["frames"])  # second call read the cache
    build_bank(make, 2, seed=4, key="other", cache=tmp_path / "bank.pt")
    assert len(calls) == 4  # another key rebuilds
    with pytest.raises(InputError, match="exceeds the stored window"):
        FaceBank([scene], size=256)


def test_exact_demagnify_scene_swaps_input_and_target(scene):
    demag = exact_demagnify_scene(5, ["astronaut"], alpha_max=48.0, pairs=3)
    assert torch.equal(demag["frames"], scene["targets"]) and torch.equal(demag["targets"], scene["frames"])
    assert torch.allclose(demag["alpha"], 1 / scene["alpha"]) and torch.equal(demag["field"], -scene["field"])


def test_mapped_program_scales_amplitudes_and_turns_the_drift():
    from magplus.synth import sample_program

    program = sample_program(3, fps=30, drift_px=(1.0, 0.0), amplitude_px=1.0, aus=[12])
    quarter = np.array([[0.0, -1.0], [1.0, 0.0]])
    mapped = mapped_program(program, 2.0, quarter)
    assert mapped.events[0].amplitude_px == pytest.approx(2.0)
    assert mapped.drift_px == pytest.approx((0.0, 2.0))
    assert program.events[0].amplitude_px == pytest.approx(1.0)  # the original is untouched


class EchoBackbone:
    """A stand-in backbone that returns the driving frames (so the test sees the plumbing only)."""

    def animate(self, source, driving):
        return driving


def test_demagnify_scene_pairs_backbone_output_with_the_renderers_truth():
    scene = demagnify_scene(9, ["astronaut"], alpha_max=24.0, backbone=EchoBackbone(), pairs=3)
    assert scene["frames"].shape == scene["targets"].shape == (3, 3, 128, 128)
    assert float(scene["alpha"][0]) <= 1.0 and float(scene["field_valid"].sum()) == 0
    # Input: the (echoed) α× driving clip on the driver; target: the renderer's 1× clip on the source.
    assert not torch.equal(scene["frames"], scene["targets"]) and scene["ref"].dtype == torch.uint8


def test_stabilised_programs_have_no_drift_and_are_otherwise_the_same():
    from magplus.train.face_data import sample_face_program

    drifting = [sample_face_program(torch.Generator().manual_seed(s), 10.0) for s in range(12)]
    steady = [sample_face_program(torch.Generator().manual_seed(s), 10.0, drift=False) for s in range(12)]
    assert any(np.hypot(*p.drift_px) > 0.1 for p in drifting)  # the default draws drift in most programs
    assert all(p.drift_px == (0.0, 0.0) for p in steady)
    assert [p.events for p in steady] == [p.events for p in drifting]  # same draws otherwise


def test_config_validates_faces_backbone_and_device():
    assert TrainConfig(faces="astronaut, grace_hopper").faces == ["astronaut", "grace_hopper"]
    with pytest.raises(InputError, match="unknown faces"):
        TrainConfig(faces=["mona_lisa"])
    with pytest.raises(InputError, match="backbone pairs"):
        TrainConfig(kind="magplus", faces=["astronaut"], backbone="landmark-warp")
    with pytest.raises(InputError, match="device"):
        TrainConfig(device="tpu")
    with pytest.raises(InputError, match="stabilised applies"):
        TrainConfig(kind="demagplus", faces=["astronaut"], stabilised=True)
    with pytest.raises(InputError, match="alpha_max"):
        TrainConfig(alpha_max=1.0)
