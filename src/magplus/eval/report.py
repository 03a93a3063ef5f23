"""Report folders: ``metrics.json``, ``metrics.md``, ``per_clip.csv``, plots and videos.

A report is written into a temporary folder beside the target and renamed at the end
(:func:`magplus.io.atomic.atomic_output_dir`), so an interrupted run never leaves half a report.
``metrics.json`` makes it reproducible: the exact command, versions of magplus / torch / numpy,
the git commit of the checkout (when there is one), the seed, the date and the configuration.

Rows are plain dicts ``{"clip": ..., "condition": ..., <metric>: float, ...}``; summaries are the
mean with a 95 % percentile-bootstrap interval per condition and metric (:func:`summarize`).
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from ..io.atomic import atomic_output_dir
from .stats import summarize


def provenance(seed: int | None = None, command: str | None = None) -> dict[str, Any]:
    """What is needed to rerun a report: command, versions, git commit, seed, date, machine.

    Args:
        seed: the run's seed.
        command: the equivalent ``magplus ...`` command (the CLI rebuilds it from its parsed
            arguments); the process's own ``sys.argv`` is recorded beside it as ``argv``.
    """
    import numpy
    import torch

    from .. import __version__

    return {
        "command": command if command is not None else " ".join(["magplus", *sys.argv[1:]]),
        "argv": list(sys.argv),
        "versions": {"magplus": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
                     "python": platform.python_version()},
        "git_commit": git_commit(),
        "seed": seed,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": platform.platform(),
    }


def git_commit() -> str | None:
    """Commit of the checkout magplus runs from (with ``-dirty`` when it has local changes), or None."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return commit.stdout.strip() + ("-dirty" if status.stdout.strip() else "")


def summarize_rows(rows: Sequence[dict[str, Any]], metrics: Sequence[str], seed: int = 0) -> dict[str, dict[str, dict]]:
    """condition -> metric -> ``{"mean", "ci_low", "ci_high", "n"}`` over the rows of that condition."""
    out: dict[str, dict[str, dict]] = {}
    # Rows of clips that failed (condition "error") stay in per_clip.csv but not in the summary.
    conditions = [c for c in dict.fromkeys(row["condition"] for row in rows) if c != "error"]
    for condition in conditions:
        subset = [row for row in rows if row["condition"] == condition]
        out[condition] = {}
        for metric in metrics:
            values = [float(row[metric]) for row in subset if _is_number(row.get(metric))]
            mean, low, high = summarize(values, seed=seed)
            finite = sum(1 for v in values if not math.isnan(v))
            out[condition][metric] = {"mean": mean, "ci_low": low, "ci_high": high, "n": finite}
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    magnitude = abs(value)
    return f"{value:.3g}" if magnitude < 1000 else f"{value:.0f}"


def markdown_table(summary: dict[str, dict[str, dict]], metrics: dict[str, tuple[str, str]], title: str,
                   notes: Sequence[str] = ()) -> str:
    """Markdown: one row per metric, one column per condition, ``mean [low, high]`` cells."""
    conditions = list(summary)
    lines = [f"# {title}", "", *notes, "" if notes else "",
             "| metric | better | " + " | ".join(conditions) + " |",
             "|---|---|" + "---|" * len(conditions)]
    for metric, (better, description) in metrics.items():
        cells = []
        for condition in conditions:
            entry = summary[condition].get(metric)
            cells.append("–" if entry is None or entry["n"] == 0 else
                         f"{_fmt(entry['mean'])} [{_fmt(entry['ci_low'])}, {_fmt(entry['ci_high'])}]")
        lines.append(f"| {metric} | {better} | " + " | ".join(cells) + " |")
    lines += ["", "Cells: mean [95 % CI], percentile bootstrap over clips (2000 resamples).", ""]
    lines += [f"- **{metric}**: {description}" for metric, (_, description) in metrics.items()]
    return "\n".join(lines) + "\n"


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Rows as CSV, columns in first-seen order."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})


def _json_safe(value: Any) -> Any:
    """NaN / inf -> None (JSON has neither), numpy scalars -> Python numbers, recursively."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_report(target: str | os.PathLike[str], title: str, rows: Sequence[dict[str, Any]],
                 metrics: dict[str, tuple[str, str]], info: dict[str, Any],
                 extras: Callable[[Path], None] | None = None, notes: Sequence[str] = ()) -> Path:
    """Write a complete report folder atomically.

    Args:
        target: the report folder (replaced only once the new one is complete).
        title: Markdown title.
        rows: per-clip rows (``clip``, ``condition`` and metric values).
        metrics: metric name -> (better, description), in table order.
        info: provenance and configuration merged into ``metrics.json`` (see :func:`provenance`).
        extras: called with the temporary folder to add plots and videos.
        notes: lines printed under the Markdown title.

    Returns:
        The report folder.
    """
    summary = summarize_rows(rows, list(metrics), seed=int(info.get("seed") or 0))
    with atomic_output_dir(target) as tmp:
        payload = {**info, "title": title, "summary": summary, "per_clip": list(rows),
                   "metrics": {k: {"better": b, "description": d} for k, (b, d) in metrics.items()},
                   "confidence_interval": "95 % percentile bootstrap of the mean over clips, 2000 resamples"}
        (tmp / "metrics.json").write_text(json.dumps(_json_safe(payload), indent=2) + "\n")
        (tmp / "metrics.md").write_text(markdown_table(summary, metrics, title, notes))
        write_csv(tmp / "per_clip.csv", rows)
        if extras is not None:
            extras(tmp)
    return Path(target).expanduser().absolute()
