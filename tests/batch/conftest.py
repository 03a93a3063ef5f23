"""Tiny inputs for batch tests: a synthetic driving video with a face, a face image, manifests."""

from __future__ import annotations

import csv

import pytest

#: Synthetic jobs small enough to take about a second each on 2 busy cores.
TINY = {"frames": 5, "resolution": 64}


def write_csv(path, rows):
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def synthetic_rows(seeds, magnifiers=("none", "lagrangian"), **extra):
    """Rows of tiny synthetic jobs: one per (seed, magnifier)."""
    return [{"output": f"{m}/synth-{s}.mp4", "driving": "synthetic", "seed": s, "magnifier": m, "alpha": 8,
             **TINY, **extra} for m in magnifiers for s in seeds]


@pytest.fixture(scope="session")
def face_inputs(tmp_path_factory):
    """``(face.png, driving.mkv with a face, noise.mkv without one)`` in a shared folder."""
    import torch

    from magplus.io import write_image, write_video
    from magplus.synth import default_face, render_program, sample_program, second_face

    folder = tmp_path_factory.mktemp("inputs")
    write_image(folder / "face.png", default_face(96))
    program = sample_program(4, fps=50.0, aus=[12], amplitude_px=2.0)
    from magplus.eval.cases import resample_program

    clip = render_program(resample_program(program, 5), second_face(96))
    write_video(folder / "driving.mkv", clip.frames, fps=clip.fps, lossless=True)
    noise = torch.rand(4, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    write_video(folder / "noise.mkv", noise, fps=25, lossless=True)
    return folder / "face.png", folder / "driving.mkv", folder / "noise.mkv"
