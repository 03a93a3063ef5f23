"""``EmoPortraitsBackbone``: runs the user's OFFICIAL EmoPortraits installation in a subprocess.

EmoPortraits (Drobyshev et al., CVPR 2024; CC BY-NC-SA 4.0) is not re-implemented. magplus writes
a versioned request (:mod:`.emoportraits_worker` documents format version 1) into a work folder,
starts ``emoportraits_worker.py`` with the official environment's Python in the official
repository, waits (with a timeout) and reads the frames back. magplus therefore imports nothing of
EmoPortraits and needs none of its dependencies. Installation steps: docs/emoportraits.md.
This path has been tested against a stand-in module with the official call signature only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..errors import ExternalRunError, InputError, WeightsError
from ..types import check_frames, check_image, to_uint8
from .base import AnimationBackbone

FORMAT_VERSION = 1
WORKER = Path(__file__).with_name("emoportraits_worker.py")
STDERR_TAIL = 3000


def _tail(text: str, limit: int = STDERR_TAIL) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


class EmoPortraitsBackbone(AnimationBackbone):
    """Animate through the official EmoPortraits ``InferenceWrapper`` (``notebooks/infer.py``).

    Args:
        repo: the official repository checkout (github.com/neeek2303/EMOPortraits).
        weights: the model file inside it, ``<repo>/logs/<experiment>/checkpoints/<file>``
            (from the official ``logs.zip``); its experiment folder must hold ``args.txt``.
        python: the official environment's interpreter (e.g. ``sav_env/bin/python``).
        timeout: seconds allowed for one render call.
        workdir: parent folder for the exchange folders (default: the system temp folder); kept
            after a failure for inspection, removed after success.
        use_gpu: let the official code use CUDA.
    """

    name = "emoportraits"
    resolution = 512
    needs_weights = True

    def __init__(self, repo: str | Path | None = None, weights: str | Path | None = None,
                 python: str | Path | None = None, timeout: float = 1800.0, workdir: str | Path | None = None,
                 use_gpu: bool = False):
        self.repo = self._check_repo(repo)
        self.weights = self._check_weights(weights)
        self.python = self._check_python(python)
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise InputError(f"timeout must be a number of seconds > 0, got {timeout!r}.")
        self.timeout = float(timeout)
        self.workdir = Path(workdir) if workdir is not None else None
        self.use_gpu = bool(use_gpu)

    @staticmethod
    def _check_repo(repo) -> Path:
        if repo is None or not (Path(repo) / "notebooks" / "infer.py").is_file():
            raise InputError(
                f"EmoPortraits repository {str(repo)!r} has no notebooks/infer.py; clone "
                "github.com/neeek2303/EMOPortraits and pass its folder with --repo (see docs/emoportraits.md)."
            )
        return Path(repo).resolve()

    def _check_weights(self, weights) -> Path:
        if weights is None or not Path(weights).is_file():
            raise WeightsError(
                f"EmoPortraits weights {str(weights)!r} not found; unzip the official logs.zip into the repository "
                "and pass logs/<experiment>/checkpoints/<file> with --weights."
            )
        path = Path(weights).resolve()
        if path.parent.name != "checkpoints" or not (path.parent.parent / "args.txt").is_file():
            raise WeightsError(
                f"EmoPortraits weights {str(path)!r} must sit in <experiment>/checkpoints/ with <experiment>/args.txt, "
                "as in the official logs.zip."
            )
        try:
            path.relative_to(self.repo)
        except ValueError:
            raise WeightsError(f"EmoPortraits weights {str(path)!r} must lie inside the repository {str(self.repo)!r}.") from None
        return path

    @staticmethod
    def _check_python(python) -> Path:
        found = shutil.which(str(python)) if python is not None else None
        if found is None:
            raise InputError(
                f"python {str(python)!r} is not an executable; pass the official EmoPortraits environment's "
                "interpreter (e.g. sav_env/bin/python) with --python."
            )
        return Path(found)

    def prepare_source(self, source_img: torch.Tensor) -> np.ndarray:
        """The source ``(3, H, W)`` in [0, 1] as uint8 ``(H, W, 3)``."""
        check_image(source_img, "source_img")
        return to_uint8(source_img[None])[0]

    def extract_motion(self, frames: torch.Tensor) -> np.ndarray:
        """EmoPortraits extracts motion itself: the driving frames as uint8 ``(T, H, W, 3)``."""
        check_frames(frames, "frames")
        return to_uint8(frames)

    def motion_builder(self) -> None:
        """None: every render call starts the official model in its own interpreter, so the clip
        goes to it whole rather than chunk by chunk."""
        return None

    def render(self, source: Any, motion: Any, reference: Any | None = None, relative: bool = True,
               progress: Callable[[int], None] | None = None) -> torch.Tensor:
        """Run the official model on every driving frame -> ``(T, 3, h, w)`` in [0, 1].

        ``reference`` and ``relative`` are not used: the official wrapper transfers each driving
        frame's expression and pose itself.

        Raises:
            ExternalRunError: timeout, non-zero exit (with the tail of the official stderr) or a bad response.
        """
        if not (isinstance(source, np.ndarray) and source.dtype == np.uint8 and source.ndim == 3):
            raise InputError("source must come from EmoPortraitsBackbone.prepare_source (uint8 (H, W, 3)).")
        if not (isinstance(motion, np.ndarray) and motion.dtype == np.uint8 and motion.ndim == 4):
            raise InputError("motion must come from EmoPortraitsBackbone.extract_motion (uint8 (T, H, W, 3)).")
        parent = self.workdir
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="magplus_emoportraits_", dir=parent))
        frames = self._exchange(folder, source, motion)
        if progress is not None:
            progress(len(frames))
        shutil.rmtree(folder, ignore_errors=True)
        return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0

    def _exchange(self, folder: Path, source: np.ndarray, motion: np.ndarray) -> np.ndarray:
        np.save(folder / "source.npy", source)
        np.save(folder / "driving.npy", motion)
        request = {"format_version": FORMAT_VERSION, "source": "source.npy", "driving": "driving.npy",
                   "output": "output.npy",
                   "parameters": {"repo": str(self.repo), "weights": str(self.weights), "use_gpu": self.use_gpu,
                                  "crop": True}}
        (folder / "request.json").write_text(json.dumps(request, indent=1))
        try:
            done = subprocess.run([str(self.python), str(WORKER), str(folder)], cwd=self.repo, capture_output=True,
                                  text=True, timeout=self.timeout)
        except subprocess.TimeoutExpired as exc:
            stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            raise ExternalRunError(
                f"EmoPortraits did not finish within {self.timeout:g} s (work folder {folder}); raise the timeout or "
                f"use fewer frames. Last output: {_tail(stderr) or '(none)'}"
            ) from None
        if done.returncode != 0:
            raise ExternalRunError(
                f"EmoPortraits failed with exit status {done.returncode} (work folder {folder}); official stderr:\n"
                f"{_tail(done.stderr) or '(empty)'}"
            )
        return self._read_response(folder, len(motion))

    @staticmethod
    def _read_response(folder: Path, count: int) -> np.ndarray:
        try:
            response = json.loads((folder / "response.json").read_text())
        except (OSError, ValueError) as exc:
            raise ExternalRunError(f"EmoPortraits worker wrote no readable response.json in {folder} ({exc}).") from None
        if response.get("format_version") != FORMAT_VERSION or response.get("status") != "ok":
            raise ExternalRunError(f"EmoPortraits worker reported a problem in {folder}: {response.get('error') or response}.")
        frames = np.load(folder / "output.npy", allow_pickle=False)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[0] != count or frames.shape[-1] != 3:
            raise ExternalRunError(
                f"EmoPortraits output in {folder} has shape {frames.shape} dtype {frames.dtype}, expected uint8 ({count}, h, w, 3)."
            )
        return frames
