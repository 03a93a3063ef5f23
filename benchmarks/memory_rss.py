"""Peak resident memory of ``magplus reenact`` against clip length (issue 14: "flat in clip length").

Two driving clips as users bring them, each at several lengths:

- ``samm640``: a SAMM-like 640x640 grayscale frame folder (``006_00001.jpg`` ...) at 200 fps, the
  face about 320 px wide in the frame;
- ``rgb256``: a 256x256 RGB H.264 file at 200 fps (an already cropped face).

The frames are a synthetic micro-expression (one AU, 0.5 s at 200 fps) played forward and back
to the requested length, with fresh sensor noise on every frame. Each run is one
``python -m magplus reenact`` subprocess; its peak RSS comes from the kernel's accounting of that
child (``os.wait4`` -> ``ru_maxrss``), its wall time from the clock. The MB-per-frame slope of
a least-squares line through each clip's points says whether memory grows with length.

Run:  .venv/bin/python benchmarks/memory_rss.py [--frames 100 500 2000] [--clips samm640 rgb256]
Writes benchmarks/results/memory_rss.{json,md} (or --out) and prints the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import cpu_model, git_head  # noqa: E402  (benchmarks/ is the script's folder)

import numpy as np
import torch
import torch.nn.functional as F

from magplus.io.atomic import atomic_output

ROOT = Path(__file__).resolve().parents[1]
CLIPS = {"samm640": "640² grayscale JPEG folder, 200 fps (SAMM-like)", "rgb256": "256² RGB H.264 .mp4, 200 fps"}
FPS = 200.0


def base_motion(seed: int = 3) -> torch.Tensor:
    """A 0.5 s micro-expression (AU12, 1.5 px) on the second bundled face at 256²: ``(T, 3, 256, 256)``."""
    from magplus.synth import render_program, sample_program, second_face

    program = sample_program(seed, fps=FPS, aus=[12], amplitude_px=1.5, side=None, blink=False, noise_sigma=0.0,
                             onset_apex_ms=150.0, apex_offset_ms=150.0)
    return render_program(program, second_face()).frames


def frames_of(base: torch.Tensor, count: int, size: int, gray: bool, seed: int = 0):
    """Yield ``count`` frames ``(3, size, size)``: ``base`` ping-ponged, placed in the frame, noisy."""
    generator = torch.Generator().manual_seed(seed)
    cycle = list(range(len(base))) + list(range(len(base) - 2, 0, -1))
    face_side = size // 2 if size > 256 else size
    for index in range(count):
        face = base[cycle[index % len(cycle)]]
        if face_side != face.shape[-1]:
            face = F.interpolate(face[None], size=(face_side, face_side), mode="bilinear", antialias=True)[0]
        frame = torch.full((3, size, size), 0.45)
        top = (size - face_side) // 2
        frame[:, top:top + face_side, top:top + face_side] = face
        if gray:
            frame = (0.299 * frame[0] + 0.587 * frame[1] + 0.114 * frame[2]).expand(3, -1, -1)
        yield (frame + 0.01 * torch.randn(frame.shape, generator=generator)).clamp(0, 1)


def write_clip(kind: str, count: int, folder: Path, base: torch.Tensor) -> Path:
    """The driving clip ``kind`` with ``count`` frames under ``folder`` (streamed to disk)."""
    import cv2

    from magplus.io import write_video

    if kind == "samm640":
        target = folder / f"samm640_{count}" / "006_1_2"
        target.mkdir(parents=True)
        for index, frame in enumerate(frames_of(base, count, 640, gray=True), start=1):
            cv2.imwrite(str(target / f"006_{index:05d}.jpg"), (frame[0].numpy() * 255).round().astype(np.uint8),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
        return target
    path = folder / f"rgb256_{count}.mp4"
    write_video(path, frames_of(base, count, 256, gray=False), fps=FPS, crf=12)
    return path


def peak_rss(commands: list[list[str]], jobs: int = 1):
    """Run ``commands``, ``jobs`` at a time; yield ``(index, peak RSS in MB of that process, wall
    seconds, exit status, stderr tail)`` as each finishes (each child's own ``ru_maxrss``)."""
    scale = 1024.0 if sys.platform != "darwin" else 1.0  # ru_maxrss: KiB on Linux, bytes on macOS
    pending, running = list(enumerate(commands)), {}
    while pending or running:
        while pending and len(running) < jobs:
            index, command = pending.pop(0)
            err = tempfile.TemporaryFile()
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
            running[process.pid] = (index, err, time.perf_counter())
        pid, status, usage = os.wait4(-1, 0)
        if pid not in running:
            continue
        index, err, started = running.pop(pid)
        err.seek(0)
        tail = err.read().decode(errors="replace").strip().splitlines()[-3:]
        err.close()
        yield (index, usage.ru_maxrss * scale / 2**20, time.perf_counter() - started,
               os.waitstatus_to_exitcode(status), " | ".join(tail))


def slope(rows: list[dict]) -> float | None:
    """MB per frame of a least-squares line through ``(frames, peak MB)`` (None with < 2 points)."""
    done = [r for r in rows if r["status"] == 0]
    if len(done) < 2:
        return None
    return float(np.polyfit([r["frames"] for r in done], [r["peak_rss_mb"] for r in done], 1)[0])


def machine(threads: int | None) -> dict:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return dict(platform=platform.platform(), cpu=cpu_model(), cpu_count=os.cpu_count(), load_average_1min=load,
                python=platform.python_version(), torch=torch.__version__, threads=threads, commit=git_head(),
                date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))


