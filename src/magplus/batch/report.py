"""Merge a batch folder's records into the report format of `magplus eval`.

``OUT/report/`` (or another folder) gets ``metrics.json``, ``metrics.md`` (mean and 95 %
bootstrap CI per condition and metric), ``per_clip.csv`` (the scored rows), ``jobs.csv`` (every
job: status, reason, α, timings) and ``plots/`` (metric distributions, motion curves of the first
scored jobs). A condition is the job's ``condition`` column, else ``backbone/magnifier/alpha=α``.
Every done job contributes its α and wall time; the transfer metrics come from jobs that were
scored (synthetic jobs with ground truth by default).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from .state import BatchState, batch_state, leftovers

#: Per-job values reported next to the transfer metrics (name -> (better, description)).
JOB_METRICS = {"alpha": ("–", "magnification factor used (automatic α varies per clip)"),
               "job_seconds": ("↓", "wall time of one job (s): read, pipeline, write, metrics")}


def report_metrics() -> dict[str, tuple[str, str]]:
    """The metrics of a batch report: the transfer protocol's, then :data:`JOB_METRICS`."""
    from ..eval.transfer import METRICS

    return {**METRICS, **JOB_METRICS}


def scored_rows(state: BatchState) -> list[dict[str, Any]]:
    """One row per done job: ``clip`` (its output), ``condition``, α, wall time and its metrics."""
    rows = []
    for item in state.of("done"):
        record = item.record or {}
        rows.append({"clip": item.job.output, "condition": item.job.condition, "alpha": record.get("alpha"),
                     "job_seconds": record.get("total_s"),
                     **{k: (math.nan if v is None else v) for k, v in (record.get("metrics") or {}).items()}})
    return rows


def job_rows(state: BatchState) -> list[dict[str, Any]]:
    """One row per job of the manifest, whatever its status (``jobs.csv``)."""
    rows = []
    for item in state.jobs:
        record = item.record or {}
        timings = record.get("timings_s") or {}
        rows.append({"index": item.job.index, "output": item.job.output, "condition": item.job.condition,
                     "status": item.status, "reason": item.reason or "", "where": item.job.where,
                     "alpha": record.get("alpha") if item.status == "done" else None,
                     "frames": record.get("frames"), "total_s": record.get("total_s"),
                     **{f"{k}_s": v for k, v in timings.items()},
                     "host": record.get("host"), "finished": record.get("finished"),
                     "git_commit": record.get("git_commit")})
    return rows


def _write_media(folder: Path, state: BatchState, rows: list[dict[str, Any]], plot_jobs: int) -> None:
    import numpy as np

    from ..eval.plots import plot_curves, plot_distributions
    from ..eval.report import write_csv

    write_csv(folder / "jobs.csv", job_rows(state))
    (folder / "plots").mkdir()
    metrics = [m for m in report_metrics() if any(isinstance(r.get(m), (int, float)) for r in rows)]
    if rows and metrics:
        conditions = list(dict.fromkeys(r["condition"] for r in rows))
        plot_distributions(folder / "plots" / "distributions.png", rows, metrics, conditions)
    with_curves = [s for s in state.of("done") if (s.record or {}).get("curves")][:plot_jobs]
    for item in with_curves:
        slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in item.job.output)
        curves = {k: np.asarray(v, dtype=float) for k, v in item.record["curves"].items()}
        plot_curves(folder / "plots" / f"curves_{slug}.png", item.job.output, curves, item.record.get("fps") or 30.0)


def write_batch_report(out_dir: str | os.PathLike[str], target: str | os.PathLike[str] | None = None,
                       seed: int = 0, plot_jobs: int = 3, command: str | None = None) -> tuple[Path, dict]:
    """Write the report of a batch folder (atomically; a previous report is replaced).

    Args:
        out_dir: the batch folder.
        target: report folder (default ``OUT/report``).
        seed: bootstrap seed.
        plot_jobs: jobs with a motion-curve plot.
        command: the command to record (default: this process's).

    Returns:
        ``(report folder, summary)`` with summary = condition -> metric -> mean / CI / n.
    """
    from ..eval.report import provenance, summarize_rows, write_report

    state = batch_state(out_dir)
    rows = scored_rows(state)
    counts = state.counts()
    metrics = report_metrics()
    info = {**provenance(seed, command), "config": {"batch_folder": str(Path(out_dir).absolute()), **counts,
                                                    "leftover_temporary_files": len(leftovers(out_dir))}}
    notes = [f"{len(state.jobs)} job(s): {counts['done']} done, {counts['failed']} failed, "
             f"{counts['pending']} pending (see jobs.csv)."]
    folder = write_report(target or Path(out_dir, "report"), "magplus batch", rows, metrics, info,
                          extras=lambda tmp: _write_media(tmp, state, rows, plot_jobs), notes=notes)
    return folder, summarize_rows(rows, list(metrics), seed)
