"""EmoPortraits external backbone, exercised against a STAND-IN of the official InferenceWrapper."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch

from magplus.backbones.emoportraits import EmoPortraitsBackbone
from magplus.errors import ExternalRunError, InputError, WeightsError

# Same call signature as notebooks/infer.py; returns the source shifted right by 3 px + the driver's mean.
STAND_IN = '''
import numpy as np
from PIL import Image

class InferenceWrapper:
    def __init__(self, experiment_name, which_epoch="latest", model_file_name="", use_gpu=True, num_gpus=1,
                 fixed_bounding_box=False, project_dir="./", folder="mp_logs", model_="va", torch_home="",
                 debug=False, print_model=False, print_params=True, args_overwrite={}, state_dict=None,
                 pose_momentum=0.5, rank=0, args_path=None):
        assert experiment_name == "exp1" and model_file_name == "model.pth" and folder == "logs", (experiment_name, folder)
        assert open(args_path).read() == "args"
        self.source = None

    def __call__(self, source_image=None, driver_image=None, crop=True, reset_tracking=False, **kwargs):
        if source_image is not None:
            self.source = np.asarray(source_image)
        out = np.roll(self.source, 3, axis=1).astype(np.int32) + int(np.asarray(driver_image).mean() > 128)
        return [Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))], None
'''


def _fake_repo(root, body=STAND_IN):
    (root / "notebooks").mkdir(parents=True)
    (root / "notebooks" / "infer.py").write_text(textwrap.dedent(body))
    checkpoints = root / "logs" / "exp1" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (root / "logs" / "exp1" / "args.txt").write_text("args")
    (checkpoints / "model.pth").write_bytes(b"weights")
    return root, checkpoints / "model.pth"


def _clip(frames=2, size=16):
    generator = torch.Generator().manual_seed(1)
    source = torch.rand(3, size, size, generator=generator)
    driving = torch.rand(frames, 3, size, size, generator=generator)
    driving[-1] = 0.9  # bright frame: the stand-in adds 1 grey level
    return source, driving


def test_round_trip_through_worker(tmp_path):
    repo, weights = _fake_repo(tmp_path / "repo")
    backbone = EmoPortraitsBackbone(repo=repo, weights=weights, python=sys.executable, timeout=60,
                                    workdir=tmp_path / "work")
    source, driving = _clip()
    out = backbone.animate(source, driving)
    assert out.shape == (2, 3, 16, 16) and out.dtype == torch.float32
    expected = torch.roll(torch.from_numpy(backbone.prepare_source(source)).permute(2, 0, 1).float(), 3, dims=2)
    assert torch.equal(out[0] * 255, expected + (driving[0].mean() > 128 / 255).float())
    assert torch.equal(out[1] * 255, (expected + 1).clamp(max=255))
    assert list((tmp_path / "work").iterdir()) == []  # exchange folder removed after success


def test_failing_worker_shows_official_stderr(tmp_path):
    repo, weights = _fake_repo(tmp_path / "repo", "import sys\nsys.stderr.write('CUDA out of memory here\\n')\nraise SystemExit(3)\n")
    backbone = EmoPortraitsBackbone(repo=repo, weights=weights, python=sys.executable, timeout=60)
    source, driving = _clip(1)
    with pytest.raises(ExternalRunError, match=r"(?s)exit status 3.*official stderr:.*CUDA out of memory here"):
        backbone.animate(source, driving)


def test_timeout(tmp_path):
    repo, weights = _fake_repo(tmp_path / "repo", "import time\ntime.sleep(30)\n")
    backbone = EmoPortraitsBackbone(repo=repo, weights=weights, python=sys.executable, timeout=1.5)
    source, driving = _clip(1)
    with pytest.raises(ExternalRunError, match="did not finish within 1.5 s"):
        backbone.animate(source, driving)


def test_missing_repo_weights_python(tmp_path):
    repo, weights = _fake_repo(tmp_path / "repo")
    with pytest.raises(InputError, match="notebooks/infer.py.*--repo"):
        EmoPortraitsBackbone(repo=tmp_path / "nowhere", weights=weights, python=sys.executable)
    with pytest.raises(WeightsError, match="--weights"):
        EmoPortraitsBackbone(repo=repo, weights=repo / "missing.pth", python=sys.executable)
    stray = tmp_path / "model.pth"
    stray.write_bytes(b"x")
    with pytest.raises(WeightsError, match="checkpoints"):
        EmoPortraitsBackbone(repo=repo, weights=stray, python=sys.executable)
    with pytest.raises(InputError, match="--python"):
        EmoPortraitsBackbone(repo=repo, weights=weights, python=tmp_path / "no_python")
    with pytest.raises(InputError, match="timeout"):
        EmoPortraitsBackbone(repo=repo, weights=weights, python=sys.executable, timeout=0)


def test_worker_rejects_unknown_format_version(tmp_path):
    from magplus.backbones import emoportraits_worker

    (tmp_path / "request.json").write_text('{"format_version": 99}')
    assert emoportraits_worker.main([str(tmp_path)]) == 1
    assert '"status": "error"' in (tmp_path / "response.json").read_text()
