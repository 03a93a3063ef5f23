"""The transfer protocol: direct transfer vs MagPlus–DeMagPlus, scored against the driving clip.

For each :class:`~magplus.eval.cases.TransferCase` one ``MagPipeline(..., compute_direct=True)``
call yields the driving face crops, the direct-transfer clip and the MagPlus–DeMagPlus clip. Each
clip is analysed once (:class:`ClipAnalysis`: evaluation flow from frame 0, landmarks of every
frame, region masks of frame 0's face) and every generated clip is compared with the driving clip
(:func:`compare_clips`). Synthetic cases add a ``ground_truth`` condition (the program rendered on
the source face): the ceiling the metrics reach given flow and landmark noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import MagplusError
from ..face.regions import AU_REGIONS, SIDED_REGIONS, region_masks
from ..io.records import slug as _slug
from ..flow.clip import clip_flows
from .appearance import appearance_stability
from .cases import TransferCase
from .landmark_motion import landmark_agreement
from .motion import endpoint_error, leakage, motion_curve, peak_motion_ratio, region_agreement
from .timing import Timing, motion_timing, timing_error

#: Folder of the per-clip records inside a report (and inside the live folder while it runs).
RECORDS = "clips"
#: Regions scored when a clip's action units are unknown.
ALL_AU_REGIONS = tuple(sorted(set(AU_REGIONS.values())))
#: Metric name -> (direction, description) for reports: +1 higher is better, -1 lower, 0 ideal 1 / 0.
METRICS: dict[str, tuple[str, str]] = {
    "peak_ratio": ("≈1", "peak non-rigid face motion, generated / driving (face-size normalised)"),
    "region_correlation": ("↑", "Pearson r of active-region motion curves"),
    "direction_cosine": ("↑", "cosine of active-region mean flow directions"),
    "leakage": ("↓", "fraction of non-rigid motion energy outside the active regions"),
    "onset_to_apex_error_ms": ("≈0", "onset→apex duration error vs annotation (ms)"),
    "duration_error_ms": ("≈0", "onset→offset duration error vs annotation (ms)"),
    "apex_shift_ms": ("≈0", "apex time error vs annotation (ms)"),
    "landmark_correlation": ("↑", "Pearson r of aligned landmark displacement trajectories"),
    "landmark_rmse": ("↓", "RMSE of aligned landmark displacements (face sizes)"),
    "psnr_static": ("↑", "PSNR vs first frame outside the AU regions (dB)"),
    "ssim_static": ("↑", "SSIM vs first frame outside the AU regions"),
    "flicker": ("↓", "mean |frame-to-frame change| outside the AU regions"),
    "epe": ("↓", "end-point error vs ground-truth motion inside the face (px, synthetic)"),
}


@dataclass
class ClipAnalysis:
    """What every metric needs from one clip ``(T, 3, S, S)``.

    Attributes:
        flows: ``(T, 2, S, S)`` evaluation flow from frame 0.
        landmarks: ``(T, 478, 2)`` landmarks detected in every frame (image mode: no tracker drift).
        masks: region name -> ``(S, S)`` soft mask of frame 0's face (AU regions, sided variants, face).
        curve: ``(T,)`` 95th percentile of the non-rigid flow magnitude in the face (pixels).
    """

    flows: torch.Tensor
    landmarks: np.ndarray
    masks: dict[str, torch.Tensor]
    curve: np.ndarray


def analyse_clip(frames: torch.Tensor, flow: Any = "dis") -> ClipAnalysis:
    """Flow, landmarks, masks and motion curve of a clip (raises NoFaceError when a face is missing)."""
    from ..face.landmarks import detect_landmarks_batch

    landmarks = detect_landmarks_batch(frames)
    masks = region_masks(landmarks[0], tuple(frames.shape[-2:]))
    flows = clip_flows(frames, flow=flow)
    return ClipAnalysis(flows, landmarks, masks, motion_curve(flows, masks["face"], percentile=95.0))


def active_regions(aus: Iterable[tuple[int, str | None]]) -> list[str]:
    """Region names moved by ``(AU, side)`` pairs (sided names for one-sided AUs); all AU regions if none known."""
    names = set()
    for number, side in aus:
        region = AU_REGIONS.get(int(number))
        if region is not None:
            names.add(f"{region}_{side}" if side in ("L", "R") and region in SIDED_REGIONS else region)
    return sorted(names) or list(ALL_AU_REGIONS)


def _timing_metrics(generated: ClipAnalysis, driving: ClipAnalysis, annotation: Timing | None, fps: float) -> dict:
    reference = annotation if annotation is not None else motion_timing(driving.curve, fps)
    error = timing_error(motion_timing(generated.curve, fps), reference).milliseconds()
    return {key: error[key] for key in ("onset_to_apex_error_ms", "duration_error_ms", "apex_shift_ms")}


def compare_clips(driving: ClipAnalysis, generated: ClipAnalysis, frames: torch.Tensor, case: TransferCase,
                  truth_flow: torch.Tensor | None = None) -> dict[str, float]:
    """All transfer metrics of one generated clip (keys of :data:`METRICS`).

    Args:
        driving, generated: analyses of the driving crops and the generated clip (same T).
        frames: the generated frames ``(T, 3, S, S)`` (for appearance stability).
        case: the case (active AUs, annotation, fps).
        truth_flow: ground-truth flow ``(T, 2, S, S)`` of the source face, for the EPE.
    """
    regions = active_regions(case.aus)
    out: dict[str, float] = {}
    out["peak_ratio"] = peak_motion_ratio(driving.flows, generated.flows, driving.landmarks[0], generated.landmarks[0],
                                          driving.masks["face"], generated.masks["face"]).ratio
    agreement = region_agreement(driving.flows, generated.flows, {r: driving.masks[r] for r in regions},
                                 {r: generated.masks[r] for r in regions}, driving.masks["face"], generated.masks["face"])
    out["region_correlation"] = _nanmean(a.correlation for a in agreement.values())
    out["direction_cosine"] = _nanmean(a.direction_cosine for a in agreement.values())
    active = torch.stack([generated.masks[r] for r in regions]).amax(dim=0)
    out["leakage"] = leakage(generated.flows, active, generated.masks["face"]) if case.aus else math.nan
    out.update(_timing_metrics(generated, driving, case.annotation, case.fps))
    lm = landmark_agreement(driving.landmarks, generated.landmarks)
    out["landmark_correlation"], out["landmark_rmse"] = lm.correlation, lm.rmse
    moving = torch.stack([generated.masks[r] for r in ALL_AU_REGIONS]).amax(dim=0)
    stability = appearance_stability(frames, 1.0 - moving)
    out["psnr_static"], out["ssim_static"], out["flicker"] = stability.psnr, stability.ssim, stability.flicker
    if truth_flow is not None:
        out["epe"] = endpoint_error(generated.flows, truth_flow, generated.masks["face"])
    return out


def _nanmean(values: Iterable[float]) -> float:
    data = [v for v in values if not math.isnan(v)]
    return float(np.mean(data)) if data else math.nan


def _resize_truth(case: TransferCase, size: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Ground truth at the pipeline's crop size (flow vectors scale with the image)."""
    if case.truth is None:
        return None, None
    frames, flow = case.truth, case.truth_flow
    if frames.shape[-1] != size:
        scale = size / frames.shape[-1]
        frames = F.interpolate(frames, size=(size, size), mode="bilinear", antialias=scale < 1).clamp(0, 1)
        flow = F.interpolate(flow, size=(size, size), mode="bilinear", antialias=scale < 1) * scale
    return frames, flow


