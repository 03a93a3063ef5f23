"""A job's inputs: which files it reads, its dataset sample, and its :class:`TransferCase`.

Jobs are turned into the evaluation's :class:`~magplus.eval.cases.TransferCase` (driving frames,
source face, fps, AUs, annotated timing, ground truth for synthetic jobs), so the batch runner
scores them with the same code as `magplus eval transfer`.
"""

from __future__ import annotations

import functools
from typing import Any

from .manifest import BACKBONE_INPUTS, BUILTIN_FACES, SYNTHETIC, Job

#: Longest side of dataset frames read for a job (faces are cropped later; bounds memory).
DATASET_MAX_SIDE = 512


def input_paths(job: Job) -> list[str]:
    """Every file or folder the job reads (absolute paths)."""
    spec = job.spec
    paths = [spec.get(c) for c in ("source", "driving", "root", "annotation", *BACKBONE_INPUTS)]
    return [p for p in paths if p and p != SYNTHETIC and p not in BUILTIN_FACES]


@functools.lru_cache(maxsize=8)
def open_dataset(name: str, root: str, annotation: str | None, fps: float | None):
    """A dataset loader, opened once per process (opening lists every clip's frames)."""
    from ..eval.cases import open_dataset as open_uncached

    return open_uncached(name, root, annotation, fps)


def find_sample(job: Job):
    """``(dataset, sample)`` of a dataset job (``sample: subject/clip``, optional ``onset``)."""
    spec = job.spec
    dataset = open_dataset(spec["dataset"].lower(), spec.get("root"), spec.get("annotation"), spec.get("fps"))
    return dataset, dataset.lookup(str(spec.get("sample") or ""), spec.get("onset"))


def _source_face(spec: dict[str, Any]):
    from ..cli._common import read_source_image
    from ..synth import default_face, second_face

    source = spec.get("source")
    if source == "builtin:default_face":
        return "default_face", default_face()
    if source == "builtin:second_face":
        return "second_face", second_face()
    from pathlib import Path

    return Path(source).stem, read_source_image(source)


def _program_options(spec: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if spec.get("aus"):
        options["aus"] = [int(a) for a in str(spec["aus"]).replace(",", "+").split("+") if a.strip()]
    if spec.get("amplitude_px") is not None:
        options["amplitude_px"] = float(spec["amplitude_px"])
    return options


def load_case(job: Job):
    """The :class:`~magplus.eval.cases.TransferCase` of a job (reads its frames)."""
    from ..eval.cases import TransferCase, _dataset_iter, synthetic_cases

    spec = job.spec
    if job.kind == "synthetic":
        return next(synthetic_cases(1, seed=spec.get("seed", 0), resolution=spec["resolution"],
                                    fps=spec.get("fps", 200.0), frames=spec.get("frames"), **_program_options(spec)))
    face_name, face = _source_face(spec)
    if job.kind == "dataset":
        dataset, sample = find_sample(job)
        return next(_dataset_iter(dataset, [sample], [(face_name, face)], DATASET_MAX_SIDE))
    from ..io import read_video

    clip = read_video(spec["driving"], fps=spec.get("fps"))
    return TransferCase(name=job.output, driving=clip.frames, source=face, fps=clip.fps,
                        meta={"driving": spec["driving"], "source": face_name})