def markdown(result: dict) -> str:
    info = result["machine"]
    lines = [
        "# Peak RSS of `magplus reenact` against clip length", "",
        f"Machine: {info['cpu']} ({info['cpu_count']} cores, load {info['load_average_1min']}), Python "
        f"{info['python']}, torch {info['torch']}, commit `{info['commit']}`, {info['date']}.", "",
        f"Command: `{result['command']}` ({result['jobs']} run(s) at a time)", "",
        "| clip | frames | peak RSS (MB) | peak ÷ frames (MB) | wall (s) | status |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in result["runs"]:
        status = "ok" if row["status"] == 0 else f"exit {row['status']}: {row['stderr_tail']}"
        lines.append(f"| {row['clip']} | {row['frames']} | {row['peak_rss_mb']:.0f} | {row['mb_per_frame']:.2f} | "
                     f"{row['wall_s']:.1f} | {status} |")
    lines += ["", "Least-squares slope of peak RSS against frames (0 = flat in clip length):", ""]
    for clip, value in result["slope_mb_per_frame"].items():
        lines.append(f"- {clip} ({CLIPS[clip]}): " + ("n/a" if value is None else f"{value:.3f} MB per frame"))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[100, 500, 2000], help="clip lengths")
    parser.add_argument("--clips", nargs="+", choices=list(CLIPS), default=list(CLIPS), help="clip kinds")
    parser.add_argument("--backbone", default="landmark-warp", help="backbone of the reenact runs")
    parser.add_argument("--alpha", default="auto", help="--alpha of the reenact runs (default auto)")
    parser.add_argument("--threads", type=int, default=None, help="OMP/MKL threads of the runs (default: unset)")
    parser.add_argument("--work", type=Path, default=None, help="where to write the clips (default: a temp folder)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="results folder")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs at a time (each child's peak RSS is its own; wall times then include sharing)")
    args = parser.parse_args(argv)
    from magplus.io import write_image
    from magplus.synth import default_face

    env_threads = {} if args.threads is None else {k: str(args.threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    os.environ.update(env_threads)
    base = base_motion()
    runs = []
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        work = Path(work)
        source = work / "source.png"
        write_image(source, default_face())
        template = [sys.executable, "-m", "magplus", "reenact", "--source", str(source), "--driving", "{clip}",
                    "--fps", f"{FPS:g}", "--backbone", args.backbone, "--alpha", args.alpha, "-o", "{out}"]
        # Shortest clips first, so an interrupted run still has a row per clip kind at each length.
        plan = [(kind, count) for count in sorted(args.frames) for kind in args.clips]
        commands = []
        for kind, count in plan:
            clip = write_clip(kind, count, work, base)
            out = work / f"out_{kind}_{count}.mp4"
            commands.append([str(clip) if part == "{clip}" else str(out) if part == "{out}" else part for part in template])
        for index, mb, wall, status, tail in peak_rss(commands, args.jobs):
            kind, count = plan[index]
            runs.append(dict(clip=kind, frames=count, peak_rss_mb=mb, mb_per_frame=mb / count, wall_s=wall,
                             status=status, stderr_tail=tail if status else "", command=shlex.join(commands[index])))
            runs.sort(key=lambda r: (list(args.clips).index(r["clip"]), r["frames"]))
            print(f"{kind:8s} {count:5d} frames: peak RSS {mb:7.0f} MB, {wall:6.1f} s"
                  + ("" if status == 0 else f"  (exit {status}: {tail})"), flush=True)
            text = write_results(args, argv, template, runs)  # after every run: an interrupted benchmark keeps its rows
    print(text)
    return runs


def write_results(args, argv, template, runs) -> str:
    """Write memory_rss.{json,md} for the runs so far; return the Markdown."""
    result = dict(
        command=shlex.join([sys.executable, "benchmarks/memory_rss.py", *(argv if argv is not None else sys.argv[1:])]),
        reenact=shlex.join(template), clips={k: CLIPS[k] for k in args.clips}, jobs=args.jobs, runs=runs,
        slope_mb_per_frame={kind: slope([r for r in runs if r["clip"] == kind]) for kind in args.clips},
        machine=machine(args.threads),
    )
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_output(args.out / "memory_rss.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    with atomic_output(args.out / "memory_rss.md") as tmp:
        tmp.write_text(text)
    return text


if __name__ == "__main__":
    main()
