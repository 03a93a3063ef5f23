"""Registries, type checks, safe weight loading and the CLI skeleton."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import magplus
from magplus.errors import CheckpointMismatchError, InputError, ShapeError, UnknownNameError, WeightsError
from magplus.io.atomic import atomic_output, check_output_path
from magplus.registry import Registry
from magplus.types import check_alpha, check_frames, to_frames, to_uint8
from magplus.weights import load_checkpoint_file, load_state_dict_strict, save_safetensors


def test_registry_suggests_close_names():
    with pytest.raises(UnknownNameError, match="Did you mean 'fomm'"):
        magplus.create_backbone("fom")
    assert "landmark-warp" in magplus.list_backbones()
    assert {"lagrangian", "eulerian"} <= set(magplus.list_magnifiers())


def test_registry_decorator_and_underscore_alias():
    reg = Registry("thing", "magplus.test-none")

    @reg.register("my-thing")
    class Thing:
        def __init__(self, x=1):
            self.x = x

    assert reg.create("my_thing", x=3).x == 3
    with pytest.raises(UnknownNameError, match="Known: my-thing"):
        reg.get("zzz")


def test_frame_checks():
    check_frames(torch.rand(2, 3, 4, 4))
    with pytest.raises(ShapeError, match=r"frames must have shape \('T', 3, 'H', 'W'\)"):
        check_frames(torch.rand(2, 4, 4))
    with pytest.raises(ShapeError, match=r"values must lie in \[0, 1\]"):
        check_frames(torch.rand(1, 3, 4, 4) * 255)
    for bad in (0, -1, float("nan"), "x"):
        with pytest.raises(InputError, match="alpha"):
            check_alpha(bad)


def test_uint8_round_trip():
    arr = (torch.rand(2, 5, 7, 3) * 255).to(torch.uint8).numpy()
    assert (to_uint8(to_frames(arr)) == arr).all()


def test_atomic_output_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_output(target) as tmp:
        tmp.write_bytes(b"full")
    assert target.read_bytes() == b"full"


def test_output_path_rules(tmp_path):
    src = tmp_path / "in.mp4"
    src.write_bytes(b"x")
    with pytest.raises(InputError, match="same file as an input"):
        check_output_path(src, [src])
    with pytest.raises(InputError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "o.mp4")


def test_strict_load_reports_every_kind(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    state = dict(model.state_dict())
    state["0.weight"] = torch.zeros(4, 2)
    state.pop("1.bias")
    state["extra"] = torch.zeros(1)
    with pytest.raises(CheckpointMismatchError) as info:
        load_state_dict_strict(model, state, "toy")
    msg = str(info.value)
    assert "1 missing: 1.bias" in msg and "1 unexpected: extra" in msg and "0.weight (checkpoint [4, 2] vs model [3, 2])" in msg


class UnsafeObject:
    """A plain Python object: loading it needs unsafe unpickling."""


def test_safe_loading(tmp_path):
    model = torch.nn.Linear(2, 2)
    save_safetensors(model.state_dict(), tmp_path / "w.safetensors")
    loaded = load_checkpoint_file(tmp_path / "w.safetensors")
    assert torch.equal(loaded["weight"], model.weight)
    torch.save({"generator": model.state_dict()}, tmp_path / "w.pth.tar")
    assert "generator" in load_checkpoint_file(tmp_path / "w.pth.tar")

    torch.save({"obj": UnsafeObject()}, tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match="weights_only=True"):
        load_checkpoint_file(tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match="does not exist"):
        load_checkpoint_file(tmp_path / "nope.pt")


def test_cli_list_and_unknown_command():
    out = subprocess.run([sys.executable, "-m", "magplus", "list", "backbones"], capture_output=True, text=True)
    assert out.returncode == 0 and "landmark-warp" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "magplus", "list", "nothing"], capture_output=True, text=True)
    assert bad.returncode != 0


def test_atomic_output_follows_umask(tmp_path):
    import os

    target = tmp_path / "perm.bin"
    umask = os.umask(0o022)
    try:
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o644