@dataclass
class CaseResult:
    """Per-condition metrics of one case, the motion curves, and the clips for videos."""

    name: str
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    curves: dict[str, np.ndarray] = field(default_factory=dict)
    clips: dict[str, torch.Tensor] = field(default_factory=dict)
    alpha: float = 1.0
    fps: float = 30.0
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def evaluate_case(pipeline_factory, case: TransferCase, flow: Any = "dis", keep_clips: bool = False) -> CaseResult:
    """Run the pipeline on one case and score direct transfer, MagPlus (and ground truth).

    Args:
        pipeline_factory: ``aligned -> MagPipeline`` (cropping off for aligned synthetic cases).
        case: the case.
        flow: evaluation flow estimator.
        keep_clips: keep the clips (for side-by-side videos).

    Returns:
        A :class:`CaseResult`; an error on the way (no face found, a backbone failure...) is
        recorded in ``error`` instead of stopping the whole evaluation.
    """
    from ..context import clip_context

    result = CaseResult(name=case.name, fps=case.fps, meta=case.meta)
    try:
        with clip_context(f"driving clip {case.name!r}", fps=case.fps):
            out = pipeline_factory(case.aligned)(case.source, case.driving, fps=case.fps)
        result.alpha = float(out.alpha)
        truth, truth_flow = _resize_truth(case, out.result.shape[-1])
        clips = {"driving": out.driving, "direct": out.direct, "magplus": out.result}
        if truth is not None:
            clips["ground_truth"] = truth
        analyses = {}
        for name, frames in clips.items():
            with clip_context(f"{name} clip of {case.name!r}", fps=case.fps):
                analyses[name] = analyse_clip(frames, flow)
        for name, frames in clips.items():
            if name != "driving":
                result.metrics[name] = compare_clips(analyses["driving"], analyses[name], frames, case, truth_flow)
        result.curves = {name: a.curve for name, a in analyses.items()}
        if truth_flow is not None:
            result.curves["ground_truth_exact"] = motion_curve(truth_flow, analyses["ground_truth"].masks["face"],
                                                               percentile=95.0)
        if keep_clips:
            result.clips = clips
    except MagplusError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - one broken clip must not end an hours-long dataset run;
        # it is recorded (type and message) in the report, and the CLI counts the failures.
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def _pipeline_factory(backbone: str, magnifier: str, alpha: float | str, resolution: int,
                      backbone_kwargs: dict[str, Any] | None):
    """``aligned -> MagPipeline``; one pipeline (one backbone instance) per cropping mode."""
    from ..pipeline import MagPipeline
    from ..registry import create_backbone

    model = create_backbone(backbone, **(backbone_kwargs or {}))
    pipelines: dict[bool, Any] = {}

    def factory(aligned: bool):
        if aligned not in pipelines:
            pipelines[aligned] = MagPipeline(model, magnifier, alpha=alpha, resolution=resolution, compute_direct=True,
                                             crop=not aligned, progress=False)
        return pipelines[aligned]

    return factory


