"""Where jobs run: this process, a local process pool, or Ray tasks; shards of a job list.

Every executor calls :func:`~magplus.batch.job.run_job`, which writes the job's outputs itself,
so the parent process holds no state worth losing. Threads are limited per worker
(:func:`magplus.runtime.set_threads`: torch, OpenCV, BLAS) so that ``workers x threads`` does
not exceed the cores this process may use.
"""

from __future__ import annotations

import os
import signal
from typing import Any, Callable, Iterable

from ..errors import DependencyError, InputError
from ..runtime import available_cores, set_threads
from .job import one_line, run_job
from .manifest import Job

OnDone = Callable[[dict[str, Any]], None]


def threads_per_worker(workers: int, threads: int | None = None) -> int:
    """``threads`` if given, else the available cores shared evenly among the workers (at least 1)."""
    if threads is not None:
        if int(threads) < 1:
            raise InputError(f"--threads must be >= 1, got {threads}.")
        return int(threads)
    return max(1, available_cores() // max(1, int(workers)))


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"K/N"`` -> ``(K, N)`` with ``0 <= K < N`` (SLURM: ``$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT``
    with ``--array=0-(N-1)``)."""
    if text is None:
        return None
    index, _, count = str(text).partition("/")
    try:
        k, n = int(index), int(count)
    except ValueError:
        raise InputError(f"--shard must be K/N with whole numbers (e.g. 0/4), got {text!r}.") from None
    if n < 1 or not 0 <= k < n:
        raise InputError(f"--shard K/N needs 0 <= K < N (K counts from 0; SLURM: --array=0-{max(n, 1) - 1}), "
                         f"got {text!r}.")
    return k, n


def select_shard(jobs: list[Job], shard: tuple[int, int] | None) -> list[Job]:
    """Every N-th job starting at K, by manifest order (deterministic; shards are disjoint)."""
    if shard is None:
        return list(jobs)
    k, n = shard
    return [job for job in jobs if job.index % n == k]


def _die_with_parent() -> None:
    """Linux: SIGKILL this worker when the parent dies, so no orphan keeps writing (prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        import ctypes.util

        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _exit_on_sigterm(signum, frame):
    # Unwinds the running job, so its atomic writers delete their temporary files.
    raise SystemExit(128 + signum)


def _init_worker(threads: int) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C stops
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    set_threads(threads)


def run_in_process(jobs: Iterable[Job], out_dir: str, threads: int, on_done: OnDone) -> None:
    """One job after another in this process (torch's thread count is restored afterwards)."""
    import torch

    before = torch.get_num_threads()
    set_threads(threads)
    try:
        for job in jobs:
            on_done(run_job(job, out_dir))
    finally:
        torch.set_num_threads(before)


def run_pool(jobs: list[Job], out_dir: str, workers: int, threads: int, on_done: OnDone) -> None:
    """A pool of ``workers`` spawned processes with ``threads`` threads each.

    A worker that dies (killed, out of memory) breaks the pool: the jobs not finished by then stay
    pending (no record), and the run stops with an error that says to run it again.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(threads,))
    try:
        futures = {pool.submit(run_job, job, out_dir): job for job in jobs}
        for future in as_completed(futures):
            try:
                result = future.result()
            except BrokenProcessPool:
                raise
            except Exception as exc:  # noqa: BLE001 - e.g. the record could not be written
                result = {"output": futures[future].output, "status": "failed", "error": one_line(exc)}
            on_done(result)
    except BrokenProcessPool:
        from ..errors import MagplusError

        raise MagplusError("a worker process died (killed or out of memory); finished jobs are kept, "
                           "run the same command again to do the rest.") from None
    except BaseException:
        _stop_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _stop_workers(pool) -> None:
    """Cancel queued jobs and stop running ones (SIGTERM: their temporary files are removed)."""
    pool.shutdown(wait=False, cancel_futures=True)
    processes = list(getattr(pool, "_processes", {}).values())
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


def _ray_job(job: Job, out_dir: str, threads: int) -> dict[str, Any]:
    set_threads(threads)
    return run_job(job, out_dir)


def import_ray():
    """The ``ray`` module, or a DependencyError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise DependencyError("--ray needs Ray: pip install 'magplus[ray]' (or run without --ray).") from None
    return ray


def run_ray(jobs: list[Job], out_dir: str, address: str | None, threads: int, on_done: OnDone,
            gpus_per_job: float | None = None, init_kwargs: dict[str, Any] | None = None) -> None:
    """One Ray task per job, scheduled by Ray.

    Args:
        address: a cluster (``"auto"``, ``"ray://head:10001"``, ``"10.0.0.1:6379"``), ``"local"``
            for a new local instance, or None (Ray's default: ``RAY_ADDRESS``, a running local
            cluster, else a new local instance).
        threads: CPUs reserved per task (and threads it uses).
        gpus_per_job: GPUs per task; None = 1 when the cluster has GPUs, else 0.
        init_kwargs: more ``ray.init`` arguments (e.g. ``num_cpus`` of a local instance).

    The batch folder must be on storage every node sees (each task writes its own outputs).
    """
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address or None, **(init_kwargs or {}))
    pending: dict[Any, Job] = {}
    try:
        if gpus_per_job is None:
            gpus_per_job = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        task = ray.remote(_ray_job).options(num_cpus=threads, num_gpus=gpus_per_job, max_retries=0)
        pending = {task.remote(job, out_dir, threads): job for job in jobs}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=min(len(pending), 16), timeout=1.0)
            for ref in ready:
                job = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a task's worker died: the job stays pending
                    result = {"output": job.output, "status": "lost", "error": one_line(exc)}
                on_done(result)
    except BaseException:
        for ref in pending:  # interrupted: stop the tasks still queued or running
            ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()
