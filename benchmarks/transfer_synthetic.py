"""The paper's claim on ground truth: does MagPlus–DeMagPlus transfer micro-expressions better
than direct transfer?

For N synthetic micro-expression clips (varied AUs, amplitudes 0.3–3 px, rigid drift, sensor
noise; DOMAIN.md §1 statistics) the driving clip is the AU program rendered on a second face, and
the *same* program rendered on the source face is the ground truth of a perfect transfer (exact
flow known). For each backbone, direct transfer and MagPlus–DeMagPlus are compared on:

* ``epe_px``: mean end-point error of the generated motion (evaluation flow from frame 0) against
  the exact ground-truth flow, inside the face;
* ``peak_ratio``: peak of the generated non-rigid face motion / peak of the ground truth (ideal 1);
* ``curve_r``: Pearson r between the generated and ground-truth motion-magnitude curves;
* ``leakage``: fraction of the generated non-rigid motion energy inside the face but outside the
  program's active AU regions (the ground truth's own value is reported as a reference).

A "ground truth (measured)" row runs the same evaluation flow on the ground-truth clip itself:
the ceiling that flow noise allows. Backbones that need official weights join when their
environment variables are set (MAGPLUS_FOMM_CHECKPOINT; MAGPLUS_FSRT_CHECKPOINT +
MAGPLUS_FSRT_KP_CHECKPOINT; MAGPLUS_METAPORTRAIT_CHECKPOINT; MAGPLUS_LIVEPORTRAIT_WEIGHTS (the folder
of the official .pth files); MAGPLUS_EMOPORTRAITS_REPO +
MAGPLUS_EMOPORTRAITS_WEIGHTS + MAGPLUS_EMOPORTRAITS_PYTHON); otherwise the report says they were
not run — no numbers from random weights.

Usage: python benchmarks/transfer_synthetic.py [--clips 50] [--fps 60] [--backbones landmark-warp,fomm]
Writes benchmarks/results/transfer_synthetic.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"
CONDITIONS = ("direct", "magplus")
METRICS = ("epe_px", "peak_ratio", "curve_r", "leakage")

#: backbone -> (constructor keyword, environment variable) pairs it needs.
BACKBONE_ENV = {
    "landmark-warp": {},
    "fomm": {"checkpoint": "MAGPLUS_FOMM_CHECKPOINT"},
    "fsrt": {"checkpoint": "MAGPLUS_FSRT_CHECKPOINT", "kp_checkpoint": "MAGPLUS_FSRT_KP_CHECKPOINT"},
    "metaportrait": {"checkpoint": "MAGPLUS_METAPORTRAIT_CHECKPOINT"},
    "liveportrait": {"weights_dir": "MAGPLUS_LIVEPORTRAIT_WEIGHTS"},
    "emoportraits": {"repo": "MAGPLUS_EMOPORTRAITS_REPO", "weights": "MAGPLUS_EMOPORTRAITS_WEIGHTS",
                     "python": "MAGPLUS_EMOPORTRAITS_PYTHON"},
}


def backbone_kwargs(name: str) -> dict[str, str] | None:
    """Constructor arguments from the environment, or None when a required variable is missing."""
    needed = BACKBONE_ENV[name]
    values = {kw: os.environ.get(var) for kw, var in needed.items()}
    return None if any(v is None for v in values.values()) else values


def motion_metrics(flow: torch.Tensor, truth_flow: torch.Tensor, face: torch.Tensor, active: torch.Tensor) -> dict:
    """The four per-clip metrics of a generated clip's flow against the exact ground-truth flow."""
    from magplus.magnify.alpha import measure_amplitude, nonrigid_flow

    inside = face > 0.5
    epe = float((flow - truth_flow).norm(dim=1)[:, inside].mean())
    curve = measure_amplitude(flow, face.float()).curve.numpy()
    truth_curve = measure_amplitude(truth_flow, face.float()).curve.numpy()
    r = float(np.corrcoef(curve, truth_curve)[0, 1]) if curve.std() > 0 else float("nan")
    energy = nonrigid_flow(flow, face.float()).pow(2).sum(dim=1)
    outside = inside & ~active
    leak = float(energy[:, outside].sum() / energy[:, inside].sum().clamp_min(1e-12))
    return {"epe_px": epe, "peak_ratio": float(curve.max() / max(truth_curve.max(), 1e-6)), "curve_r": r,
            "leakage": leak}


