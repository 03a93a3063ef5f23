"""Direct transfer against each MagPlus variant, per regime: is MagPlus ever worse than direct?

The grid (issue "Transfer that is never worse than direct"): sensor noise ≈0.5 and ≈3 grey
levels × head drift 0 and ≈1 px × peak amplitude ≈0.4 and ≈2 px × 30 and 200 fps, each cell with
``--clips`` AU programs (AUs, side and timing drawn from the DOMAIN.md statistics). Faces: two
driver faces and two source faces (the bundled astronaut and Grace Hopper photos, each also
mirrored, so no pair shares a face image); clip ``i`` of a cell uses driver ``i % 2`` and source
``(i // 2) % 2``.

For each clip the program is rendered on the driver (the driving clip) and on the source (the
ground truth of a perfect transfer, with its exact flow). Every generated clip is scored with an
evaluation flow the pipeline does not use (Farneback by default; the pipeline uses DIS; a ``truth``
row scores the ground-truth clip itself, the floor the evaluation flow allows):

* at the source's landmarks, in inter-ocular units, after removing the motion of the nose bridge
  (head motion is scored separately as ``head_ratio``):
  ``rel_error`` ‖generated − truth‖ / ‖truth‖ over landmarks and frames; ``leakage`` mean
  generated motion at still landmarks (truth peak < 5 % of the clip's) / truth peak;
  ``peak_ratio`` peak of the generated / true motion curve over moving landmarks (ideal 1);
  ``curve_r`` Pearson r of those curves; ``head_ratio`` generated / true nose-bridge motion
  at the last frame (drift cells only; ideal 1);
* densely inside the face: ``dense_rel_error`` mean ‖generated − truth flow‖ / mean ‖truth flow‖.

Per cell: mean and 95 % bootstrap CI per variant, and paired (variant − direct) differences with
95 % CIs. Acceptance per cell: the CI upper bound of (MagPlus − direct) is at most 5 % of direct's
mean for rel_error and leakage.

Usage:
    .venv/bin/python benchmarks/transfer_regimes.py [--clips 5] [--variants direct,motion,image]
Per-clip rows are cached in ``benchmarks/results/transfer_regimes.rows*.jsonl`` (a rerun resumes;
``--shard K/N`` runs a share in parallel processes);
writes ``transfer_regimes.{json,md}`` and ``transfer_regimes.png`` under benchmarks/results/.
Backbones with official weights are swept with ``--backbone fomm`` (etc.; the weights come from the
environment variables of ``transfer_synthetic.py``), into ``transfer_regimes_<backbone>``: that is
how each backbone's default de-magnification path is to be chosen.
A variant compared on its own report reuses the main sweep's direct and truth rows:
    .venv/bin/python benchmarks/transfer_regimes.py --variants direct,motion,motion_fine_flow \
        --out benchmarks/results/transfer_regimes_fine_flow --reuse transfer_regimes
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_model, git_head  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
GRID = {"noise": (0.5, 3.0), "drift": (0.0, 1.0), "amplitude": (0.4, 2.0), "fps": (30.0, 200.0)}
METRICS = ("rel_error", "leakage", "peak_ratio", "curve_r", "head_ratio", "dense_rel_error")
#: Variants: pipeline keyword arguments on top of the defaults ("direct" is magnify=False).
VARIANTS = {
    "direct": {"magnify": False},
    "motion": {"demagnify": "motion"},  # the default for landmark-warp (stabilised)
    "motion_unstabilised": {"demagnify": "motion", "stabilise": False},  # head motion scaled both ways
    "image": {"demagnify": "image"},  # Lagrangian pair in image space
    "learned": {"magnifier": "magplus", "demagnifier": "demagplus"},  # the paper's pair, image space
    "learned_motion": {"magnifier": "magplus", "demagnify": "motion"},  # learned magnifier, motion space
    # Motion space, with the magnifier's DIS refined at full resolution (its pyramid level 0).
    "motion_fine_flow": lambda: {"demagnify": "motion", "magnifier": _lagrangian(finest_scale=0)},
    # DIS in its fast preset (3.6x faster on 256² faces), with the Lagrangian's 6 inversion steps of
    # the time of transfer_regimes_fast_flow.md and with 4.
    "motion_fast_flow": lambda: {"demagnify": "motion", "magnifier": _lagrangian(preset="fast", inverse_iterations=6)},
    "motion_fast_flow_inv4": lambda: {"demagnify": "motion", "magnifier": _lagrangian(preset="fast", inverse_iterations=4)},
    # Names of the sweeps that chose today's default, kept so that their commands still run: the
    # head motion taken out before magnifying and put back after, then 4 inversion steps (both
    # now the same as "motion").
    "motion_stabilised": {"demagnify": "motion", "stabilise": True},
    "motion_inv4": lambda: {"demagnify": "motion", "magnifier": _lagrangian(inverse_iterations=4)},
    # Automatic α with and without the local cap (the clip's most moving region lifted at most
    # twice the target, magnify.alpha.DEFAULT_MAX_LOCAL_RATIO).
    "motion_local_cap": {"demagnify": "motion", "max_local_ratio": 2.0},
    "motion_local_cap3": {"demagnify": "motion", "max_local_ratio": 3.0},
    "motion_no_local_cap": {"demagnify": "motion", "max_local_ratio": None},
}
NOSE_BRIDGE, EYE_OUTER = 168, (33, 263)


def _lagrangian(inverse_iterations: int | None = None, **dis_options):
    """The default Lagrangian magnifier with its DIS flow built from ``dis_options`` (and, if given,
    another number of inversion steps)."""
    from magplus.flow.opencv import DISFlow
    from magplus.magnify.classical import LagrangianMagnifier

    steps = {} if inverse_iterations is None else {"inverse_iterations": inverse_iterations}
    return LagrangianMagnifier(flow=DISFlow(**dis_options), **steps)


def faces() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Driver faces and source faces (no image shared between the two lists)."""
    from magplus.synth import default_face, second_face

    astronaut, hopper = default_face(), second_face()
    return [hopper, astronaut.flip(-1)], [astronaut, hopper.flip(-1)]


