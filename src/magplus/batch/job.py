"""Run one batch job: read its inputs, run :class:`~magplus.pipeline.MagPipeline`, write its video
and its JSON record (both atomically), score it when it has ground truth.

A failure of any kind inside a job (no face found, a broken video, a backbone error) is caught
and recorded as one line (plus the traceback's tail for debugging) so the other jobs go on; only
an interruption (Ctrl-C, SIGTERM) stops the run. The record is written last: a job whose record
says ``done`` has its video in place. Scoring that fails after the video is written (a face lost
in a generated frame) leaves the job done, with ``metrics_error`` in its record.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import socket
import time
import traceback
import warnings
from typing import Any

from ..errors import MagplusError
from .inputs import load_case
from .manifest import BACKBONE_INPUTS, DIRECT, Job
from .state import FORMAT, open_records, output_path

#: Longest one-line failure reason kept in a record.
MAX_REASON = 300


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@functools.lru_cache(maxsize=1)
def _provenance() -> dict[str, Any]:
    """Versions, commit and machine (the same for every job of a process)."""
    from ..eval.report import provenance

    info = provenance()
    return {"versions": info["versions"], "git_commit": info["git_commit"], "machine": info["machine"],
            "host": socket.gethostname()}


@functools.lru_cache(maxsize=2)
def _backbone(name: str, inputs_json: str, device: str):
    """A backbone, built once per worker process for the jobs that share it (loading weights is slow)."""
    from ..registry import create_backbone

    return create_backbone(name, **json.loads(inputs_json)).to(device)


def build_pipeline(job: Job, aligned: bool):
    """The job's MagPipeline (aligned synthetic faces are not cropped)."""
    from ..pipeline import MagPipeline

    spec = job.spec
    inputs = {BACKBONE_INPUTS[c]: spec[c] for c in BACKBONE_INPUTS if spec.get(c)}
    from ..runtime import torch_device

    # auto: a GPU when one is visible (Ray gives each GPU task its own), else the CPU
    backbone = _backbone(spec["backbone"], json.dumps(inputs, sort_keys=True), str(torch_device(spec["device"])))
    direct = spec["magnifier"] == DIRECT
    extra = {"target_amplitude": spec["target_amplitude"]} if spec.get("target_amplitude") else {}
    return MagPipeline(backbone=backbone, magnifier="lagrangian" if direct else spec["magnifier"],
                       demagnifier=spec.get("demagnifier"), alpha=spec["alpha"], resolution=spec["resolution"],
                       magnify=not direct, relative=spec["relative"], crop=not aligned,
                       paste_back=spec["paste_back"], progress=False, **extra)


def score(job: Job, case, out) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Transfer metrics of the result against the driving clip (and the ground truth when known),
    with the motion curves for plots; the same code as `magplus eval transfer`."""
    from ..eval.motion import motion_curve
    from ..eval.transfer import _resize_truth, analyse_clip, compare_clips

    _, truth_flow = _resize_truth(case, out.result.shape[-1])
    driving, generated = analyse_clip(out.driving), analyse_clip(out.result)
    metrics = compare_clips(driving, generated, out.result, case, truth_flow)
    label = "direct" if job.spec["magnifier"] == DIRECT else "magplus"
    curves = {"driving": driving.curve, label: generated.curve}
    if truth_flow is not None:
        curves["ground_truth_exact"] = motion_curve(truth_flow, generated.masks["face"], percentile=95.0)
    return metrics, {k: [round(float(v), 5) for v in c] for k, c in curves.items()}


def _wants_metrics(job: Job, case) -> bool:
    mode = job.spec["metrics"]
    return mode == "yes" or (mode == "auto" and case.truth is not None)


def _execute(job: Job, out_dir: str, record: dict[str, Any]) -> None:
    """The job itself; fills ``record`` (raises on failure)."""
    from ..io import write_video

    timings: dict[str, float] = {}
    start = time.perf_counter()
    case = load_case(job)
    timings["load"] = time.perf_counter() - start
    out = build_pipeline(job, case.aligned)(case.source, case.driving, fps=case.fps)
    timings.update(out.timings)
    final = out.pasted if out.pasted is not None else out.result
    start = time.perf_counter()
    target = output_path(out_dir, job)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_video(target, final, fps=out.fps)
    timings["write"] = time.perf_counter() - start
    metrics = curves = None
    if _wants_metrics(job, case):
        start = time.perf_counter()
        try:
            metrics, curves = score(job, case, out)
        except MagplusError as exc:  # e.g. a face lost in a generated frame: the video itself is fine
            record["metrics_error"] = one_line(exc)
        timings["metrics"] = time.perf_counter() - start
    record.update(status="done", alpha=float(out.alpha), fps=float(out.fps), frames=int(final.shape[0]),
                  driving_peak_px=None if out.amplitude is None else float(out.amplitude.peak),
                  driving_local_peak_px=None if out.amplitude is None else float(out.amplitude.local_peak),
                  ground_truth=case.truth is not None, timings_s=timings, metrics=metrics, curves=curves,
                  case=case.meta.get("description") or case.meta.get("sample", {}).get("clip"))


def one_line(exc: BaseException) -> str:
    """``"NoFaceError: no face found in frame 3 ..."``, at most :data:`MAX_REASON` characters."""
    text = " ".join(str(exc).split()) or "(no message)"
    line = f"{type(exc).__name__}: {text}"
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 1] + "…"


def run_job(job: Job, out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Run one job and write its record; a failure is recorded, not raised.

    Returns:
        ``{"output", "status", "error", "total_s"}`` (the full record is on disk).
    """
    out_dir = os.fspath(out_dir)
    started = time.perf_counter()
    record: dict[str, Any] = {"format": FORMAT, "key": job.key, "output": job.output, "where": job.where,
                              "condition": job.condition, "index": job.index, "spec": job.spec,
                              "started": _now(), "pid": os.getpid(), **_provenance()}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                _execute(job, out_dir, record)
            finally:  # warnings (face gaps, clamped alpha...) belong to the job's record, not the terminal
                record["warnings"] = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    except Exception as exc:  # noqa: BLE001 - any failure of one job is recorded; the others go on
        record.update(status="failed", error=one_line(exc),
                      traceback=traceback.format_exc(limit=-6).splitlines()[-40:])
    record["total_s"] = time.perf_counter() - started
    record["finished"] = _now()
    status, error = record.pop("status"), record.pop("error", None)
    open_records(out_dir).save(job.output, status, error, **record)
    return {"output": job.output, "status": status, "error": error, "total_s": record["total_s"]}
