"""Evaluation cases for the transfer protocol: synthetic clips with ground truth, or dataset clips.

A :class:`TransferCase` is one driving clip, one source face and what is known about the motion
(action units, annotated timing, and — for synthetic clips — the ground-truth generated clip).

Synthetic cases (the program is rendered on two faces):

* driving = the program rendered on :func:`magplus.synth.second_face`;
* source = :func:`magplus.synth.default_face`;
* ground truth = the same program rendered on the source face, with its exact flow.

Both faces already are aligned square face crops, so such cases run the pipeline without cropping
and the ground truth lines up with the generated frames pixel for pixel.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import torch

from ..errors import InputError
from .timing import Timing, timing_from_annotation

#: ``--dataset`` names -> loader class names in :mod:`magplus.io.datasets`.
DATASET_LOADERS = {"casme2": "CASME2", "samm": "SAMM", "smic": "SMIC", "casme3": "CASME3", "mmew": "MMEW",
                   "generic": "GenericDataset"}


@dataclass
class TransferCase:
    """One driving clip + one source face.

    Attributes:
        name: unique clip name (``"synth-003"``, ``"sub01/EP02_01f@default"``).
        driving: ``(T, 3, H, W)`` in [0, 1].
        source: ``(3, H', W')`` in [0, 1].
        fps: frame rate.
        aus: active action units ``(number, side or None)``; empty when unknown.
        annotation: annotated onset/apex/offset relative to frame 0, or None.
        aligned: True when driving and source already are aligned face crops (no cropping).
        truth: ground-truth generated clip ``(T, 3, S, S)`` (synthetic only).
        truth_flow: its exact flow from frame 0, ``(T, 2, S, S)`` pixels (synthetic only).
        meta: what to record in the report (program, dataset row, source path...).
    """

    name: str
    driving: torch.Tensor
    source: torch.Tensor
    fps: float
    aus: list[tuple[int, str | None]] = field(default_factory=list)
    annotation: Timing | None = None
    aligned: bool = False
    truth: torch.Tensor | None = None
    truth_flow: torch.Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def resample_program(program, n_frames: int):
    """The same program sampled with ``n_frames`` frames over its whole duration (a lower fps)."""
    if int(n_frames) < 4:
        raise InputError(f"frames must be >= 4 to see an onset, an apex and an offset, got {n_frames}.")
    return dataclasses.replace(program, n_frames=int(n_frames), fps=(int(n_frames) - 1) / program.duration_s)


def _program_timing(program) -> Timing:
    """Annotation of a program: earliest onset, apex of the first event, latest offset (frames)."""
    events = program.events
    fps = program.fps
    return Timing(onset=min(e.onset_s for e in events) * fps, apex=events[0].apex_s * fps,
                  offset=max(e.offset_s for e in events) * fps, fps=fps)


def synthetic_cases(count: int, seed: int = 0, resolution: int = 256, fps: float = 200.0,
                    frames: int | None = None, **program_options: Any) -> Iterator[TransferCase]:
    """Yield ``count`` synthetic cases (see the module docstring), deterministic in ``seed``.

    Args:
        count: number of clips (>= 1).
        seed: seed of clip i is ``seed + i``.
        resolution: face crop side in pixels (>= 64: MediaPipe needs a face of some size).
        fps: frame rate programs are sampled at.
        frames: resample every program to this many frames (fast tests / previews), or None.
        program_options: passed to :func:`magplus.synth.sample_program` (``aus``, ``noise_sigma``...).
    """
    from ..synth import default_face, render_program, sample_program, second_face

    if isinstance(count, bool) or int(count) < 1:
        raise InputError(f"the number of synthetic clips must be >= 1, got {count!r}.")
    if int(resolution) < 64:
        raise InputError(f"resolution must be >= 64 pixels for synthetic clips (face detection), got {resolution}.")
    source, driving_face = default_face(int(resolution)), second_face(int(resolution))
    for index in range(int(count)):
        program = sample_program(int(seed) + index, fps=fps, **program_options)
        if frames is not None:
            program = resample_program(program, frames)
        driving = render_program(program, driving_face)
        truth = render_program(program, source)
        yield TransferCase(
            name=f"synth-{int(seed) + index:03d}", driving=driving.frames, source=source, fps=program.fps,
            aus=[(e.au, e.side) for e in program.events], annotation=_program_timing(program), aligned=True,
            truth=truth.frames, truth_flow=truth.flow,
            meta={"program": program.to_dict(), "description": program.describe()},
        )


def open_dataset(name: str, root: str | os.PathLike[str], annotation: str | os.PathLike[str] | None,
                 fps: float | None = None):
    """The loader of ``--dataset NAME`` (``casme2`` ... ``generic``) on ``root`` and ``annotation``."""
    from ..io import datasets

    key = str(name).lower()
    if key not in DATASET_LOADERS:
        raise InputError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_LOADERS)}.")
    if root is None or not os.path.isdir(root):
        raise InputError(f"dataset root {str(root)!r} is not a folder; pass --root <the {key} folder>.")
    loader = getattr(datasets, DATASET_LOADERS[key])
    # Only the generic table has no fixed frame rate; the named datasets know theirs.
    return loader(root, annotation, fps=fps) if key == "generic" and fps else loader(root, annotation)


def dataset_cases(name: str, root: str | os.PathLike[str], annotation: str | os.PathLike[str] | None = None,
                  sources: Sequence[str | os.PathLike[str]] = (), max_clips: int | None = None,
                  max_side: int = 512, fps: float | None = None) -> tuple[Iterator[TransferCase], int]:
    """One case per (annotated clip, source face) of a micro-expression dataset.

    The dataset and the source images are opened at once (so bad paths fail before any work);
    the clips are read lazily, one per case.

    Args:
        name: ``casme2``, ``samm``, ``smic``, ``casme3``, ``mmew`` or ``generic``.
        root, annotation: the dataset folder and its annotation file.
        sources: source face images; :func:`magplus.synth.default_face` when empty.
        max_clips: only the first K clips (in annotation order).
        max_side: frames larger than this are resized (keeps memory bounded; faces are cropped later).
        fps: frame rate of ``generic`` clips (default 30); the named datasets know their own.

    Returns:
        ``(cases, count)``: a lazy iterator of :class:`TransferCase` and their number.
    """
    from ..io import read_image

    dataset = open_dataset(name, root, annotation, fps)
    faces = _source_faces(sources, read_image)
    samples = dataset.samples[: int(max_clips)] if max_clips else dataset.samples
    return _dataset_iter(dataset, samples, faces, max_side), len(samples) * len(faces)


_open_dataset = open_dataset  # the earlier private name, still used by magplus.batch


def _dataset_iter(dataset, samples, faces, max_side: int) -> Iterator[TransferCase]:
    for sample in samples:
        clip = dataset.load_frames(sample)
        frames = clip.frames
        if max(frames.shape[-2:]) > max_side:
            scale = max_side / max(frames.shape[-2:])
            size = (round(frames.shape[-2] * scale), round(frames.shape[-1] * scale))
            frames = torch.nn.functional.interpolate(frames, size=size, mode="bilinear", antialias=True).clamp(0, 1)
        timing = timing_from_annotation(sample.onset, sample.apex, sample.offset, clip.meta.get("first_frame", sample.onset),
                                        sample.fps)
        for face_name, face in faces:
            yield TransferCase(
                name=f"{sample.subject}/{sample.clip}@{face_name}", driving=frames, source=face, fps=sample.fps,
                aus=[(au.number, au.side) for au in sample.aus], annotation=timing, aligned=False,
                meta={"sample": sample.to_row(), "source": face_name},
            )


def _source_faces(sources: Sequence[str | os.PathLike[str]], read_image) -> list[tuple[str, torch.Tensor]]:
    if not sources:
        from ..synth import default_face

        return [("default_face", default_face())]
    faces = []
    for path in sources:
        if not os.path.isfile(path):
            raise InputError(f"source image {str(path)!r} does not exist; pass existing face images to --sources.")
        faces.append((os.path.splitext(os.path.basename(path))[0], read_image(path)))
    return faces
