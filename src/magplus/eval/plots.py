"""Report figures (matplotlib, Agg backend): motion curves and metric distributions."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

#: Line style per condition, so that every figure reads the same way.
STYLES = {"driving": ("black", "-"), "direct": ("tab:red", "-"), "magplus": ("tab:blue", "-"),
          "ground_truth": ("tab:green", "--"), "ground_truth_exact": ("tab:green", ":")}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_curves(path: Path, name: str, curves: dict[str, np.ndarray], fps: float, ylabel: str = "motion (px, p95 in face)") -> None:
    """One clip's motion-magnitude curves over time (seconds), one line per condition."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    for label, curve in curves.items():
        colour, style = STYLES.get(label, (None, "-"))
        ax.plot(np.arange(len(curve)) / fps * 1000.0, curve, style, color=colour, label=label, linewidth=1.5)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(ylabel)
    ax.set_title(name, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_distributions(path: Path, rows: Sequence[dict[str, Any]], metrics: Sequence[str], conditions: Sequence[str]) -> None:
    """Box plots (with the points) of each metric's per-clip values, one box per condition."""
    plt = _pyplot()
    columns = min(4, len(metrics))
    lines = math.ceil(len(metrics) / columns)
    fig, axes = plt.subplots(lines, columns, figsize=(3.2 * columns, 2.8 * lines), dpi=100, squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        data = [[float(r[metric]) for r in rows if r["condition"] == c and isinstance(r.get(metric), (int, float))
                 and math.isfinite(float(r[metric]))] for c in conditions]
        if any(data):
            ax.boxplot([d if d else [math.nan] for d in data], showmeans=True)
            for index, values in enumerate(data, start=1):
                ax.plot(np.full(len(values), index) + np.linspace(-0.08, 0.08, len(values)), values, ".", color="grey",
                        alpha=0.6)
        ax.set_xticks(range(1, len(conditions) + 1))
        ax.set_xticklabels(conditions, fontsize=7, rotation=20)
        ax.set_title(metric, fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_settings(folder: Path, rows: Sequence[dict[str, Any]], metrics: Sequence[str]) -> None:
    """``plots/<protocol>.png``: each metric against the protocol's varied setting, one line per magnifier."""
    plt = _pyplot()
    (folder / "plots").mkdir(exist_ok=True)
    varied = {"delta": "delta", "alpha": "alpha", "noise": "noise"}
    for protocol in dict.fromkeys(r["protocol"] for r in rows):
        subset = [r for r in rows if r["protocol"] == protocol]
        axis = varied.get(protocol, "alpha")
        fig, axes = plt.subplots(1, len(metrics), figsize=(3.0 * len(metrics), 2.8), dpi=100, squeeze=False)
        for ax, metric in zip(axes[0], metrics):
            for name in dict.fromkeys(r["condition"] for r in subset):
                xs = sorted({r[axis] for r in subset if r["condition"] == name})
                ys = [np.mean([r[metric] for r in subset if r["condition"] == name and r[axis] == x]) for x in xs]
                ax.plot(xs, ys, "o-", label=name)
            ax.set_xscale("log")
            ax.set_xlabel(axis)
            ax.set_title(metric, fontsize=8)
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=7)
        fig.suptitle(f"protocol: {protocol}", fontsize=9)
        fig.tight_layout()
        fig.savefig(folder / "plots" / f"{protocol}.png")
        plt.close(fig)
