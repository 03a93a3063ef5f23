"""Training: data determinism and ground truth, config, loss decrease, resume, TTA, DDP smoke test."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from magplus.errors import InputError
from magplus.magnify.nets import MagNet, MagNetConfig
from magplus.ops.warp import backward_warp
from magplus.train.config import TrainConfig
from magplus.train.data import DEMAGNIFY_RANGE, MAGNIFY_RANGE, MotionRange, SyntheticPairs, load_skimage_photos
from magplus.train.loop import make_batch, train, training_step

TINY_NET = {"width": 4, "blocks": 1}


@pytest.fixture(scope="module")
def photos() -> list[torch.Tensor]:
    return load_skimage_photos(["camera", "coffee"])


def test_samples_are_deterministic_and_consistent(photos):
    data = SyntheticPairs(photos, MAGNIFY_RANGE, size=32, seed=3)
    a, b = data[5], SyntheticPairs(photos, MAGNIFY_RANGE, size=32, seed=3)[5]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["frame"], data[6]["frame"])
    assert a["ref"].shape == (3, 32, 32) and a["field"].shape == (2, 32, 32)
    assert 1.0 <= float(a["alpha"]) <= 32.0
    assert 1 / 32 <= float(SyntheticPairs(photos, DEMAGNIFY_RANGE, size=32, seed=3)[5]["alpha"]) <= 1.0


def test_ground_truth_field_explains_the_target(photos):
    """Warping the frame by the returned field reproduces the target far better than doing nothing."""
    data = SyntheticPairs(photos, MAGNIFY_RANGE, size=64, seed=1, max_noise=0.0)
    batch = make_batch(data, list(range(16)))
    oracle = (backward_warp(batch["frame"], batch["field"]) - batch["target"]).abs().mean()
    identity = (batch["frame"] - batch["target"]).abs().mean()
    assert oracle < 0.6 * identity


def test_translation_share_moves_whole_crops_and_keeps_the_other_samples(photos):
    """translation_fraction=1 gives constant fields; 0 leaves every sample of the old recipe unchanged."""
    moved = SyntheticPairs(photos, MAGNIFY_RANGE, size=32, seed=4, translation_fraction=1.0)
    fields = [moved[i]["field"] for i in range(6)]
    moving = [f for f in fields if float(f.abs().max()) > 0]  # still pairs (8 %) have no field at all
    assert moving and all(float((f - f[:, :1, :1]).abs().max()) == 0 for f in moving)
    old, zero_share = SyntheticPairs(photos, MAGNIFY_RANGE, size=32, seed=4), \
        SyntheticPairs(photos, MAGNIFY_RANGE, size=32, seed=4, translation_fraction=0.0)
    assert all(torch.equal(old[i][k], zero_share[i][k]) for i in range(3) for k in old[i])
    with pytest.raises(InputError, match="translation_fraction"):
        SyntheticPairs(photos, MAGNIFY_RANGE, size=32, translation_fraction=1.5)


def test_config_file_overrides_and_errors(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("kind: demagplus\nsteps: 7\nnet: {width: 8}\nloss: {field: 0.5}\n")
    config = TrainConfig.from_file(path, steps=9, **{"loss.flow": 0.25})
    assert (config.steps, config.net.width, config.loss.field, config.loss.flow) == (9, 8, 0.5, 0.25)
    assert config.net.invert_code is True
    path.write_text("stepz: 3\n")
    with pytest.raises(InputError, match="unknown config keys"):
        TrainConfig.from_file(path)
    with pytest.raises(InputError, match="multiple of 8"):
        TrainConfig(size=30)


def test_a_few_steps_reduce_the_loss(photos):
    torch.manual_seed(0)
    config = TrainConfig(size=32, batch=8, net=MagNetConfig(**TINY_NET))
    data = SyntheticPairs(photos, MotionRange(4.0, 4.0, 2.0, 4.0, amp_of_output=True, still_fraction=0.0), size=32,
                          seed=0, max_noise=0.0)
    batch = make_batch(data, list(range(8)))
    model = MagNet(config.net)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        loss, _ = training_step(model, batch, config)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    # A tiny net improves slowly but steadily on a fixed batch; broken gradients would not move it.
    assert losses[-1] < 0.985 * losses[0] and sum(losses[-3:]) < sum(losses[:3])


def test_fine_tuning_reduces_a_held_out_loss():
    """20 steps from the shipped MagPlus weights on training photos at α 60-80 (beyond any trained
    range) lower the L1 on held-out photos. Measured: 0.065 -> 0.043 (ratio 0.66, 1 thread); the bar
    (0.83) keeps half of that gain, so a step that does not learn, or learns the wrong target, fails."""
    from magplus.magnify.learned import MagPlus

    torch.manual_seed(0)
    motion = MotionRange(60.0, 80.0, 4.0, 12.0, amp_of_output=True, still_fraction=0.0)
    model = MagPlus(progress=False).net.train()
    config = TrainConfig(size=32, batch=8, net=model.config)
    train_data = SyntheticPairs(load_skimage_photos(["camera", "coffee"]), motion, 32, seed=0, max_noise=0.0, texture_fraction=0.3)
    held = make_batch(SyntheticPairs(load_skimage_photos(["chelsea", "coins"]), motion, 32, seed=99, max_noise=0.0,
                                     texture_fraction=0.3), list(range(24)))

    def held_out_loss() -> float:
        with torch.no_grad():
            out = model(held["ref"], held["frame"], held["alpha"].view(-1, 1, 1, 1))
            return float((out - held["target"]).abs().mean())

    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    before = held_out_loss()
    for step in range(20):
        loss, _ = training_step(model, make_batch(train_data, list(range(8 * step, 8 * step + 8))), config)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert held_out_loss() < 0.83 * before


def _tiny(out: Path, steps: int) -> TrainConfig:
    return TrainConfig(out=str(out), steps=steps, batch=2, size=16, warmup=1, net=MagNetConfig(**TINY_NET),
                       checkpoint_every=2, log_every=1, texture_fraction=0.5)


def test_resume_reproduces_an_uninterrupted_run(tmp_path):
    straight = train(_tiny(tmp_path / "a", 4), progress=False)
    train(_tiny(tmp_path / "b", 2), progress=False)  # "interrupted" after 2 steps
    resumed = train(_tiny(tmp_path / "b", 4), progress=False)
    for key, value in straight.state_dict().items():
        assert torch.allclose(value, resumed.state_dict()[key], atol=1e-6), key
    records = [json.loads(line) for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4] and "samples_per_s" in records[0]
    assert (tmp_path / "b" / "magplus.safetensors").is_file()


def test_tta_reduces_the_self_supervised_loss():
    from magplus.flow.lucas_kanade import LucasKanadeFlow
    from magplus.train.losses import LossWeights, magnification_loss
    from magplus.train.tta import adapt

    torch.manual_seed(0)
    base = load_skimage_photos(["coffee"])[0][:, 100:132, 200:232]
    frames = torch.stack([backward_warp(base, torch.full((2, 32, 32), 0.15 * t)) for t in range(4)]).clamp(0, 1)
    flow = LucasKanadeFlow(levels=2, iterations=2)
    net = MagNet(MagNetConfig(**TINY_NET, prior=False))
    weights = LossWeights(supervised=0, field=0, flow=1.0, colour=10.0)
    sample = {"ref": frames[:1].expand(3, -1, -1, -1), "frame": frames[1:], "alpha": torch.full((3,), 8.0),
              "supervised": torch.zeros(3)}

    def loss_of(model):
        with torch.no_grad():
            out, field = model(sample["ref"], sample["frame"], sample["alpha"].view(-1, 1, 1, 1), return_field=True)
            return float(magnification_loss(out, field, sample, weights, flow)[0])

    before = loss_of(net)
    adapted = adapt(net, frames, steps=4, lr=3e-3, batch=2, crop=32, flow_estimator=flow)
    # Measured: 1.87 -> 0.99 (x0.53) in 4 steps with this seed, x0.56-0.78 with seeds 1-2. A step
    # that did nothing (or a learning rate 100x too small) stays near x1; 0.8 holds for every seed tried.
    after = loss_of(adapted)
    assert adapted is not net and after < 0.8 * before, (before, after)
    with pytest.raises(InputError, match="steps"):
        adapt(net, frames, steps=-1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ddp_two_processes(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(f"kind: magplus\nout: {tmp_path / 'run'}\nsteps: 2\nbatch: 2\nsize: 16\nwarmup: 1\n"
                      "net: {width: 4, blocks: 1}\nthreads: 1\nlog_every: 1\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "magplus", "train", "magplus", "--config", str(config), "--no-progress"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 2
    assert (tmp_path / "run" / "magplus.safetensors").is_file()
