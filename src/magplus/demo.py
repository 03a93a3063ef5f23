"""The main job on embedded defaults: a synthetic micro-expression transferred with MagPlus.

Source: scikit-image's public-domain astronaut photo (face crop). Driving: a synthetic
micro-expression (AU program drawn with real micro-expression statistics) rendered on a second,
different face. Because the program is known, the same program rendered on the *source* face is
the ground truth of a perfect transfer, so the demo can show how close direct transfer and
MagPlus–DeMagPlus come to it.

Outputs (in ``out_dir``): ``driving.mp4``, ``magnified.mp4``, ``direct.mp4``, ``magplus.mp4``,
``ground_truth.mp4``, ``side_by_side.mp4``, ``motion.png`` and ``summary.json``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import OutputPathError


def motion_plot(path: Path, curves: dict[str, np.ndarray], fps: float, title: str) -> None:
    """Plot face-region motion magnitude over time (one line per clip) to a PNG, atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io.atomic import atomic_output

    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=120)
    styles = {"ground truth": ("k", "--"), "driving": ("tab:gray", ":")}
    for label, curve in curves.items():
        color, line = styles.get(label, (None, "-"))
        ax.plot(np.arange(len(curve)) * 1000.0 / fps, curve, line, color=color, label=label, linewidth=1.8)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("face motion from onset (px, p95)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def curve_stats(curve: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Peak, peak ratio to the ground truth and Pearson correlation with it."""
    corr = float(np.corrcoef(curve, truth)[0, 1]) if curve.std() > 0 and truth.std() > 0 else float("nan")
    return {"peak_px": float(curve.max()), "peak_ratio_to_truth": float(curve.max() / max(truth.max(), 1e-6)),
            "correlation_with_truth": corr}


def run_demo(out_dir: str | Path = "out", seed: int = 7, fps: float = 100.0, aus: tuple[int, ...] = (12,),
             amplitude_px: float = 1.5, backbone: str = "landmark-warp", magnifier: str = "lagrangian",
             progress: bool = True) -> dict[str, Any]:
    """Run the demo and write its outputs; returns the summary written to ``summary.json``."""
    from tqdm.auto import tqdm

    from .io import side_by_side, write_video
    from .magnify.alpha import measure_clip_motion
    from .pipeline import MagPipeline
    from .synth import default_face, render_program, sample_program, second_face

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"demo output {str(out)!r} exists and is not a folder; choose another --out.")
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    steps = tqdm(total=5, desc="demo", unit="step", disable=not progress)
    source = default_face()
    program = sample_program(seed, fps=fps, aus=list(aus), amplitude_px=amplitude_px, side=None, blink=False)
    driving = render_program(program, second_face())
    truth = render_program(program, source)
    steps.update()
    steps.set_postfix_str("MagPipeline")
    pipeline = MagPipeline(backbone=backbone, magnifier=magnifier, alpha="auto", compute_direct=True, crop=False,
                           progress=progress)
    result = pipeline(source, driving.frames, fps)
    steps.update()
    clips = {"driving": driving.frames, "magnified": result.magnified_driving, "direct": result.direct,
             "magplus": result.result, "ground_truth": truth.frames}
    for name, frames in clips.items():
        write_video(out / f"{name}.mp4", frames, fps=fps)
    labels = ["driving (micro)", f"magnified x{result.alpha:.1f}", "direct transfer", "MagPlus", "ground truth"]
    write_video(out / "side_by_side.mp4", side_by_side(list(clips.values()), labels), fps=fps)
    steps.update()
    face = truth.masks.get("face") if isinstance(truth.masks, dict) else None
    curves = {"ground truth": truth.frames, "driving": driving.frames, "direct": result.direct, "MagPlus": result.result}
    curves = {k: measure_clip_motion(v, face if k != "driving" else driving.masks.get("face")).curve.numpy()
              for k, v in curves.items()}
    steps.update()
    motion_plot(out / "motion.png", curves, fps, f"{program.describe()} — {backbone}, {magnifier}, alpha {result.alpha:.1f}")
    summary = {
        "program": program.to_dict(), "fps": fps, "frames": int(driving.frames.shape[0]), "alpha": result.alpha,
        "backbone": backbone, "magnifier": magnifier,
        "motion": {k: curve_stats(v, curves["ground truth"]) for k, v in curves.items()},
        "timings_s": result.timings, "total_s": time.perf_counter() - started,
    }
    from .cli._common import write_json

    write_json(out / "summary.json", summary)
    steps.update()
    steps.close()
    return summary
