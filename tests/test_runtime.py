"""Thread and device settings (magplus.runtime) and the CLI options that use them."""

from __future__ import annotations

import argparse

import cv2
import pytest
import torch

from magplus.cli import main
from magplus.cli._common import add_compute_arguments, device_kwargs
from magplus.errors import InputError
from magplus.runtime import THREAD_VARIABLES, available_cores, set_threads, torch_device


def _unset_wait_policy(monkeypatch) -> None:
    """Remove the OpenMP wait settings for the test; whatever the test sets is undone afterwards
    (setenv first, so that monkeypatch records the original state even when it was unset)."""
    for variable in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        monkeypatch.setenv(variable, "placeholder")
        monkeypatch.delenv(variable)


@pytest.fixture
def restore_threads(monkeypatch):
    """Put torch's and OpenCV's thread counts and the environment back after the test."""
    for variable in THREAD_VARIABLES:
        monkeypatch.setenv(variable, "1")
    _unset_wait_policy(monkeypatch)
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    yield
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(cv2_threads)


def test_set_threads_reaches_torch_opencv_and_the_environment(restore_threads):
    import os

    assert set_threads(2) == 2
    assert torch.get_num_threads() == 2 and cv2.getNumThreads() == 2
    assert all(os.environ[v] == "2" for v in THREAD_VARIABLES) and os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert set_threads() == available_cores() == torch.get_num_threads()
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(InputError, match="threads must be a whole number >= 1"):
            set_threads(bad)


def test_set_threads_keeps_a_wait_policy_the_user_chose(restore_threads, monkeypatch):
    import os

    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    set_threads(1)
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_torch_device_checks_cuda_before_any_work(monkeypatch):
    assert torch_device("cpu") == torch.device("cpu")
    with pytest.raises(InputError, match="device must be 'cpu', 'cuda'"):
        torch_device("gpu0")
    with pytest.raises(InputError, match="not supported"):
        torch_device("meta")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert torch_device("auto") == torch.device("cpu")
    with pytest.raises(InputError, match="asked for but .*; use --device cpu"):
        torch_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert torch_device("auto") == torch.device("cuda") and torch_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(InputError, match=r"only 1 CUDA GPU\(s\) are visible"):
        torch_device("cuda:1")


def test_device_kwargs_follow_the_factory_signature():
    def on_gpu(device="cpu"):
        return device

    def cpu_only(smoothing=1.0):
        return smoothing

    assert device_kwargs("backbone", "x", on_gpu, "cuda") == {"device": "cuda"}
    assert device_kwargs("backbone", "y", cpu_only, torch.device("cpu")) == {}
    with pytest.raises(InputError, match="backbone 'y' runs on the CPU only"):
        device_kwargs("backbone", "y", cpu_only, "cuda:0")


def test_threads_option_defaults_to_the_cores_and_refuses_zero(capsys):
    parser = argparse.ArgumentParser()
    add_compute_arguments(parser)
    args = parser.parse_args([])
    assert args.threads is None and args.device == "cpu"
    assert parser.parse_args(["--threads", "3"]).threads == 3
    with pytest.raises(SystemExit):
        parser.parse_args(["--threads", "0"])
    assert "expected a whole number >= 1" in capsys.readouterr().err


def test_cli_device_cuda_fails_in_one_line_before_reading_inputs(tmp_path, capsys, restore_threads, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = main(["reenact", "--source", str(tmp_path / "absent.png"), "--driving", str(tmp_path / "absent.mp4"),
                 "-o", str(tmp_path / "out.mp4"), "--backbone", "fomm", "--device", "cuda", "--threads", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "device 'cuda' asked for but" in err and "--device cpu" in err


def test_the_magplus_command_lets_openmp_threads_sleep_before_any_subcommand(monkeypatch, capsys):
    import os

    _unset_wait_policy(monkeypatch)
    assert main(["list", "backbones"]) == 0
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
