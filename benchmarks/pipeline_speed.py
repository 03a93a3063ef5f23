"""End-to-end speed of the MagPlus pipeline: frames/s, per-stage time, peak memory, start-up.

For each clip length (50 and 200 frames; 1000 with ``--long``) one synthetic driving clip is
rendered with :mod:`magplus.synth` (a sampled AU program on the second bundled face at 200 fps,
extended or cut to the length; 256² crops) and the bundled source face is animated by the default
pipeline (MagPlus: magnify, backbone, de-magnify) and by direct transfer (``magnify=False``, what
``--no-magplus`` runs), alternating the two ``--repeats`` times in this process so that both see
the same machine. Reported per run:

* frames/s end to end (clip frames / wall time of the pipeline call; rendering the synthetic clip
  is not included) and per stage (clip frames / the stage's seconds from ``PipelineResult.timings``);
* the MagPlus / direct ratio of wall times: the figure that survives a loaded machine;
* peak resident memory of the process during the call (sampled every 2 ms) and its growth;
* start-up, apart: a fresh interpreter importing magplus, torch, OpenCV and MediaPipe, and in this
  process the first pipeline call on a 4-frame clip (MediaPipe graphs, backbone set-up).

``--profile`` adds the functions with the most self time in one default run (cProfile), the
hot spots inside the stages. The machine is shared: load averages at start and end are recorded.

Usage: nice -n 10 .venv/bin/python benchmarks/pipeline_speed.py [--frames 50,200] [--long] [--repeats 1]
       [--threads N] [--backbone landmark-warp|fomm-random] [--device cpu|cuda] [--profile]

GPU check (one short run on a machine with CUDA; FOMM-size random weights):
    python benchmarks/pipeline_speed.py --backbone fomm-random --device cuda --frames 50,200 --out /tmp/gpu_pipeline
    python benchmarks/backbones.py --backbones fomm --device cuda --frames 60
Writes benchmarks/results/pipeline_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from _machine import cpu_model, git_head  # noqa: E402  (benchmarks/ is the script's folder)
from backbone_cases import peak_memory, rss_mb  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
FPS = 200.0
MODES = {"magplus": True, "direct": False}
#: Pipeline stages in the order they run (columns of the table).
STAGE_ORDER = ("crop", "backbone_prepare", "backbone_direct", "alpha", "magnify", "backbone_magnified", "demagnify",
               "paste_back")


def startup_seconds() -> float:
    """Wall time of a fresh interpreter that imports what a ``magplus reenact`` run imports."""
    code = "import torch, cv2, mediapipe, magplus.pipeline, magplus.backbones.landmark_warp"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - start


def driving_clip(frames: int, seed: int = 0):
    """A synthetic driving clip ``(T, 3, 256, 256)``: a sampled program at 200 fps, ``frames`` long."""
    from magplus.synth import render_program, sample_program, second_face

    program = dataclasses.replace(sample_program(seed, fps=FPS), n_frames=int(frames))
    return render_program(program, second_face(256)).frames


def make_pipeline(magnify: bool, backbone: str, device: str = "cpu"):
    from magplus.pipeline import MagPipeline

    return MagPipeline(backbone=backbone_object(backbone, device), magnify=magnify, progress=False)


def backbone_object(name: str, device: str = "cpu"):
    """The backbone on ``device``: a registered name, or ``fomm-random`` (full-size FOMM, random weights)."""
    from magplus.cli._common import device_kwargs
    from magplus.registry import BACKBONES
    from magplus.runtime import torch_device

    device = torch_device(device)
    if name != "fomm-random":
        return BACKBONES.create(name, **device_kwargs("backbone", name, BACKBONES.get(name), device))
    import torch

    from magplus.backbones.fomm import FOMMBackbone
    from magplus.backbones.fomm.config import build_modules

    torch.manual_seed(0)
    kp_detector, generator = build_modules(None)
    return FOMMBackbone.from_state_dicts(generator.state_dict(), kp_detector.state_dict(), device=device)


def timed_run(pipeline, source, driving) -> dict:
    """One pipeline call: wall seconds, stage seconds, peak RSS (absolute and growth)."""
    start_rss = rss_mb()
    with peak_memory() as memory:
        start = time.perf_counter()
        out = pipeline(source, driving, fps=FPS)
        wall = time.perf_counter() - start
    frames = int(driving.shape[0])
    stages = {k: round(v, 3) for k, v in out.timings.items()}
    return {"frames": frames, "wall_s": round(wall, 3), "frames_per_s": round(frames / wall, 3),
            "stage_s": stages, "stage_frames_per_s": {k: round(frames / v, 2) for k, v in stages.items() if v > 0},
            "unaccounted_s": round(wall - sum(stages.values()), 3), "alpha": round(float(out.alpha), 3),
            "demagnify_path": getattr(out, "demagnify_path", None),
            "peak_rss_mb": round(start_rss + memory["peak_mb"], 1), "rss_growth_mb": round(memory["peak_mb"], 1)}


def profile_run(pipeline, source, driving, top: int = 25) -> list[dict]:
    """magplus functions with the most time of their own in one call (cProfile).

    "Own" time is the function's self time plus that of the built-ins (torch, OpenCV, numpy
    kernels) it calls directly, so a ``tensor.min()`` is charged to the magplus line that calls it.
    """
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    pipeline(source, driving, fps=FPS)
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    own: dict[tuple, float] = {}
    for func, (_, _, self_s, _, callers) in stats.items():
        if func[0] == "~":  # a built-in: charge each caller its share
            for caller, (_, _, caller_self_s, _) in callers.items():
                own[caller] = own.get(caller, 0.0) + caller_self_s
        else:
            own[func] = own.get(func, 0.0) + self_s
    package = str(HERE.parent / "src") + "/"
    rows = [{"function": f"{path.replace(package, '')}:{line}({name})", "calls": stats[(path, line, name)][1],
             "own_s": round(seconds, 3), "cumulative_s": round(stats[(path, line, name)][3], 3)}
            for (path, line, name), seconds in own.items() if path.startswith(package)]
    return sorted(rows, key=lambda r: -r["own_s"])[:top]


def uncommitted_sources() -> list[str]:
    """Tracked files under src/ that differ from the commit (the figures then include that work)."""
    try:
        # Compares the files with the commit's tree; GIT_OPTIONAL_LOCKS=0: never write a shared index.
        out = subprocess.run(["git", "diff", "--name-only", "HEAD", "--", "src"], cwd=HERE.parent, capture_output=True,
                             text=True, check=True, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"}).stdout
    except (OSError, subprocess.CalledProcessError):
        return ["unknown (not a git checkout)"]
    return [line.strip() for line in out.splitlines() if line.strip()]


def load_average() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def run(lengths: list[int], repeats: int, backbone: str, profile: bool, device: str = "cpu") -> dict:
    from magplus.synth import default_face

    source = default_face(256)
    startup = {"fresh_interpreter_imports_s": round(startup_seconds(), 3)}
    pipelines = {mode: make_pipeline(magnify, backbone, device) for mode, magnify in MODES.items()}
    warm = driving_clip(4)
    for mode, pipeline in pipelines.items():
        start = time.perf_counter()
        pipeline(source, warm, fps=FPS)
        startup[f"first_call_4_frames_{mode}_s"] = round(time.perf_counter() - start, 3)
    cases = []
    for frames in lengths:
        start = time.perf_counter()
        driving = driving_clip(frames)
        case = {"frames": frames, "synthesis_s": round(time.perf_counter() - start, 3), "runs": []}
        for repeat in range(repeats):
            order = list(MODES) if repeat % 2 == 0 else list(MODES)[::-1]
            for mode in order:
                row = timed_run(pipelines[mode], source, driving)
                case["runs"].append({"mode": mode, "repeat": repeat, **row})
                print(json.dumps({"frames": frames, "mode": mode, **row}), flush=True)
        best = {m: min(r["wall_s"] for r in case["runs"] if r["mode"] == m) for m in MODES}
        case["best_wall_s"] = best
        case["magplus_over_direct"] = round(best["magplus"] / best["direct"], 3)
        if profile and frames == lengths[0]:
            case["profile_magplus"] = profile_run(pipelines["magplus"], source, driving)
        cases.append(case)
        del driving
    return {"startup": startup, "cases": cases}


def markdown(report: dict) -> str:
    info = report["machine"]
    lines = ["# Pipeline speed (256², synthetic clips)", "",
             f"Generated by `benchmarks/pipeline_speed.py`. Backbone {report['backbone']} on "
             f"{report.get('device', 'cpu')}; MagPlus = the default "
             "pipeline, direct = `magnify=False` (`--no-magplus`), alternated in one process. Frames/s = clip "
             "frames / wall time of the pipeline call (synthesis excluded); stage columns are seconds from "
             "`PipelineResult.timings`; peak RSS is the process's resident memory during the call.", "",
             f"- machine: {info['machine']}; threads {info['threads']}; torch {info['torch']}; python {info['python']}",
             f"- load average at start {info['load_start']}, at end {info['load_end']} (the machine is shared)",
             f"- command: `{info['command']}`; git commit {info['git_commit']}; date {info['date']}",
             "- source files differing from that commit: " + (", ".join(info["uncommitted_sources"]) or "none"), "",
             "## Start-up (not in the figures below)", ""]
    lines += [f"- {k.replace('_', ' ')}: {v:.2f}" for k, v in report["startup"].items()]
    seen = {s for c in report["cases"] for r in c["runs"] for s in r["stage_s"]}
    stage_names = [s for s in STAGE_ORDER if s in seen] + sorted(seen - set(STAGE_ORDER))
    lines += ["", "## Runs", "",
              "| frames | mode | wall s | frames/s | " + " | ".join(f"{s} s" for s in stage_names)
              + " | other s | peak RSS MB | RSS growth MB | α |",
              "|" + "---:|" * (4 + len(stage_names) + 4)]
    for case in report["cases"]:
        for r in case["runs"]:
            stages = " | ".join(f"{r['stage_s'][s]:.2f}" if s in r["stage_s"] else "" for s in stage_names)
            lines.append(f"| {r['frames']} | {r['mode']} | {r['wall_s']:.2f} | {r['frames_per_s']:.2f} | {stages} | "
                         f"{r['unaccounted_s']:.2f} | {r['peak_rss_mb']:.0f} | {r['rss_growth_mb']:.0f} | {r['alpha']:.2f} |")
    lines += ["", "## MagPlus / direct (best wall time of each)", "", "| frames | MagPlus s | direct s | ratio |",
              "|---:|---:|---:|---:|"]
    for case in report["cases"]:
        best = case["best_wall_s"]
        lines.append(f"| {case['frames']} | {best['magplus']:.2f} | {best['direct']:.2f} | {case['magplus_over_direct']:.2f}x |")
    for case in report["cases"]:
        if case.get("profile_magplus"):
            lines += ["", f"## Hot spots: one MagPlus run of {case['frames']} frames (cProfile)", "",
                      "Own time = the function's self time plus the built-in kernels (torch, OpenCV, numpy) it "
                      "calls directly; profiling slows Python-heavy code, so read the ranking, not the seconds.", "",
                      "| function | calls | own s | cumulative s |", "|---|---:|---:|---:|"]
            lines += [f"| `{r['function']}` | {r['calls']} | {r['own_s']:.2f} | {r['cumulative_s']:.2f} |"
                      for r in case["profile_magplus"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", default="50,200", help="comma-separated clip lengths (default 50,200)")
    parser.add_argument("--long", action="store_true", help="also 1000 frames (minutes, several GB of memory)")
    parser.add_argument("--repeats", type=int, default=1, help="alternating MagPlus/direct rounds per length")
    parser.add_argument("--threads", type=int, default=None, help="threads (default: the cores this process may use)")
    parser.add_argument("--backbone", default="landmark-warp", help="registered backbone or fomm-random")
    parser.add_argument("--profile", action="store_true", help="cProfile one MagPlus run of the first length")
    parser.add_argument("--device", default="cpu", help="backbone device: cpu, cuda[:N] (fomm-random or backbones with one)")
    parser.add_argument("--out", type=Path, default=RESULTS / "pipeline_speed", help="output path without suffix")
    args = parser.parse_args(argv)
    lengths = [int(n) for n in args.frames.split(",") if n.strip()] + ([1000] if args.long else [])
    if not lengths or min(lengths) < 2 or args.repeats < 1:
        parser.error("--frames needs lengths >= 2 and --repeats >= 1")
    from magplus.errors import MagplusError
    from magplus.runtime import set_threads, torch_device

    threads = set_threads(args.threads)
    try:
        torch_device(args.device)
    except MagplusError as exc:
        parser.error(str(exc))
    import torch

    load_start = load_average()
    report = {"backbone": args.backbone, "device": args.device,
              **run(lengths, args.repeats, args.backbone, args.profile, args.device)}
    report["machine"] = {
        "machine": f"{cpu_model()}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}",
        "threads": threads, "torch": torch.__version__, "python": platform.python_version(),
        "load_start": load_start, "load_end": load_average(), "git_commit": git_head(short=True),
        "uncommitted_sources": uncommitted_sources(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv])}
    from magplus.io.atomic import atomic_output

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(args.out.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(report, indent=1) + "\n")
    text = markdown(report)
    with atomic_output(args.out.with_suffix(".md")) as tmp:
        tmp.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
