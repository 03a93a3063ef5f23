"""Which α automatic α really asks for, on synthetic clips across the regimes of the transfer sweep.

    .venv/bin/python benchmarks/auto_alpha.py [--clips 3]

For every cell of the grid (sensor noise ≈0.5 / ≈3 grey levels, head drift 0 / ≈1 px, amplitude
≈0.4 / ≈2 px, 30 / 200 fps) and both bundled faces, ``clips`` AU programs are rendered and
:func:`magplus.magnify.alpha.auto_alpha` is called the way ``MagPipeline`` calls it (DIS flow,
soft face mask from the landmarks, ``DEFAULT_ALPHA_MAX``), without the pipeline's extra cap by head
motion (``rigid_alpha_limit``), so drifting clips read higher here than in MagPipeline. The α values, their quantiles, the share
clamped at the maximum and the magnified peak (α × the true peak) are written to
``benchmarks/results/auto_alpha.{json,md}``: the training range of MagPlus is set from them.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import math
import sys
import time
from pathlib import Path

from _machine import cpu_model, git_head  # noqa: E402  (benchmarks/ is the script's folder)

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
NOISE_GREY = (0.5, 3.0)
DRIFT_PX = (0.0, 1.0)
AMPLITUDE_PX = (0.4, 2.0)
FPS = (30.0, 200.0)


def measure(clips: int, rows_path: Path) -> list[dict]:
    """One row per clip: regime, face, chosen α, measured and true peak.

    Rows are appended to ``rows_path`` (JSON lines) as they are measured; a rerun skips the seeds
    found there, so an interrupted run resumes, and the summary uses every row in the file.
    """
    from magplus.face.regions import region_masks
    from magplus.magnify.alpha import DEFAULT_ALPHA_MAX, auto_alpha
    from magplus.synth import default_face, face_landmarks, generate, second_face

    faces = {"astronaut": default_face(256), "grace_hopper": second_face(256)}
    masks = {name: region_masks(face_landmarks(face), size=(256, 256))["face"] for name, face in faces.items()}
    done = {}
    if rows_path.is_file():
        done = {r["seed"]: r for r in map(json.loads, rows_path.read_text().splitlines()) if r}
    rows = []
    cells = itertools.product(NOISE_GREY, DRIFT_PX, AMPLITUDE_PX, FPS, faces)
    for cell, (noise, drift, amplitude, fps, face) in enumerate(cells):
        for clip_index in range(clips):
            seed = 1000 * cell + clip_index
            if seed in done:
                continue
            angle = 2 * math.pi * ((seed * 0.6180339887) % 1.0)
            clip = generate(seed, face=faces[face], fps=fps, amplitude_px=amplitude, noise_sigma=noise / 255.0,
                            drift_px=(drift * math.cos(angle), drift * math.sin(angle)), blink=False)
            alpha, measured = auto_alpha(clip.frames[0], clip.frames, masks[face])
            rows.append({"noise_grey": noise, "drift_px": drift, "amplitude_px": amplitude, "fps": fps, "face": face,
                         "seed": seed, "alpha": alpha, "measured_peak_px": measured.peak,
                         "true_peak_px": float(clip.peak_px.max()), "magnified_true_peak_px": alpha * float(clip.peak_px.max()),
                         "clamped": alpha >= DEFAULT_ALPHA_MAX - 1e-6})
            with rows_path.open("a") as handle:
                handle.write(json.dumps(rows[-1]) + "\n")
            print(rows[-1], flush=True)
    # Every clip measured so far counts, also those of an earlier run with more clips per cell.
    return sorted(list(done.values()) + rows, key=lambda r: r["seed"])


def summarise(rows: list[dict]) -> dict:
    """Quantiles of α overall and per amplitude/noise, share clamped at the maximum."""
    def stats(values):
        values = np.asarray(values, dtype=float)
        q = np.quantile(values, [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
        return {"n": int(values.size), "min": q[0], "p10": q[1], "p25": q[2], "median": q[3], "p75": q[4], "p90": q[5],
                "max": q[6]}

    summary = {"all": stats([r["alpha"] for r in rows]),
               "clamped_share": float(np.mean([r["clamped"] for r in rows])),
               "magnified_true_peak_px": stats([r["magnified_true_peak_px"] for r in rows])}
    for key in ("amplitude_px", "noise_grey", "fps", "drift_px"):
        for value in sorted({r[key] for r in rows}):
            summary[f"{key}={value:g}"] = stats([r["alpha"] for r in rows if r[key] == value])
    return summary


def write(report: dict, out: Path) -> None:
    from magplus.io.atomic import atomic_output

    meta = report["meta"]
    lines = ["# Automatic α on synthetic clips (regime grid of the transfer sweep)",
             f"Command: `{meta['command']}`  \nCommit: `{meta['commit']}`  \nDate: {meta['date']}  \n"
             f"Machine: {meta['machine']}  \nWall time: {meta['seconds']:.0f} s",
             "auto_alpha as MagPipeline calls it: DIS flow, soft face mask, target 8 px, α ≤ 40. "
             "'magnified_true_peak_px' is α × the generator's true expression peak.",
             "| group | n | min | p10 | p25 | median | p75 | p90 | max |", "|---|---|---|---|---|---|---|---|---|"]
    for name, s in report["summary"].items():
        if isinstance(s, dict):
            lines.append(f"| {name} | {s['n']} | " + " | ".join(f"{s[k]:.3g}" for k in ("min", "p10", "p25", "median", "p75", "p90", "max")) + " |")
    lines.append(f"\nShare of clips clamped at α = 40: {report['summary']['clamped_share']:.2f}")
    with atomic_output(out.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    with atomic_output(out.with_suffix(".md")) as tmp:
        tmp.write_text("\n\n".join(lines[:3]) + "\n\n" + "\n".join(lines[3:]) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="distribution of automatic α on synthetic regimes")
    parser.add_argument("--clips", type=int, default=3, help="clips per cell and face")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "auto_alpha"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.time()
    rows = measure(args.clips, Path(args.out).with_suffix(".rows.jsonl"))
    report = {"rows": rows, "summary": summarise(rows), "meta": {
        "command": " ".join([".venv/bin/python", "benchmarks/auto_alpha.py", *(argv if argv is not None else sys.argv[1:])]),
        "commit": git_head(short=True), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{cpu_model()}, {torch.get_num_threads()} torch threads", "seconds": time.time() - start}}
    write(report, Path(args.out))
    print(json.dumps(report["summary"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
