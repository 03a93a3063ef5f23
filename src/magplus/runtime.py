"""Process-wide compute settings: how many threads the numeric libraries use, and the torch device.

Why threads are set at all: torch (OpenMP), OpenCV (its own pool) and MKL each start one thread
per core by default, so a clip that runs them back to back, or a machine shared with other
processes, ends up with several times more busy threads than cores; OpenMP threads that wait for
a descheduled sibling spin, and a convolution then takes several times longer (the test suite
measured 5-10x on 2 cores). Setting one count for all of them, before heavy work starts, avoids it. The OpenMP threads are
also told to sleep rather than spin while they wait (``OMP_WAIT_POLICY=PASSIVE``, unless the user
chose a policy): measured on the shared 2-core machine (load ~15), an elementwise torch op on
2 threads took 0.5-0.9 ms instead of 9-10 ms, and the official-style FOMM loop 10.7 s instead of
30-36 s; OpenMP reads this only when it starts, i.e. when torch is first imported.

MediaPipe's TFLite/XNNPACK graph picks its own thread count and exposes no setting through the
Python solutions API; it runs once per frame on small inputs, so it is left alone.
"""

from __future__ import annotations

import os
from typing import Any

from .errors import InputError

__all__ = ["THREAD_VARIABLES", "available_cores", "prefer_passive_waits", "set_threads", "torch_device"]

#: Environment variables read by OpenMP, MKL and OpenBLAS when they start their pools.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def available_cores() -> int:
    """Cores this process may run on (honours taskset, cgroup cpusets and SLURM CPU binding)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def prefer_passive_waits() -> None:
    """Let idle OpenMP threads sleep (``OMP_WAIT_POLICY=PASSIVE``) unless the user chose a policy.

    Only effective before torch is first imported (OpenMP reads it when it loads); the ``magplus``
    command calls it before any subcommand runs.
    """
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


def set_threads(threads: int | None = None) -> int:
    """Use ``threads`` threads (default: :func:`available_cores`) in torch, OpenCV and the BLAS pools.

    The environment variables only reach libraries that start their pools later (OpenMP reads
    them once, so call this before torch is imported for the wait policy to apply); torch and
    OpenCV are told directly. Returns the count that was set.

    Raises:
        InputError: ``threads`` is not a whole number >= 1.
    """
    count = available_cores() if threads is None else threads
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InputError(f"threads must be a whole number >= 1, got {threads!r}.")
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(count)
    prefer_passive_waits()
    import cv2
    import torch

    torch.set_num_threads(count)
    cv2.setNumThreads(count)
    return count


def torch_device(device: Any = "cpu") -> "torch.device":
    """A checked :class:`torch.device` from ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.

    ``"auto"`` is the first CUDA GPU when torch sees one, else the CPU.

    Raises:
        InputError: an unknown device string, CUDA asked for but not available (CPU-only torch
            or no GPU visible), or a GPU index beyond the visible ones.
    """
    import torch

    if isinstance(device, str) and device.strip().lower() == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}.") from exc
    if resolved.type == "cpu":
        return resolved
    if resolved.type != "cuda":
        raise InputError(f"device {device!r} is not supported; use 'cpu', 'cuda', 'cuda:N' or 'auto'.")
    if not torch.cuda.is_available():
        build = "this torch build has no CUDA" if torch.version.cuda is None else "torch sees no CUDA GPU"
        raise InputError(f"device {str(device)!r} asked for but {build}; use --device cpu "
                         "(or install a CUDA build of torch on a machine with an NVIDIA GPU).")
    count = torch.cuda.device_count()
    if resolved.index is not None and resolved.index >= count:
        raise InputError(f"device {str(device)!r} asked for but only {count} CUDA GPU(s) are visible "
                         f"(cuda:0..cuda:{count - 1}).")
    return resolved