def _case_rows(result: CaseResult) -> list[dict[str, Any]]:
    if result.error is not None:
        return [{"clip": result.name, "condition": "error", "alpha": math.nan, "error": result.error}]
    return [{"clip": result.name, "condition": condition, "alpha": result.alpha, **values}
            for condition, values in result.metrics.items()]


def _write_media(tmp, live, results: list[CaseResult], rows: list[dict[str, Any]], plot_clips: int) -> None:
    """Curves and distributions under ``plots/``; the per-clip records and side-by-side videos,
    written into the live folder ``live`` as each clip finished, are carried into the report."""
    import shutil

    from .plots import plot_curves, plot_distributions

    (tmp / "plots").mkdir()
    done = [r for r in results if r.error is None]
    for result in done[:plot_clips]:
        plot_curves(tmp / "plots" / f"curves_{_slug(result.name)}.png", result.name, result.curves, result.fps)
    scored = [r for r in rows if r["condition"] != "error"]
    if scored:
        conditions = list(dict.fromkeys(r["condition"] for r in scored))
        plot_distributions(tmp / "plots" / "distributions.png", scored,
                           [m for m in METRICS if any(m in r for r in scored)], conditions)
    for name in (RECORDS, "videos"):
        if (live / name).is_dir():
            shutil.copytree(live / name, tmp / name, ignore=shutil.ignore_patterns(".*"))


def _write_case_video(folder, result: CaseResult) -> None:
    """The side-by-side video of one finished case, at once (its clips are then dropped from memory)."""
    from ..io import side_by_side, write_video

    (folder / "videos").mkdir(exist_ok=True)
    grid = side_by_side(list(result.clips.values()), labels=list(result.clips))
    write_video(folder / "videos" / f"{_slug(result.name)}.mp4", grid, fps=min(result.fps, 30.0))
    result.clips = {}


def _record_fields(result: CaseResult) -> dict[str, Any]:
    return {"alpha": result.alpha, "fps": result.fps, "metrics": result.metrics, "curves": result.curves,
            "meta": result.meta}


def _result_from_record(record: dict[str, Any]) -> CaseResult:
    """A finished case read back from its record (JSON null -> NaN)."""
    nan = math.nan
    metrics = {c: {k: nan if v is None else v for k, v in m.items()} for c, m in record["metrics"].items()}
    curves = {k: np.asarray([nan if v is None else v for v in c], dtype=np.float64) for k, c in record["curves"].items()}
    return CaseResult(name=record["item"], metrics=metrics, curves=curves, alpha=record["alpha"], fps=record["fps"],
                      meta=record.get("meta") or {})