def run_clip(seed: int, pipeline, fps: float, estimator) -> dict:
    """Render one program on both faces, run the pipeline, score both conditions."""
    from magplus.flow.clip import clip_flows
    from magplus.synth import default_face, render_program, sample_program, second_face

    program = sample_program(seed, fps=fps)
    driving = render_program(program, second_face())
    truth = render_program(program, default_face())
    out = pipeline(default_face(), driving.frames, fps)
    face, active = truth.masks["face"], truth.masks["expression"].bool()
    row = {"seed": seed, "aus": program.describe(), "frames": len(driving.frames), "alpha": out.alpha,
           "amplitude_px": max(e.amplitude_px for e in program.events)}
    for name, frames in (("direct", out.direct), ("magplus", out.result), ("truth_measured", truth.frames)):
        for key, value in motion_metrics(clip_flows(frames, flow=estimator), truth.flow, face, active).items():
            row[f"{name}.{key}"] = value
    exact = motion_metrics(truth.flow, truth.flow, face, active)
    row["truth.leakage"] = exact["leakage"]
    row["seconds"] = sum(out.timings.values())
    return row


def summarize_rows(rows: list[dict]) -> dict:
    """Mean and 95 % bootstrap CI per condition and metric, plus the paired MagPlus − direct difference."""
    from magplus.eval.stats import summarize

    table: dict = {}
    for condition in (*CONDITIONS, "truth_measured"):
        for metric in METRICS:
            values = [r[f"{condition}.{metric}"] for r in rows]
            table.setdefault(condition, {})[metric] = dict(zip(("mean", "ci_low", "ci_high"), summarize(values)))
    for metric in METRICS:
        diffs = [r[f"magplus.{metric}"] - r[f"direct.{metric}"] for r in rows]
        table.setdefault("magplus_minus_direct", {})[metric] = dict(zip(("mean", "ci_low", "ci_high"), summarize(diffs)))
    table["truth_exact"] = {"leakage": dict(zip(("mean", "ci_low", "ci_high"), summarize([r["truth.leakage"] for r in rows])))}
    return table


def markdown(report: dict) -> str:
    lines = ["# Transfer on synthetic ground truth: direct vs MagPlus–DeMagPlus", "",
             f"Command: `{report['provenance']['command']}`  ", f"Commit: `{report['provenance']['git_commit']}`  ",
             f"Date: {report['provenance']['date']}  ", f"Machine: {report['provenance']['machine']}, "
             f"{report['threads']} torch threads  ", f"Clips: {report['clips']} at {report['fps']:g} fps, "
             f"magnifier `{report['magnifier']}`, de-magnifier `{report['demagnifier']}`, alpha auto "
             f"(target {report['target_px']} px), evaluation flow "
             f"`{report['eval_flow']}`", "",
             "Mean [95 % bootstrap CI]. epe_px ↓, peak_ratio ideal 1, curve_r ↑, leakage ↓.", ""]
    for backbone, result in report["backbones"].items():
        lines.append(f"## {backbone}")
        if "skipped" in result:
            lines += ["", f"Not run: {result['skipped']}", ""]
            continue
        lines += ["", "| condition | " + " | ".join(METRICS) + " |", "|---|" + "---|" * len(METRICS)]
        for condition, values in result["summary"].items():
            cells = [f"{values[m]['mean']:.3f} [{values[m]['ci_low']:.3f}, {values[m]['ci_high']:.3f}]" if m in values
                     else "" for m in METRICS]
            lines.append(f"| {condition} | " + " | ".join(cells) + " |")
        wins = result["magplus_better_fraction"]
        lines += ["", "Fraction of clips where MagPlus is better than direct: "
                  + ", ".join(f"{m} {wins[m]:.0%}" for m in METRICS), "",
                  f"Mean alpha {result['mean_alpha']:.1f}; de-magnification path "
                  f"`{result.get('demagnify_path', 'not recorded')}` (motion: the backbone's motion scaled by "
                  f"1/alpha, the de-magnifier unused); {result['seconds_per_clip']:.1f} s per clip.", ""]
    return "\n".join(lines) + "\n"