def sample_at(flows: torch.Tensor, points: np.ndarray) -> np.ndarray:
    """Bilinear flow ``(T, 2, H, W)`` at ``points`` ``(N, 2)`` pixels -> ``(T, N, 2)``."""
    h, w = flows.shape[-2:]
    grid = torch.from_numpy(points).float().clone()
    grid[:, 0] = grid[:, 0] / (w - 1) * 2 - 1
    grid[:, 1] = grid[:, 1] / (h - 1) * 2 - 1
    grid = grid[None, None].expand(flows.shape[0], 1, -1, -1)
    return F.grid_sample(flows, grid, align_corners=True)[:, :, 0].permute(0, 2, 1).numpy()


def landmark_metrics(gen: np.ndarray, truth: np.ndarray, iod: float) -> dict:
    """Metrics of generated vs true landmark motion ``(T, N, 2)`` (head motion scored apart)."""
    head_true, head_gen = truth[:, NOSE_BRIDGE], gen[:, NOSE_BRIDGE]
    g = (gen - head_gen[:, None]) / iod
    t = (truth - head_true[:, None]) / iod
    true_mag, gen_mag = np.linalg.norm(t, axis=2), np.linalg.norm(g, axis=2)
    per_point_peak = true_mag.max(0)
    still = per_point_peak < 0.05 * per_point_peak.max()
    moving = per_point_peak >= 0.3 * per_point_peak.max()
    true_curve, gen_curve = true_mag[:, moving].mean(1), gen_mag[:, moving].mean(1)
    drift = float(np.linalg.norm(head_true[-1]))
    return {
        "rel_error": float(np.linalg.norm(g - t) / max(np.linalg.norm(t), 1e-12)),
        "leakage": float(gen_mag[:, still].mean() / max(true_mag.max(), 1e-12)),
        "peak_ratio": float(gen_curve.max() / max(true_curve.max(), 1e-12)),
        "curve_r": float(np.corrcoef(gen_curve, true_curve)[0, 1]) if gen_curve.std() > 0 else float("nan"),
        "head_ratio": float(np.linalg.norm(head_gen[-1]) / drift) if drift > 0.2 else float("nan"),
    }


def score(frames: torch.Tensor, truth, estimator, step: int) -> dict:
    """All metrics of a generated clip ``(T, 3, S, S)`` against the ground-truth SynthClip."""
    from magplus.flow.clip import clip_flows

    index = list(range(0, frames.shape[0], step))
    flows = clip_flows(frames[index], frames[0], estimator)
    true_flows = truth.flow[index]
    lm = truth.landmarks
    iod = float(np.linalg.norm(lm[EYE_OUTER[0]] - lm[EYE_OUTER[1]]))
    row = landmark_metrics(sample_at(flows, lm), sample_at(true_flows, lm), iod)
    face = truth.masks["face"]
    row["dense_rel_error"] = float((flows - true_flows).norm(dim=1)[:, face].mean()
                                   / true_flows.norm(dim=1)[:, face].mean().clamp_min(1e-6))
    return row