def _failure_notes(results: list[CaseResult], limit: int = 10) -> list[str]:
    failed = [r for r in results if r.error is not None]
    lines = [f"- `{r.name}`: {r.error}" for r in failed[:limit]]
    if len(failed) > limit:
        lines.append(f"- ... and {len(failed) - limit} more (see per_clip.csv)")
    return (["", "Failed clips (recorded, the run went on):", *lines] if failed else [])


def run_transfer(cases: Iterable[TransferCase], output: str, backbone: str = "landmark-warp",
                 magnifier: str = "lagrangian", alpha: float | str = "auto", resolution: int = 256,
                 flow: Any = "dis", seed: int = 0, videos: int = 2, plot_clips: int = 3,
                 backbone_kwargs: dict[str, Any] | None = None, config: dict[str, Any] | None = None,
                 progress: bool = True, total: int | None = None, command: str | None = None, resume: bool = True):
    """Evaluate direct transfer and MagPlus–DeMagPlus on ``cases`` and write a report folder.

    Each clip's result is recorded (``output/clips/<clip>.json``, atomically) as soon as it is
    scored; a clip that fails is recorded with its reason and the run goes on. A re-run with the
    same settings skips the clips already done (see :mod:`magplus.io.records`).

    Args:
        cases: :class:`TransferCase` iterable (consumed lazily: one clip in memory at a time).
        output: report folder (written atomically).
        backbone, magnifier, alpha, resolution, backbone_kwargs: the pipeline's settings.
        flow: evaluation flow estimator.
        seed: recorded in the report (and seeds the bootstrap).
        videos: number of cases with a side-by-side video; plot_clips: cases with a curve plot.
        config: extra settings to record (dataset, paths...).
        progress: show a progress bar over clips.
        total: number of cases, for the progress bar.
        command: the equivalent CLI command, recorded in the report.
        resume: skip clips whose record in ``output`` says done (False: redo every clip).

    Returns:
        ``(report folder, summary dict)``.
    """
    from tqdm.auto import tqdm

    from ..io.atomic import check_output_dir
    from ..io.records import RunRecords
    from .report import provenance, summarize_rows, write_report

    live = check_output_dir(output)
    settings = {"backbone": backbone, "magnifier": magnifier, "alpha": alpha, "resolution": resolution,
                "flow": flow if isinstance(flow, str) else type(flow).__name__, **(config or {})}
    # Records depend on everything but how many clips are run: a re-run with more clips extends.
    records = RunRecords(live, {k: v for k, v in settings.items() if k not in ("max_clips", "synthetic")}, RECORDS)
    factory = _pipeline_factory(backbone, magnifier, alpha, resolution, backbone_kwargs)
    results, rows, resumed = [], [], 0
    for index, case in enumerate(tqdm(cases, total=total, desc="eval transfer", unit="clip", disable=not progress)):
        stored = records.done(case.name) if resume else None
        if stored is not None:
            result, resumed = _result_from_record(stored), resumed + 1
        else:
            result = evaluate_case(factory, case, flow, keep_clips=index < videos)
            if result.clips:
                _write_case_video(live, result)
            records.save(case.name, "failed" if result.error else "done", result.error, **_record_fields(result))
        results.append(result)
        rows.extend(_case_rows(result))
    info = {**provenance(seed, command), "config": settings,
            "clips": [{"clip": r.name, "alpha": r.alpha, "status": "failed" if r.error else "done", "error": r.error,
                       **r.meta} for r in results]}
    scored = [r for r in rows if r["condition"] != "error"]
    failed = sum(r.error is not None for r in results)
    notes = [f"Backbone `{backbone}`, magnifier `{magnifier}`, α = {alpha}, {len(results)} clip(s)"
             + (f", {failed} failed (see per_clip.csv)" if failed else "")
             + (f", {resumed} resumed from an earlier run's records" if resumed else "") + ".",
             *_failure_notes(results)]
    folder = write_report(output, "magplus eval transfer", rows, METRICS, info,
                          extras=lambda tmp: _write_media(tmp, live, results, rows, plot_clips), notes=notes)
    return folder, summarize_rows(scored, list(METRICS), seed)
