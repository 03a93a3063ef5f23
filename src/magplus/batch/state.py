"""What a batch folder says about its jobs: done, failed or pending, from the records on disk.

Layout of a batch folder ``OUT``::

    OUT/batch.json               the validated jobs of the last run (what --status and --report read)
    OUT/<output>                 each job's video, written atomically
    OUT/records/<slug>.json      each job's record (:class:`magplus.io.records.RunRecords`, the
                                 output name with ``/`` as ``_``), written atomically after its video

A job is *done* when its record says so, was made for the job's current settings (its key) and
its video exists; *failed* when its record holds an error; otherwise *pending*. Records are the
only state: shards on other machines share nothing but this folder, and a killed run loses at most
the jobs it was running (their temporary files are removed when they are redone).
"""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterable

from ..errors import InputError
from .manifest import Job, job_from_dict, job_to_dict

SNAPSHOT = "batch.json"
RECORDS = "records"
#: Format of batch.json and of the records (bumped when their meaning changes).
FORMAT = 1


def output_path(out_dir: str | os.PathLike[str], job: Job) -> Path:
    """Where the job's video goes."""
    return Path(out_dir).joinpath(*PurePosixPath(job.output).parts)


def open_records(out_dir: str | os.PathLike[str]):
    """The batch folder's job records (:class:`~magplus.io.records.RunRecords` in ``OUT/records``)."""
    from ..io.records import RunRecords

    return RunRecords(out_dir, {"format": FORMAT}, subfolder=RECORDS)


def record_path(out_dir: str | os.PathLike[str], job: Job) -> Path:
    """Where the job's JSON record goes (``records/<slug of the output>.json``)."""
    from ..io.records import slug

    return Path(out_dir, RECORDS, f"{slug(job.output)}.json")


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """JSON, atomically (NaN / inf become null)."""
    from ..eval.report import _json_safe
    from ..io.atomic import atomic_output

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(_json_safe(payload), indent=1) + "\n")


def write_snapshot(out_dir: str | os.PathLike[str], jobs: list[Job], manifest: str) -> None:
    """Store the validated jobs in ``OUT/batch.json`` (every shard writes the same content)."""
    write_json(Path(out_dir, SNAPSHOT), {"format": FORMAT, "manifest": manifest,
                                         "jobs": [job_to_dict(job) for job in jobs]})


def read_snapshot(out_dir: str | os.PathLike[str]) -> tuple[list[Job], dict[str, Any]]:
    """The jobs stored by the last run in ``out_dir`` and the snapshot's other fields."""
    path = Path(out_dir, SNAPSHOT)
    if not path.is_file():
        raise InputError(f"{str(out_dir)!r} is not a batch folder (no {SNAPSHOT}); "
                         "run `magplus batch MANIFEST -o OUT` first.")
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT:
        raise InputError(f"{str(path)!r} has format {data.get('format')!r}; this magplus reads format {FORMAT}.")
    return [job_from_dict(i, stored) for i, stored in enumerate(data["jobs"])], data


@dataclass
class JobState:
    """One job's status: ``"done"``, ``"failed"`` or ``"pending"``, why, and its record."""

    job: Job
    status: str
    reason: str | None = None
    record: dict[str, Any] | None = None


def job_state(out_dir: str | os.PathLike[str], job: Job, records=None) -> JobState:
    """Classify one job from its record and output."""
    record = (records or open_records(out_dir)).get(job.output)
    if record is None:
        return JobState(job, "pending", "not run yet")
    if record.get("key") != job.key:
        return JobState(job, "pending", "its settings changed since it ran", record)
    if record.get("status") == "failed":
        return JobState(job, "failed", record.get("error") or "unknown error", record)
    if not output_path(out_dir, job).exists():
        return JobState(job, "pending", "its output is missing", record)
    return JobState(job, "done", None, record)


@dataclass
class BatchState:
    """Every job's state, in manifest order."""

    jobs: list[JobState]

    def of(self, status: str) -> list[JobState]:
        """The jobs with that status."""
        return [s for s in self.jobs if s.status == status]

    def counts(self) -> dict[str, int]:
        """``{"done": d, "failed": f, "pending": p}``."""
        return {status: len(self.of(status)) for status in ("done", "failed", "pending")}


def batch_state(out_dir: str | os.PathLike[str], jobs: Iterable[Job] | None = None) -> BatchState:
    """States of ``jobs`` (default: those of ``OUT/batch.json``)."""
    jobs = read_snapshot(out_dir)[0] if jobs is None else jobs
    records = open_records(out_dir)
    return BatchState([job_state(out_dir, job, records) for job in jobs])


def leftovers(out_dir: str | os.PathLike[str], jobs: Iterable[Job] | None = None) -> list[Path]:
    """Temporary files that killed writers left in the batch folder: those of ``jobs`` (their video
    and record), or every one in the folder when ``jobs`` is None."""
    from ..io.atomic import leftover_target

    wanted: dict[Path, set[str] | None] = defaultdict(set)
    if jobs is None:
        for folder, dirs, files in os.walk(out_dir):
            wanted[Path(folder)] = None
    else:
        for job in jobs:
            for path in (output_path(out_dir, job), record_path(out_dir, job)):
                wanted[path.parent].add(path.name)
    found = []
    for folder, names in wanted.items():
        try:
            entries = os.listdir(folder)
        except FileNotFoundError:
            continue
        for entry in entries:
            target = leftover_target(entry)
            if target is not None and (names is None or target in names):
                found.append(folder / entry)
    return sorted(found)


def remove_leftovers(paths: Iterable[Path]) -> int:
    """Delete leftover temporary files / folders; returns how many were removed."""
    removed = 0
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += 1
    return removed
