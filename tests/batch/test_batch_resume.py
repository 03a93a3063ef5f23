"""Kill a batch run with SIGKILL mid-run, run it again: no job lost, no temporary file left."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import synthetic_rows, write_csv

from magplus.batch.runner import run_batch
from magplus.batch.state import SNAPSHOT, batch_state, leftovers

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            status = Path("/proc", entry, "status").read_text()
        except (OSError, ValueError):
            continue
        if entry.isdigit() and f"\nPPid:\t{pid}\n" in status:
            found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path("/proc", str(pid), "status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state


def test_sigkill_mid_run_then_rerun_loses_nothing(tmp_path):
    # 10 jobs on 2 workers: the kill lands after the first is done and well before the last
    # (with 4, a fast machine finished them all between two polls).
    jobs = 10
    write_csv(tmp_path / "m.csv", synthetic_rows(range(jobs), magnifiers=("none",), metrics="no"))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen([sys.executable, "-m", "magplus", "batch", str(tmp_path / "m.csv"), "-o", str(out),
                                "--workers", "2", "--threads", "1", "--quiet"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        # batch.json is written just after the folder is made: poll for the file, not the folder.
        if (out / SNAPSHOT).is_file() and batch_state(out).counts()["done"] >= 1:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    workers = _children(process.pid)
    process.kill()  # SIGKILL: no clean-up runs in the parent
    process.wait()
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers and not any(_alive(pid) for pid in workers), "worker processes outlived their killed parent"

    before = {s.job.output: s.record["finished"] for s in batch_state(out).of("done")}
    assert 1 <= len(before) < jobs
    run = run_batch(tmp_path / "m.csv", out, progress=False)
    assert (run.skipped, run.done, run.failed) == (len(before), jobs - len(before), 0)
    state = batch_state(out)
    assert state.counts() == {"done": jobs, "failed": 0, "pending": 0}  # jobs lost: 0
    assert {o: state.jobs[i].record["finished"] for i, o in enumerate(s.job.output for s in state.jobs)
            if o in before} == before  # the jobs done before the kill were not redone
    assert leftovers(out) == [] and not [p for p in out.rglob("*") if ".part" in p.name]
