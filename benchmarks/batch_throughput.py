"""Throughput of `magplus batch`: jobs/min against workers, Ray overhead, resume after a kill.

One manifest of N short synthetic jobs (landmark-warp, Lagrangian α = 8, small crops, few frames,
no metrics: this measures generation) runs from an empty batch folder:

* `magplus batch` in a fresh process with ``--workers 1`` (jobs in that process, 1 or 2 threads)
  and ``--workers 2`` (a spawned pool, 1 thread each): jobs per minute over the whole command's
  wall clock, so imports and worker start-up are included, as a user sees them;
* Ray tasks on a local instance with 2 CPUs and 1 CPU per task (the same parallelism as the pool):
  ``ray.init`` is timed apart; the first run starts cold workers, a second reuses them; the
  videos are compared byte for byte with the pool's (and the pool's with a repeat of itself);
* a run in a subprocess (``--workers 2``) killed with SIGKILL once a third of the jobs are done,
  then run again: jobs lost (done before the kill but missing or redone after, or not done at the
  end) and temporary files left must both be 0.

Usage: nice -n 10 python benchmarks/batch_throughput.py [--jobs 20] [--resolution 128] [--frames 8] [--repeats 2]
Writes benchmarks/results/batch_throughput.{json,md}. The machine is shared: the load average at
start and end is recorded with the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import cpu_model, git_head  # noqa: E402  (benchmarks/ is the script's folder)

#: Local runs (`magplus batch` in a fresh process each): one thread per worker for the workers
#: comparison, and a single worker with 2 threads (the default on 2 cores).
RUNS = (("workers=1 threads=1", {"workers": 1, "threads": 1}),
        ("workers=2 threads=1", {"workers": 2, "threads": 1}),
        ("workers=1 threads=2", {"workers": 1, "threads": 2}))
RUNS_PARALLEL = {"workers=1 threads=1": 1, "workers=2 threads=1": 2, "workers=1 threads=2": 1}
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"


def _slug(name: str) -> str:
    return name.replace("=", "").replace(" ", "_")


def write_manifest(folder: Path, jobs: int, resolution: int, frames: int) -> Path:
    from magplus.batch.generators import settings_grid, synthetic_rows
    from magplus.batch.manifest import write_manifest as write

    rows = synthetic_rows(jobs, settings_grid(magnifiers=["lagrangian"], alphas=[8.0]), frames=frames,
                          extra={"resolution": resolution, "metrics": "no"})
    return write(folder / "manifest.csv", rows)


def timed_run(manifest: Path, out: Path, **options) -> dict:
    """``run_batch`` in this process (the Ray rows: the driver only schedules)."""
    from magplus.batch.runner import run_batch

    start = time.perf_counter()
    run = run_batch(manifest, out, progress=False, **options)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "done": run.done, "failed": run.failed, "jobs_per_min": 60.0 * run.done / seconds,
            "mean_job_s": _mean_job_seconds(out)}


def timed_cli_run(manifest: Path, out: Path, workers: int, threads: int) -> dict:
    """`magplus batch` in a fresh process, as a user runs it: start-up (imports, models) included."""
    from magplus.batch.state import batch_state

    command = [sys.executable, "-m", "magplus", "batch", str(manifest), "-o", str(out), "--workers", str(workers),
               "--threads", str(threads), "--quiet"]
    start = time.perf_counter()
    subprocess.run(command, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    seconds = time.perf_counter() - start
    counts = batch_state(out).counts()
    return {"seconds": seconds, "done": counts["done"], "failed": counts["failed"],
            "jobs_per_min": 60.0 * counts["done"] / seconds, "mean_job_s": _mean_job_seconds(out)}


def _mean_job_seconds(out: Path) -> float:
    values = [json.loads(p.read_text())["total_s"] for p in (out / "records").glob("*.mp4.json")]
    return sum(values) / max(len(values), 1)


def ray_run(manifest: Path, folder: Path, repeats: int) -> dict:
    """Ray runs on one local instance (2 CPUs, 1 per task): the first (cold workers) and the best of
    the others (warm workers); ray.init timed apart."""
    import ray

    start = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    init_s = time.perf_counter() - start
    try:
        rows = [timed_run(manifest, folder / f"ray_{i}", ray=True, threads=1) for i in range(max(repeats, 2))]
    finally:
        ray.shutdown()
    # The first run starts cold workers (imports, models), as a pool always does; later runs reuse them.
    cold = {**_best(rows[:1], parallel=2), "init_s": init_s, "ray": ray.__version__}
    return {"ray, cold workers": cold, "ray, warm workers (reused)": _best(rows[1:], parallel=2)}


def _best(rows: list[dict], parallel: int) -> dict:
    """The fastest repeat, with its start-up + scheduling overhead: wall - sum(job s) / parallel jobs."""
    best = min(rows, key=lambda r: r["seconds"])
    overhead = best["seconds"] - best["mean_job_s"] * best["done"] / parallel
    return {**best, "overhead_s": overhead, "repeats_s": [round(r["seconds"], 2) for r in rows]}


def compare_videos(a: Path, b: Path) -> dict:
    """How many of the videos in ``a`` are byte-identical in ``b``; largest decoded frame difference (0-255)."""
    from magplus.io import read_video

    videos = sorted(a.rglob("*.mp4"))
    same = [v.read_bytes() == (b / v.relative_to(a)).read_bytes() for v in videos]
    diffs = [float((read_video(v).frames - read_video(b / v.relative_to(a)).frames).abs().max()) * 255
             for v, equal in zip(videos, same) if not equal]
    return {"compared": len(videos), "identical_files": sum(same), "max_abs_frame_diff_255": max(diffs, default=0.0),
            "differing": [v.relative_to(a).as_posix() for v, equal in zip(videos, same) if not equal]}


def kill_and_resume(manifest: Path, out: Path, jobs: int) -> dict:
    """SIGKILL a `--workers 2` run once a third of the jobs are done, run again, count what was lost."""
    from magplus.batch.state import batch_state, leftovers

    env = dict(os.environ)  # PYTHONPATH: the source snapshot
    command = [sys.executable, "-m", "magplus", "batch", str(manifest), "-o", str(out), "--workers", "2",
               "--threads", "1", "--quiet"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target = max(1, jobs // 3)
    while process.poll() is None and not (out.is_dir() and batch_state(out).counts()["done"] >= target):
        time.sleep(0.2)
    killed_mid_run = process.poll() is None
    process.kill()
    process.wait()
    time.sleep(1.0)  # the workers die with their parent (PR_SET_PDEATHSIG)
    before = {s.job.output: s.record["finished"] for s in batch_state(out).of("done")}
    left_after_kill = len(leftovers(out))
    row = timed_run(manifest, out, workers=2, threads=1)
    after = {s.job.output: s for s in batch_state(out).jobs}
    redone = sum(1 for o, finished in before.items() if after[o].record["finished"] != finished)
    not_done = sum(1 for s in after.values() if s.status != "done")
    return {"killed_mid_run": killed_mid_run, "done_before_kill": len(before),
            "temporary_files_after_kill": left_after_kill, "rerun_done": row["done"], "rerun_seconds": row["seconds"],
            "jobs_lost": redone + not_done, "temporary_files_after_rerun": len(leftovers(out)),
            "partial_files_after_rerun": len([p for p in out.rglob("*") if ".part" in p.name])}


def machine_info() -> dict:
    import torch

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())  # other work on the machine skews timings
    return {"machine": f"{cpu_model()}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}",
            "load_at_start": load, "python": platform.python_version(), "torch": torch.__version__,
            "git_commit": git_head(short=True), "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv])}


def markdown(result: dict) -> str:
    info, rows, resume = result["info"], result["runs"], result["resume"]
    one, pool, ray = rows["workers=1 threads=1"], rows["workers=2 threads=1"], rows["ray, cold workers"]
    lines = ["# magplus batch throughput", "",
             f"Generated by `benchmarks/batch_throughput.py`: {result['jobs']} synthetic jobs (landmark-warp, "
             f"Lagrangian α = 8, {result['resolution']} px, {result['frames']} frames, no metrics), each run from an "
             "empty batch folder. Local rows: `magplus batch` in a fresh process, wall clock of the whole command "
             "(imports and worker start-up included). Ray rows: `run_batch(..., ray=True)` on a local instance "
             "started beforehand. Start-up + scheduling = wall - (mean job s x jobs / parallel jobs). Best of "
             f"{result['repeats']} interleaved repeats.", "",
             f"- machine: {info['machine']}; load average at start {info['load_at_start']}, at end "
             f"{info['load_at_end']} (a shared machine: other jobs ran at the same time)",
             f"- torch {info['torch']}, python {info['python']}, ray {ray['ray']}",
             f"- command: `{info['command']}`; git commit {info['git_commit']}; date {info['date']}",
             "- every phase ran on a copy of src/ taken at the start (others edit the checkout meanwhile); source "
             "files differing from the commit then: " + (", ".join(info["uncommitted_sources"]) or "none"), "",
             "| executor (Ray: 2 CPUs, 1 per task) | jobs/min | wall s (best; all repeats) | mean s per job "
             "(in its worker) | start-up + scheduling s | done | failed |",
             "|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['jobs_per_min']:.1f} | {row['seconds']:.1f} ({', '.join(map(str, row['repeats_s']))}) "
                     f"| {row['mean_job_s']:.2f} | {row['overhead_s']:.1f} | {row['done']} | {row['failed']} |")
    lines += ["", f"- speed-up of 2 workers over 1 (1 thread each): {pool['jobs_per_min'] / one['jobs_per_min']:.2f}x",
              f"- Ray (cold workers) against the 2-worker pool: wall {ray['seconds'] / pool['seconds']:.2f}x "
              f"(ray.init {ray['init_s']:.1f} s not included; with it {(ray['seconds'] + ray['init_s']) / pool['seconds']:.2f}x)",
              *[f"- {name}: {c['identical_files']}/{c['compared']} videos byte-identical, largest frame difference "
                f"{c['max_abs_frame_diff_255']:.0f}/255" + (f" ({', '.join(c['differing'][:5])})" if c["differing"] else "")
                for name, c in result["identical"].items()],
              f"- resume: killed with SIGKILL mid-run: {resume['killed_mid_run']}, {resume['done_before_kill']} job(s) "
              f"done before the kill, {resume['temporary_files_after_kill']} temporary file(s) left by the kill; the "
              f"re-run did {resume['rerun_done']} job(s) in {resume['rerun_seconds']:.1f} s; **jobs lost: "
              f"{resume['jobs_lost']}**, temporary files after the re-run: {resume['temporary_files_after_rerun']}", ""]
    return "\n".join(lines)


def snapshot_sources(folder: Path) -> list[str]:
    """Run every phase on a copy of src/ taken now (the checkout is edited by others while this runs,
    and a pool started later would import newer code); returns the files that differ from the commit."""
    import shutil

    shutil.copytree(ROOT / "src", folder / "src", ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, str(folder / "src"))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(folder / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "src"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return ["unknown (not a git checkout)"]
    return [line[3:] for line in out.splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs per local executor")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="magplus-batch-bench-") as tmp:
        folder = Path(tmp)
        uncommitted = snapshot_sources(folder)
        info = {**machine_info(), "uncommitted_sources": uncommitted}
        manifest = write_manifest(folder, args.jobs, args.resolution, args.frames)
        repeats: dict[str, list[dict]] = {name: [] for name, _ in RUNS}
        for i in range(args.repeats):  # interleaved, so that a change of the machine's load hits every row
            for name, options in RUNS:
                repeats[name].append(timed_cli_run(manifest, folder / f"{_slug(name)}_{i}", **options))
                print(name, json.dumps(repeats[name][-1]), flush=True)
        runs = {name: _best(rows, parallel=RUNS_PARALLEL[name]) for name, rows in repeats.items()}
        runs.update(ray_run(manifest, folder, args.repeats))
        print("ray", json.dumps({k: v for k, v in runs.items() if k.startswith("ray")}), flush=True)
        pool0 = folder / f"{_slug('workers=2 threads=1')}_0"
        identical = {"ray vs pool": compare_videos(pool0, folder / "ray_0"),
                     "workers=1 vs pool": compare_videos(pool0, folder / f"{_slug('workers=1 threads=1')}_0")}
        if args.repeats > 1:
            identical["pool repeat 2 vs 1"] = compare_videos(pool0, folder / f"{_slug('workers=2 threads=1')}_1")
        print("identical", json.dumps(identical), flush=True)
        resume = kill_and_resume(manifest, folder / "resume", args.jobs)
        print("resume", json.dumps(resume), flush=True)
    info["load_at_end"] = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    result = {"info": info, "jobs": args.jobs, "resolution": args.resolution, "frames": args.frames,
              "repeats": args.repeats, "runs": runs, "identical": identical, "resume": resume}
    from magplus.io.atomic import atomic_output

    RESULTS.mkdir(parents=True, exist_ok=True)
    with atomic_output(RESULTS / "batch_throughput.json") as path:
        path.write_text(json.dumps(result, indent=1) + "\n")
    with atomic_output(RESULTS / "batch_throughput.md") as path:
        path.write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
