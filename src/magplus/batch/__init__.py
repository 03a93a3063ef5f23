"""Dataset-scale batches: a manifest of jobs, run resumably on a process pool, SLURM shards or Ray.

* :mod:`.manifest`: CSV / YAML rows -> :class:`Job`; :mod:`.validate`: every row checked first;
  :mod:`.generators`: MEGC 2021/2022, dataset x faces, synthetic sweeps.
* :mod:`.job`: one job -> its video and JSON record (α, timings, metrics, versions, commit).
* :mod:`.state`: done / failed / pending from the records on disk; leftovers of killed runs.
* :mod:`.executors`: this process, a spawned process pool, ``--shard K/N``, Ray tasks.
* :mod:`.runner`: :func:`run_batch`; :mod:`.report`: records -> a `magplus eval` report.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "Job": "manifest",
    "read_manifest": "manifest",
    "write_manifest": "manifest",
    "load_manifest": "validate",
    "run_job": "job",
    "batch_state": "state",
    "run_batch": "runner",
    "write_batch_report": "report",
    "megc_rows": "generators",
    "cross_rows": "generators",
    "synthetic_rows": "generators",
    "settings_grid": "generators",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
