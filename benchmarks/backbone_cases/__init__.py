"""Speed/memory cases for ``benchmarks/backbones.py``, one module per backbone.

A case module ``backbone_cases/<name>.py`` exposes
``run(frames: int, size: int, threads: int, device: str = "cpu") -> list[dict]``; each row has the
keys of :data:`ROW_KEYS`. The harness runs every case in its own subprocess, so one case's
allocations never hide another's. The helpers below keep the cases consistent: :func:`peak_memory`
(resident-memory growth sampled during a block, plus the CUDA allocator peak on GPU) and
:func:`make_row`.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

ROW_KEYS = ("backbone", "stage", "device", "frames_per_s", "seconds", "peak_mem_mb",
            "speedup_vs_baseline", "max_abs_diff_vs_baseline", "notes")


def release_freed_memory() -> None:
    """Return freed heap pages to the OS (glibc ``malloc_trim``), so the next stage's resident
    memory growth is not hidden by memory an earlier stage freed but the allocator kept."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def rss_mb() -> float:
    """Current resident memory of this process in MiB (Linux ``/proc``)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 2**20


@contextmanager
def peak_memory(device: str = "cpu", interval_s: float = 0.002) -> Iterator[dict]:
    """Peak memory growth (MiB) while the block runs: ``{"peak_mb": ...}``.

    On CPU: resident memory sampled every ``interval_s`` minus the value at entry (torch's
    allocations are invisible to tracemalloc). On CUDA: ``torch.cuda.max_memory_allocated`` growth.
    """
    result, stop = {"peak_mb": 0.0}, threading.Event()
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        try:
            yield result
        finally:
            torch.cuda.synchronize()
            result["peak_mb"] = (torch.cuda.max_memory_allocated() - start) / 2**20
        return
    release_freed_memory()
    start = rss_mb()

    def sample() -> None:
        while not stop.is_set():
            result["peak_mb"] = max(result["peak_mb"], rss_mb() - start)
            time.sleep(interval_s)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result["peak_mb"] = max(result["peak_mb"], rss_mb() - start)


def timed(fn: Callable[[], Any], device: str = "cpu") -> tuple[Any, float, float]:
    """Run ``fn`` once; return ``(result, seconds, peak_mem_mb)`` (GPU work is synchronised)."""
    with peak_memory(device) as memory:
        start = time.perf_counter()
        result = fn()
        if device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    return result, seconds, memory["peak_mb"]


def make_row(backbone: str, stage: str, device: str, frames: int, seconds: float, peak_mb: float,
             baseline_fps: float | None = None, diff: float | None = None, notes: str = "") -> dict:
    """One result row; ``speedup_vs_baseline`` compares frames/s with ``baseline_fps``."""
    fps = frames / seconds if seconds > 0 else float("inf")
    return {"backbone": backbone, "stage": stage, "device": device, "frames_per_s": round(fps, 4),
            "seconds": round(seconds, 3), "peak_mem_mb": round(peak_mb, 1),
            "speedup_vs_baseline": None if baseline_fps is None else round(fps / baseline_fps, 3),
            "max_abs_diff_vs_baseline": diff, "notes": notes}


def standalone(run: Callable[..., list[dict]], description: str, size: int) -> None:
    """Run a case module on its own (``python benchmarks/backbone_cases/<name>.py``): one JSON row a line."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--size", type=int, default=size)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--baseline-frames", type=int, default=None)
    args = parser.parse_args()
    for row in run(args.frames, args.size, args.threads, args.device, args.baseline_frames):
        print(json.dumps(row))
