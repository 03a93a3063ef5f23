"""One run of the app, without Gradio: checked settings in, files and a summary out.

Synthetic driving clips follow ``magplus demo``: the AU program is rendered on the second bundled
face (the driving clip) and on the source face crop (the ground truth of a perfect transfer), and
the pipeline runs on these crops (``crop=False``). Uploaded clips run through the pipeline's own
face cropping, and their motion is compared with the driving clip's instead of a ground truth.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .validation import BUNDLED_FACES, Limits, RunSettings, check_frame_count, read_driving, read_source

#: ``progress(fraction in [0, 1], stage description)``.
Progress = Callable[[float, str], None]


def _no_progress(fraction: float, stage: str) -> None:
    pass


@dataclass
class RunOutputs:
    """Files and numbers of one run (all files inside the run's folder)."""

    side_by_side: Path
    result: Path
    plot: Path
    summary_json: Path
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Inputs:
    source: torch.Tensor              # (3, H, W)
    driving: torch.Tensor             # (T, 3, H', W')
    fps: float
    truth: torch.Tensor | None = None  # (T, 3, S, S) ground truth of a synthetic clip
    program: Any = None


def build_pipeline(settings: RunSettings):
    """The MagPipeline of a run; building it checks the backbone's checkpoints and α."""
    from ..pipeline import MagPipeline

    return MagPipeline(backbone=settings.backbone, magnifier=settings.magnifier, demagnifier=settings.demagnifier,
                       alpha=settings.alpha, target_amplitude=settings.target_amplitude,
                       resolution=settings.resolution, compute_direct=True, crop=not settings.synthetic,
                       paste_back=settings.paste_back, backbone_kwargs=settings.backbone_kwargs, progress=True)


def _synthetic_inputs(settings: RunSettings, limits: Limits, progress: Progress) -> _Inputs:
    from .. import synth

    size = settings.resolution
    if settings.source in BUNDLED_FACES:
        source = getattr(synth, BUNDLED_FACES[settings.source])(size)
    else:
        source = synth.crop_face(read_source(settings, limits), size=size)
    program = synth.sample_program(settings.seed, fps=settings.synth_fps, aus=settings.aus,
                                   amplitude_px=settings.amplitude_px, side=settings.side, blink=False)
    check_frame_count(program.n_frames, limits, f"the synthetic clip ({program.describe()})")
    progress(0.1, f"rendering the synthetic micro-expression ({program.describe()})")
    driving = synth.render_program(program, synth.second_face(size))
    progress(0.2, "rendering the ground truth on the source face")
    truth = synth.render_program(program, source)
    return _Inputs(source, driving.frames, settings.synth_fps, truth.frames, program)


def load_inputs(settings: RunSettings, workdir: Path, limits: Limits, progress: Progress = _no_progress) -> _Inputs:
    """Source face and driving clip (plus ground truth for a synthetic clip)."""
    progress(0.05, "reading the inputs")
    if settings.synthetic:
        return _synthetic_inputs(settings, limits, progress)
    clip = read_driving(settings, workdir, limits)
    return _Inputs(read_source(settings, limits), clip.frames, float(clip.fps))


def motion_curves(out, truth: torch.Tensor | None) -> dict[str, np.ndarray]:
    """Face-motion magnitude over time (px, p95 in the face) of each clip of the comparison."""
    from ..face.landmarks import detect_landmarks
    from ..face.regions import region_masks
    from ..magnify.alpha import measure_clip_motion

    size = tuple(out.source.shape[-2:])
    source_face = region_masks(detect_landmarks(out.source), size=size)["face"]
    driving_face = region_masks(detect_landmarks(out.driving[0]), size=tuple(out.driving.shape[-2:]))["face"]
    clips = {"driving": (out.driving, driving_face), "direct": (out.direct, source_face),
             "MagPlus": (out.result, source_face)}
    if truth is not None:
        clips = {"ground truth": (truth, source_face), **clips}
    return {name: measure_clip_motion(frames, mask).curve.numpy() for name, (frames, mask) in clips.items()}


def run_job(settings: RunSettings, workdir: Path, limits: Limits, progress: Progress = _no_progress) -> RunOutputs:
    """Run the pipeline on the page's inputs and write the outputs into ``workdir``."""
    from ..demo import curve_stats, motion_plot
    from ..io import side_by_side, write_video
    from ..io.grid import pipeline_comparison

    started = time.perf_counter()
    progress(0.0, "checking the backbone and its checkpoints")
    pipeline = build_pipeline(settings)
    inputs = load_inputs(settings, workdir, limits, progress)
    app_timings = {"inputs": time.perf_counter() - started}
    progress(0.3, "MagPipeline: crop, alpha, magnify, backbone, de-magnify")
    out = pipeline(inputs.source, inputs.driving, inputs.fps)

    progress(0.75, "writing the videos")
    tick = time.perf_counter()
    clips, labels = pipeline_comparison(out, inputs.truth)
    outputs = RunOutputs(side_by_side=workdir / "side_by_side.mp4", result=workdir / "magplus.mp4",
                         plot=workdir / "motion.png", summary_json=workdir / "summary.json")
    write_video(outputs.side_by_side, side_by_side(clips, labels), fps=out.fps)
    write_video(outputs.result, out.pasted if out.pasted is not None else out.result, fps=out.fps)
    app_timings["write_videos"] = time.perf_counter() - tick

    progress(0.85, "measuring the motion of every clip")
    tick = time.perf_counter()
    curves = motion_curves(out, inputs.truth)
    reference = "ground truth" if inputs.truth is not None else "driving"
    app_timings["measure_motion"] = time.perf_counter() - tick
    what = inputs.program.describe() if inputs.program is not None else f"{out.driving.shape[0]} frames"
    motion_plot(outputs.plot, curves, out.fps, f"{what} — {settings.backbone}, {settings.magnifier}, "
                                              f"alpha {out.alpha:.1f}")
    outputs.summary = {
        "alpha": out.alpha, "alpha_mode": "automatic" if settings.alpha == "auto" else "manual",
        "driving_peak_px": None if out.amplitude is None else out.amplitude.peak,
        "driving_local_peak_px": None if out.amplitude is None else out.amplitude.local_peak,
        "reference": reference, "frames": int(out.result.shape[0]), "fps": out.fps,
        "backbone": settings.backbone, "magnifier": settings.magnifier,
        "demagnifier": settings.demagnifier or "(pair)", "resolution": settings.resolution,
        "program": inputs.program.to_dict() if inputs.program is not None else None,
        "motion": {name: curve_stats(curve, curves[reference]) for name, curve in curves.items()},
        "timings_s": {**app_timings, **out.timings}, "total_s": time.perf_counter() - started,
        "pasted_back": out.pasted is not None,
    }
    from ..cli._common import write_json

    write_json(outputs.summary_json, outputs.summary)
    progress(1.0, "done")
    return outputs


def summary_markdown(summary: dict[str, Any]) -> str:
    """The page's α line and table of peaks, peak ratios and correlations."""
    reference = summary["reference"]
    peak, local = summary.get("driving_peak_px"), summary.get("driving_local_peak_px")
    how = summary["alpha_mode"]
    if how == "automatic" and peak:
        how = f"automatic (driving peak {peak:.2f} px" + (f", local {local:.2f} px)" if local else ")")
    lines = [f"**α = {summary['alpha']:.2f}**, {how}; {summary['frames']} frames at {summary['fps']:g} fps, "
             f"{summary['backbone']} + {summary['magnifier']}. Peak ratio and correlation of each clip's motion "
             f"curve against the **{reference}**:", "",
             "| clip | peak px | peak ratio | correlation |", "|---|---|---|---|"]
    for name, row in summary["motion"].items():
        lines.append(f"| {name} | {row['peak_px']:.2f} | {row['peak_ratio_to_truth']:.2f} | "
                     f"{row['correlation_with_truth']:.2f} |")
    return "\n".join(lines)


def timings_markdown(summary: dict[str, Any]) -> str:
    """The page's table of seconds per stage (the app's own stages, then the pipeline's)."""
    lines = ["| stage | seconds |", "|---|---|"]
    lines += [f"| {stage} | {seconds:.2f} |" for stage, seconds in summary["timings_s"].items()]
    lines.append(f"| **total** | **{summary['total_s']:.2f}** |")
    return "\n".join(lines)
