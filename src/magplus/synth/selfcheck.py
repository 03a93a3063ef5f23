"""Measure the generator: speed, exactness of the ground truth, amplitudes, statistics, TV-L1 agreement.

Run ``python -m magplus.synth.selfcheck [--clips N] [--threads K]``; prints one JSON object.
Every number is recomputed from scratch (nothing is cached on disk).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import torch

from ..ops.warp import backward_warp
from .faces import default_face, face_landmarks
from .program import SUPPORTED_AUS, AUEvent, AUProgram
from .render import render_program
from .sampling import sample_program


def _ramp(height: int, width: int) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    return torch.stack([0.1 + xs / 400.0, 0.1 + ys / 400.0, 0.2 + (xs + ys) / 900.0])


def speed(face: torch.Tensor, landmarks: np.ndarray, frames: int = 60) -> dict[str, float]:
    """Seconds to render ``frames`` frames of a two-AU program with drift, noise and a blink."""
    program = sample_program(1, aus=[4, 12], side=None, blink=True, amplitude_px=2.0)
    program = AUProgram.from_dict({**program.to_dict(), "n_frames": frames})
    started, cpu = time.perf_counter(), time.process_time()
    clip = render_program(program, face, landmarks=landmarks)
    # CPU seconds approximate the wall time on an idle machine (a shared one inflates wall time).
    return {"frames": frames, "seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu,
            "inverse_residual_px": clip.meta["inverse_residual_px"]}


def exactness(face: torch.Tensor, landmarks: np.ndarray) -> dict[str, float]:
    """``backward_warp(frame_t, flow_t)`` against frame 0 on a linear ramp and on the photo (apex frame)."""
    program = AUProgram([AUEvent(au, None, 3.0, 0.0, 0.01, 0.02) for au in (4, 7, 12)], n_frames=3,
                        drift_px=(0.7, -0.4), noise_sigma=0.0, quantise=False)
    out: dict[str, float] = {}
    for name, image in (("ramp", _ramp(*face.shape[1:])), ("photo", face)):
        clip = render_program(program, image, landmarks=landmarks)
        inner = (slice(None), slice(12, -12), slice(12, -12))
        mode = "bilinear" if name == "ramp" else "bicubic"
        error = (backward_warp(clip.frames[2], clip.flow[2], mode=mode) - clip.frames[0])[inner].abs()
        before = (clip.frames[2] - clip.frames[0])[inner].abs()
        out[f"{name}_mean_abs_error"] = float(error.mean())
        out[f"{name}_mean_abs_change_without_warp"] = float(before.mean())
    return out


def amplitudes(face: torch.Tensor, landmarks: np.ndarray, amplitude: float = 1.5) -> dict[str, float]:
    """Peak of the non-rigid ground-truth flow / requested amplitude, per AU (bilateral).

    1 by construction on the pixel grid (the unit fields are normalised there); this guards the
    normalisation, the envelope and the amplitude scaling, not the rendering.
    """
    ratios = {}
    for au in SUPPORTED_AUS:
        program = AUProgram([AUEvent(au, None, amplitude, 0.0, 0.01, 0.02)], n_frames=3, noise_sigma=0.0, quantise=False)
        clip = render_program(program, face, landmarks=landmarks)
        ratios[f"AU{au}"] = round(float(clip.nonrigid_flow()[2].norm(dim=0).max()) / amplitude, 5)
    return ratios


def statistics(count: int = 1000) -> dict[str, float]:
    """Sampled program statistics to compare with DOMAIN.md §1."""
    programs = [sample_program(seed) for seed in range(count)]
    first = [p.events[0] for p in programs]
    sizes = np.array([len(p.events) for p in programs])
    return {
        "programs": count,
        "onset_apex_ms_median": float(np.median([(e.apex_s - e.onset_s) * 1000 for e in first])),
        "apex_offset_ms_median": float(np.median([(e.offset_s - e.apex_s) * 1000 for e in first])),
        "total_ms_median": float(np.median([(e.offset_s - e.onset_s) * 1000 for e in first])),
        "unilateral_fraction": float(np.mean([e.side is not None for e in first])),
        "one_au_fraction": float(np.mean(sizes == 1)), "two_au_fraction": float(np.mean(sizes == 2)),
        "blink_fraction": float(np.mean([p.blink is not None for p in programs])),
        "amplitude_px_median": float(np.median([e.amplitude_px for p in programs for e in p.events])),
    }


def tvl1(face: torch.Tensor, landmarks: np.ndarray, clips: int) -> dict[str, Any]:
    """TV-L1 (OpenCV contrib) flow frame 0 -> apex against the ground truth, mean EPE inside the face."""
    import cv2

    from ..types import to_uint8

    rows = []
    for seed in range(clips):
        clip = render_program(sample_program(seed, amplitude_px=2.5), face, landmarks=landmarks)
        apex = clip.apex_index
        gray = [cv2.cvtColor(to_uint8(clip.frames[i])[0], cv2.COLOR_RGB2GRAY) for i in (0, apex)]
        measured = cv2.optflow.DualTVL1OpticalFlow_create().calc(gray[0], gray[1], None)
        truth = clip.flow[apex].permute(1, 2, 0).numpy()
        inside = clip.masks["face"].numpy()
        rows.append({"program": clip.program.describe(),
                     "epe_face_px": float(np.linalg.norm(measured - truth, axis=2)[inside].mean()),
                     "zero_flow_epe_face_px": float(np.linalg.norm(truth, axis=2)[inside].mean())})
    return {"clips": rows, "mean_epe_face_px": float(np.mean([r["epe_face_px"] for r in rows]))}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=5, help="sampled clips for the TV-L1 comparison")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    face = default_face()
    landmarks = face_landmarks(face)
    report = {
        "threads": torch.get_num_threads(),
        "speed": speed(face, landmarks),
        "exactness": exactness(face, landmarks),
        "peak_over_amplitude": amplitudes(face, landmarks),
        "statistics": statistics(),
        "tvl1": tvl1(face, landmarks, args.clips),
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
