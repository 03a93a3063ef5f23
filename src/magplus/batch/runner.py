"""``run_batch``: validate a manifest, skip finished jobs, run the rest with one progress bar.

Order of work (each step is safe to interrupt):

1. parse and validate every row (nothing is written when one is wrong);
2. store the jobs in ``OUT/batch.json`` (for --status and --report);
3. take this shard's jobs, skip the done ones, remove what killed runs left of the others;
4. run them (this process, a process pool, or Ray); each job writes its video, then its record.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, OutputPathError
from ..runtime import set_threads
from .executors import run_in_process, run_pool, run_ray, select_shard, threads_per_worker
from .state import SNAPSHOT, batch_state, leftovers, remove_leftovers, write_snapshot
from .validate import load_manifest

#: A leftover temporary batch.json older than this belongs to a dead writer (writing takes ms).
SNAPSHOT_LEFTOVER_AGE_S = 60.0


@dataclass
class BatchRun:
    """What one ``run_batch`` call did.

    Attributes:
        out_dir: the batch folder.
        selected: jobs of this shard; skipped: of those, already done before the run.
        done, failed, lost: jobs finished now, failed now (recorded), lost (a worker died; pending).
        failures: ``(output, one-line reason)`` of the failed ones.
        removed_leftovers: temporary files of killed runs that were removed.
        seconds: wall time of the run.
    """

    out_dir: Path
    selected: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
    lost: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    removed_leftovers: int = 0
    seconds: float = 0.0


def _check_options(workers: int, threads: int | None) -> None:
    if isinstance(workers, bool) or int(workers) < 1:
        raise InputError(f"--workers must be >= 1, got {workers}.")
    if threads is not None and int(threads) < 1:
        raise InputError(f"--threads must be >= 1, got {threads}.")


def _sweep_snapshot_leftovers(out: Path) -> int:
    from ..io.atomic import leftover_target

    now, stale = time.time(), []
    for entry in os.listdir(out):
        path = out / entry
        if leftover_target(entry) == SNAPSHOT and now - path.stat().st_mtime > SNAPSHOT_LEFTOVER_AGE_S:
            stale.append(path)
    return remove_leftovers(stale)


def _sigterm_to_interrupt(signum, frame):
    raise KeyboardInterrupt


def run_batch(manifest: str | os.PathLike[str], out_dir: str | os.PathLike[str], workers: int = 1,
              shard: tuple[int, int] | None = None, ray: bool = False, ray_address: str | None = None,
              threads: int | None = None, progress: bool = True, ray_init: dict[str, Any] | None = None,
              gpus_per_job: float | None = None) -> BatchRun:
    """Run a manifest's jobs into ``out_dir``, resuming where an earlier run stopped.

    Args:
        manifest: CSV or YAML manifest (see :mod:`magplus.batch.manifest`).
        out_dir: batch folder (created; its parent must exist).
        workers: local processes (1 = this process). Ignored with ``ray``.
        shard: ``(K, N)``: run only jobs ``K, K+N, K+2N, ...`` of the manifest.
        ray, ray_address, ray_init, gpus_per_job: run as Ray tasks (see :func:`run_ray`).
        threads: threads per worker / CPUs per Ray task (default: cores / workers; 1 with Ray).
        progress: show the progress bar.

    Returns:
        A :class:`BatchRun`. Failed jobs are recorded and do not raise.
    """
    from tqdm.auto import tqdm

    _check_options(workers, threads)
    if not ray and int(workers) == 1 and "torch" not in sys.modules:
        # A fresh process (the CLI): set the threads before validation imports torch, because
        # OpenMP reads its wait policy only then (spinning threads cost 10x on a loaded machine).
        set_threads(threads_per_worker(1, threads))
    out = Path(out_dir).expanduser().absolute()
    if not out.parent.is_dir():
        raise OutputPathError(f"the parent of the batch folder {str(out)!r} does not exist; create it first.")
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"batch folder {str(out)!r} is a file; give a folder.")
    jobs = load_manifest(manifest, out)
    out.mkdir(exist_ok=True)
    write_snapshot(out, jobs, str(Path(manifest).expanduser().absolute()))
    run = BatchRun(out_dir=out)
    started = time.perf_counter()
    selected = select_shard(jobs, shard)
    todo = [state.job for state in batch_state(out, selected).jobs if state.status != "done"]
    run.selected, run.skipped = len(selected), len(selected) - len(todo)
    run.removed_leftovers = remove_leftovers(leftovers(out, todo)) + _sweep_snapshot_leftovers(out)
    bar = tqdm(total=len(todo), desc="magplus batch", unit="job", disable=not progress or not todo,
               dynamic_ncols=True)

    def on_done(result: dict[str, Any]) -> None:
        status = result["status"]
        if status == "done":
            run.done += 1
        elif status == "failed":
            run.failed += 1
            run.failures.append((result["output"], result.get("error") or ""))
        else:
            run.lost += 1
        bar.update(1)
        bar.set_postfix(failed=run.failed, refresh=False)

    import threading

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _sigterm_to_interrupt) if main_thread else None
    try:
        if ray:
            run_ray(todo, str(out), ray_address, threads or 1, on_done, gpus_per_job, ray_init)
        elif workers == 1 or len(todo) <= 1:
            run_in_process(todo, str(out), threads_per_worker(1, threads), on_done)
        else:
            workers = min(int(workers), len(todo))
            run_pool(todo, str(out), workers, threads_per_worker(workers, threads), on_done)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
        bar.close()
        run.seconds = time.perf_counter() - started
    return run