def pipeline_demagnifier(args: argparse.Namespace) -> str:
    from magplus.pipeline import DEFAULT_DEMAGNIFIER

    return args.demagnifier or DEFAULT_DEMAGNIFIER.get(args.magnifier, args.magnifier)


def better(metric: str, magplus: float, direct: float) -> bool:
    if metric == "peak_ratio":
        return abs(np.log(max(magplus, 1e-6))) < abs(np.log(max(direct, 1e-6)))
    return magplus > direct if metric == "curve_r" else magplus < direct


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=50)
    parser.add_argument("--fps", type=float, default=60.0, help="clip frame rate (60: ~25 frames a clip)")
    parser.add_argument("--seed", type=int, default=1000, help="first program seed (training never used >= 1000)")
    parser.add_argument("--backbones", default=",".join(BACKBONE_ENV))
    parser.add_argument("--magnifier", default="lagrangian")
    parser.add_argument("--demagnifier", default=None, help="default: the magnifier's pair")
    parser.add_argument("--eval-flow", default="deepflow", help="evaluation flow (differs from the pipeline's DIS)")
    parser.add_argument("--target", type=float, default=8.0, help="automatic alpha target (px at 256)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "transfer_synthetic"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from tqdm import tqdm

    from magplus import create_flow
    from magplus.eval.report import provenance
    from magplus.pipeline import MagPipeline

    estimator = create_flow(args.eval_flow)
    report = {"provenance": provenance(args.seed, " ".join(["python", *sys.argv])), "clips": args.clips,
              "fps": args.fps, "magnifier": args.magnifier, "demagnifier": pipeline_demagnifier(args),
              "target_px": args.target, "eval_flow": args.eval_flow,
              "threads": args.threads, "backbones": {}}
    for name in [b.strip() for b in args.backbones.split(",") if b.strip()]:
        kwargs = backbone_kwargs(name)
        if kwargs is None:
            missing = [v for v in BACKBONE_ENV[name].values() if v not in os.environ]
            report["backbones"][name] = {"skipped": f"set {' and '.join(missing)} to the official files"}
            print(f"{name}: not run (set {', '.join(missing)})")
            continue
        pipeline = MagPipeline(backbone=name, backbone_kwargs=kwargs, magnifier=args.magnifier,
                               demagnifier=args.demagnifier, alpha="auto",
                               target_amplitude=args.target, compute_direct=True, crop=False, progress=False)
        rows, started = [], time.perf_counter()
        for i in tqdm(range(args.clips), desc=name, unit="clip"):
            rows.append(run_clip(args.seed + i, pipeline, args.fps, estimator))
        report["backbones"][name] = {
            "summary": summarize_rows(rows), "per_clip": rows,
            "magplus_better_fraction": {m: float(np.mean([better(m, r[f"magplus.{m}"], r[f"direct.{m}"]) for r in rows]))
                                        for m in METRICS},
            "mean_alpha": float(np.mean([r["alpha"] for r in rows])),
            "demagnify_path": pipeline.demagnify,
            "seconds_per_clip": (time.perf_counter() - started) / max(len(rows), 1),
        }
    from magplus.io.atomic import atomic_output

    out = Path(args.out)
    with atomic_output(out.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    with atomic_output(out.with_suffix(".md")) as tmp:
        tmp.write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