def run_clip(cell: dict, index: int, variants: list[str], pipelines: dict, estimator, seed: int) -> list[dict]:
    from magplus.synth import render_program, sample_program

    drivers, sources = faces()
    driver, source = drivers[index % 2], sources[(index // 2) % 2]
    angle = 2 * np.pi * ((index * 0.618) % 1.0)
    drift = (cell["drift"] * np.cos(angle), cell["drift"] * np.sin(angle))
    program = sample_program(seed, fps=cell["fps"], amplitude_px=cell["amplitude"], drift_px=drift,
                             noise_sigma=cell["noise"] / 255.0, blink=False, lead_in_ms=60.0)
    driving = render_program(program, driver)
    truth = render_program(program, source)
    step = max(1, int(round(cell["fps"] / 30.0)))  # score at ≈30 Hz: the curve is resolved, the cost bounded
    rows = []
    for name in variants:
        row = {**cell, "clip": index, "seed": seed, "variant": name, "aus": program.describe(), "frames": len(driving)}
        if name == "truth":  # the evaluation flow on the ground truth itself: the ceiling its noise allows
            row.update({"alpha": 1.0, "path": "truth", "gain": None, "seconds": 0.0})
            row.update(score(truth.frames, truth, estimator, step))
        else:
            started = time.perf_counter()
            out = pipelines[name](source, driving.frames, cell["fps"])
            row.update({"alpha": out.alpha, "path": out.demagnify_path,
                        "gain": None if out.motion_gain is None else out.motion_gain.gain,
                        "raw_gain": None if out.motion_gain is None else out.motion_gain.raw_gain,
                        "seconds": time.perf_counter() - started})
            row.update(score(out.result, truth, estimator, step))
        rows.append(row)
    return rows


def summarize_cells(rows: list[dict], variants: list[str]) -> list[dict]:
    from magplus.eval.stats import summarize

    cells = []
    for key in itertools.product(*GRID.values()):
        cell = dict(zip(GRID, key))
        chosen = [r for r in rows if all(r[k] == v for k, v in cell.items())]
        by = {v: sorted((r for r in chosen if r["variant"] == v), key=lambda r: r["clip"]) for v in (*variants, "truth")}
        if any(not by[v] for v in variants):  # a cell not run for every variant (--only, --variants)
            continue
        entry = {"cell": cell, "clips": len(by["direct"]), "variants": {}, "minus_direct": {}}
        for v in (*variants, "truth"):
            if not by[v]:
                continue
            entry["variants"][v] = {m: dict(zip(("mean", "ci_low", "ci_high"), summarize([r[m] for r in by[v]])))
                                    for m in METRICS}
            entry["variants"][v]["alpha"] = float(np.mean([r["alpha"] for r in by[v]]))
            if v in ("direct", "truth"):
                continue
            paired = {r["clip"]: r for r in by["direct"]}
            entry["minus_direct"][v] = {
                m: dict(zip(("mean", "ci_low", "ci_high"),
                            summarize([r[m] - paired[r["clip"]][m] for r in by[v] if r["clip"] in paired])))
                for m in METRICS}
            entry["minus_direct"][v]["accepted"] = all(
                entry["minus_direct"][v][m]["ci_high"] <= 0.05 * entry["variants"]["direct"][m]["mean"]
                for m in ("rel_error", "leakage"))
        cells.append(entry)
    return cells


def cell_label(cell: dict) -> str:
    return f"n{cell['noise']:g} d{cell['drift']:g} a{cell['amplitude']:g} {cell['fps']:g}fps"


def markdown(report: dict) -> str:
    variants = report["variants"]
    lines = [f"# Transfer per regime: direct vs MagPlus variants ({report.get('backbone', 'landmark-warp')})", "",
             f"Command: `{report['command']}`  ", f"Commit: `{report['commit']}`  ", f"Date: {report['date']}  ",
             f"Machine: {report['machine']}  ",
             f"Clips per cell: {report['clips']}; evaluation flow `{report['eval_flow']}` (the pipeline uses DIS); "
             "landmark metrics in inter-ocular units with head motion removed at the nose bridge.", "",
             "Cells: n = sensor noise (grey levels), d = head drift (px), a = peak amplitude (px at 256²). "
             "The truth column scores the ground-truth clip itself with the same evaluation flow: the "
             "error that flow's own noise leaves on a perfect transfer.", "",
             "## Relative error at landmarks (mean [95 % CI]) and paired difference to direct", "",
             "| cell | " + " | ".join(variants) + " | " + " | ".join(f"{v} − direct" for v in variants[1:])
             + " | accepted | truth (evaluation floor) |", "|---|" + "---|" * (2 * len(variants) + 1)]
    fmt = lambda d: f"{d['mean']:.3f} [{d['ci_low']:.3f}, {d['ci_high']:.3f}]"  # noqa: E731
    for c in report["cells"]:
        cells = [fmt(c["variants"][v]["rel_error"]) for v in variants]
        diffs = [fmt(c["minus_direct"][v]["rel_error"]) for v in variants[1:]]
        ok = ", ".join(f"{v}: {'yes' if c['minus_direct'][v]['accepted'] else 'NO'}" for v in variants[1:])
        floor = fmt(c["variants"]["truth"]["rel_error"]) if "truth" in c["variants"] else "n/a"
        lines.append(f"| {cell_label(c['cell'])} | " + " | ".join(cells + diffs) + f" | {ok} | {floor} |")
    for metric in METRICS[1:]:
        lines += ["", f"## {metric} (mean)", "", "| cell | " + " | ".join(variants) + " | α (mean) |",
                  "|---|" + "---|" * (len(variants) + 1)]
        for c in report["cells"]:
            vals = [f"{c['variants'][v][metric]['mean']:.3f}" for v in variants]
            lines.append(f"| {cell_label(c['cell'])} | " + " | ".join(vals)
                         + f" | {c['variants'][variants[-1]]['alpha']:.1f} |")
    lines += ["", "Acceptance: per cell, the paired 95 % CI upper bound of (variant − direct) ≤ 5 % of direct's "
              "mean for rel_error and leakage.", ""]
    for v in variants[1:]:
        accepted = sum(c["minus_direct"][v]["accepted"] for c in report["cells"])
        lines.append(f"- {v}: accepted in {accepted} of {len(report['cells'])} cells.")
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants, cells = report["variants"], report["cells"]
    fig, axes = plt.subplots(1, 2, figsize=(14, 5))
    x = np.arange(len(cells))
    for ax, metric in zip(axes, ("rel_error", "leakage")):
        width = 0.8 / len(variants)
        for k, v in enumerate(variants):
            means = [c["variants"][v][metric]["mean"] for c in cells]
            err = np.array([[c["variants"][v][metric]["mean"] - c["variants"][v][metric]["ci_low"],
                             c["variants"][v][metric]["ci_high"] - c["variants"][v][metric]["mean"]] for c in cells]).T
            ax.bar(x + (k - (len(variants) - 1) / 2) * width, means, width, yerr=err, label=v, capsize=2)
        ax.set_xticks(x, [cell_label(c["cell"]) for c in cells], rotation=70, fontsize=7)
        ax.set_title(f"{metric} per regime (lower is better)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=5, help="clips per cell (>= 5 for the acceptance figures)")
    parser.add_argument("--variants", default="direct,motion,image")
    parser.add_argument("--eval-flow", default="farneback",
                        help="evaluation flow (the pipeline uses DIS; Farneback is 10-20x faster than DeepFlow "
                             "at 0.02-0.39 px error, DOMAIN.md §3; the 'truth' rows give its own floor)")
    parser.add_argument("--seed", type=int, default=5000, help="first program seed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated cell filters, e.g. fps=30,noise=3")
    parser.add_argument("--backbone", default="landmark-warp",
                        help="backbone to sweep; those needing official weights read them from the environment "
                             "variables of benchmarks/transfer_synthetic.py (e.g. MAGPLUS_FOMM_CHECKPOINT)")
    parser.add_argument("--out", default=None, help="result name (default: benchmarks/results/transfer_regimes, "
                                                    "with _<backbone> for another backbone)")
    parser.add_argument("--magplus-weights", default=None,
                        help="candidate MagPlus weights (.safetensors or last.pt) for the learned variants; their rows "
                             "are labelled <variant>@<name> (the file's stem, or its run folder's name) so that they "
                             "never mix with the shipped weights' rows")
    parser.add_argument("--demagplus-weights", default=None,
                        help="candidate DeMagPlus weights for the variants with the learned de-magnifier (learned), "
                             "labelled like --magplus-weights")
    parser.add_argument("--fresh", action="store_true", help="ignore cached rows")
    parser.add_argument("--reuse", default="", help="also read the cached rows of these result names, e.g. "
                                                    "'transfer_regimes' for the main sweep's direct and truth rows")
    parser.add_argument("--shard", default="1/1", help="K/N: run every N-th clip from the K-th (processes in parallel "
                                                       "write their own row files; a last run without --shard reports)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from tqdm import tqdm

    from magplus import create_flow
    from magplus.io.atomic import atomic_output
    from magplus.pipeline import MagPipeline

    from transfer_synthetic import BACKBONE_ENV, backbone_kwargs

    if args.backbone not in BACKBONE_ENV:
        parser.error(f"--backbone must be one of {', '.join(BACKBONE_ENV)}")
    weights = backbone_kwargs(args.backbone)
    if weights is None:  # no figures from random weights
        missing = [v for v in BACKBONE_ENV[args.backbone].values() if v not in os.environ]
        parser.error(f"backbone {args.backbone!r} needs its official weights: set {' and '.join(missing)}")
    if args.out is None:
        suffix = "" if args.backbone == "landmark-warp" else "_" + args.backbone.replace("-", "_")
        args.out = str(RESULTS / f"transfer_regimes{suffix}")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if variants[0] != "direct" or any(v not in VARIANTS for v in variants):
        parser.error(f"variants must start with 'direct' and be among {', '.join(VARIANTS)}")
    filters = dict(f.split("=") for f in args.only.split(",") if f)
    out = Path(args.out)
    shard, shards = (int(v) for v in args.shard.split("/"))
    cache = out.parent / f"{out.name}.rows.{shard}of{shards}.jsonl"
    prefixes = [out, *(RESULTS / name for name in args.reuse.split(",") if name)]
    rows = [] if args.fresh else [json.loads(line) for prefix in prefixes
                                  for path in sorted(prefix.parent.glob(f"{prefix.name}.rows*.jsonl"))
                                  for line in path.read_text().splitlines() if line.strip()]
    done = {(r["noise"], r["drift"], r["amplitude"], r["fps"], r["clip"], r["variant"]) for r in rows}
    settings = {v: VARIANTS[v]() if callable(VARIANTS[v]) else dict(VARIANTS[v]) for v in variants}
    from magplus.magnify.demag import DeMagPlus
    from magplus.magnify.learned import MagPlus

    for flag, weights_path, key, network in (("--magplus-weights", args.magplus_weights, "magnifier", MagPlus),
                                             ("--demagplus-weights", args.demagplus_weights, "demagnifier", DeMagPlus)):
        if not weights_path:
            continue
        name = network.__name__.lower()
        learned = [v for v in variants if settings[v].get(key) == name]
        if not learned:
            users = [v for v, s in VARIANTS.items() if isinstance(s, dict) and s.get(key) == name]
            parser.error(f"{flag} needs a variant with the learned {key} ({', '.join(users)})")
        candidate = network(weights=weights_path, progress=False)
        # A run folder's files are all called last.pt / <network>.safetensors: the folder names them.
        path = Path(weights_path)
        label = path.parent.name if path.stem in ("last", name) else path.stem
        for variant in learned:
            settings[f"{variant}@{label}"] = {**settings.pop(variant), key: candidate}
            variants[variants.index(variant)] = f"{variant}@{label}"
    pipelines = {v: MagPipeline(backbone=args.backbone, backbone_kwargs=weights, crop=False, progress=False, **settings[v])
                 for v in variants}
    estimator = create_flow(args.eval_flow)
    jobs = [(dict(zip(GRID, key)), i) for key in itertools.product(*GRID.values()) for i in range(args.clips)]
    jobs = [(c, i) for c, i in jobs if all(float(c[k]) == float(v) for k, v in filters.items())][shard - 1::shards]
    with cache.open("a") as log:
        for n, (cell, i) in enumerate(tqdm(jobs, desc="regime sweep", unit="clip")):
            todo = [v for v in (*variants, "truth") if (cell["noise"], cell["drift"], cell["amplitude"], cell["fps"], i, v) not in done]
            if not todo:
                continue
            seed = args.seed + 1000 * list(itertools.product(*GRID.values())).index(tuple(cell.values())) + i
            for row in run_clip(cell, i, todo, pipelines, estimator, seed):
                rows.append(row)
                log.write(json.dumps(row) + "\n")
                log.flush()
    if cache.stat().st_size == 0:
        cache.unlink()  # everything came from the cache: no row file of this run
    report = {"command": " ".join(["python", *sys.argv]), "commit": git_head(), "machine": cpu_model(),
              "backbone": args.backbone,
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "clips": args.clips,
              "eval_flow": args.eval_flow, "variants": variants, "grid": GRID,
              "cells": summarize_cells(rows, variants)}
    with atomic_output(out.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    with atomic_output(out.with_suffix(".md")) as tmp:
        tmp.write_text(markdown(report))
    with atomic_output(out.with_suffix(".png")) as tmp:
        plot(report, tmp)
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
