"""Worker run INSIDE the user's official EmoPortraits environment (its own Python), not by magplus.

Standard library + numpy (+ PIL, which the official wrapper's inputs require) only: it must not
import magplus, so magplus never loads EmoPortraits (CC BY-NC-SA 4.0) code or its dependencies.

Usage: ``<official python> emoportraits_worker.py WORKDIR`` (magplus starts it with the official
repository as working directory). Exchange format, version 1 (all paths relative to WORKDIR)::

    request.json   {"format_version": 1,
                    "source": "source.npy",            uint8 (H, W, 3) RGB
                    "driving": "driving.npy",          uint8 (T, H, W, 3) RGB
                    "output": "output.npy",            written: uint8 (T, h, w, 3) RGB
                    "parameters": {"repo": ..., "weights": ..., "use_gpu": false, "crop": true}}
    response.json  {"format_version": 1, "status": "ok" | "error", "frames": T, "frame_shape": [h, w, 3],
                    "seconds": ..., "error": null | "message"}

The official ``notebooks/infer.py`` ``InferenceWrapper`` is built from the checkpoint location
``<repo>/<folder>/<experiment>/checkpoints/<file>`` (its ``args.txt`` sits in ``<experiment>``),
then called once with the source and the first driver, and with the driver only afterwards (it
keeps the source). Exit status 0 on success, 1 on failure (traceback on stderr).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

FORMAT_VERSION = 1


def _write_response(workdir: Path, payload: dict) -> None:
    payload = dict(payload, format_version=FORMAT_VERSION)
    tmp = workdir / "response.json.tmp"
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, workdir / "response.json")


def _build_wrapper(parameters: dict):
    repo = Path(parameters["repo"]).resolve()
    weights = Path(parameters["weights"]).resolve()
    experiment_dir = weights.parent.parent  # <folder>/<experiment>/checkpoints/<file>
    for path in (str(repo / "notebooks"), str(repo)):
        if path not in sys.path:
            sys.path.insert(0, path)
    from infer import InferenceWrapper  # the official wrapper, found in the user's repository

    return InferenceWrapper(
        experiment_name=experiment_dir.name,
        model_file_name=weights.name,
        project_dir=str(repo),
        folder=os.path.relpath(experiment_dir.parent, repo),
        args_path=str(experiment_dir / "args.txt"),
        use_gpu=bool(parameters.get("use_gpu", False)),
    )


def _first_image(result):
    """The wrapper returns ``(list_of_PIL_images, tensor)`` or ``None`` when no face was found."""
    if result is None:
        raise RuntimeError("the official InferenceWrapper returned None (no face found in a driving frame)")
    images = result[0] if isinstance(result, (tuple, list)) else result
    return images[0] if isinstance(images, (list, tuple)) else images


def run(workdir: Path) -> int:
    """Read ``request.json``, animate every driving frame, write the output and ``response.json``."""
    import numpy as np
    from PIL import Image

    started = time.time()
    request = json.loads((workdir / "request.json").read_text())
    if request.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"request format_version {request.get('format_version')!r} is not {FORMAT_VERSION}")
    parameters = request["parameters"]
    source = np.load(workdir / request["source"], allow_pickle=False)
    driving = np.load(workdir / request["driving"], allow_pickle=False)
    wrapper = _build_wrapper(parameters)
    crop = bool(parameters.get("crop", True))
    outputs = []
    for index, frame in enumerate(driving):
        driver = Image.fromarray(frame)
        if index == 0:
            result = wrapper(source_image=Image.fromarray(source), driver_image=driver, crop=crop, reset_tracking=True)
        else:
            result = wrapper(source_image=None, driver_image=driver, crop=crop)
        outputs.append(np.asarray(_first_image(result).convert("RGB"), dtype=np.uint8))
        print(f"frame {index + 1}/{len(driving)}", file=sys.stderr, flush=True)
    frames = np.stack(outputs)
    np.save(workdir / request["output"], frames)
    _write_response(workdir, {"status": "ok", "frames": int(frames.shape[0]),
                              "frame_shape": list(frames.shape[1:]), "seconds": time.time() - started,
                              "error": None})
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: emoportraits_worker.py WORKDIR", file=sys.stderr)
        return 2
    workdir = Path(argv[0])
    try:
        return run(workdir)
    except Exception as exc:  # report every failure to magplus, with the traceback on stderr
        traceback.print_exc()
        try:
            _write_response(workdir, {"status": "error", "error": f"{type(exc).__name__}: {exc}"})
        except OSError:
            pass
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
