"""``magplus batch``: many reenactments from a manifest, resumable, sharded, on a pool or on Ray.

  magplus batch MANIFEST -o OUT [--workers N] [--shard K/N] [--ray [ADDRESS]]   run (or resume)
  magplus batch --status OUT                        done / failed / pending, with the reasons
  magplus batch --report OUT [-o REPORT]            metrics with CIs per condition, plots, jobs.csv
  magplus batch make-manifest megc|cross|synthetic ... -o m.csv     write a manifest

Every row is validated before any job runs. Each job writes its video and a JSON record
atomically; a re-run skips the done jobs and redoes failed or missing ones; a job that fails is
recorded with its reason and the others go on. Exit status of a run: 0 when every job of this
shard is done, 1 when some failed, 2 on bad input.
"""

from __future__ import annotations

import argparse
import shlex
import sys

COMMANDS = ("run", "status", "report", "make-manifest")


class _BatchParser(argparse.ArgumentParser):
    """Accepts the short forms: ``batch MANIFEST ...`` = ``batch run MANIFEST ...``,
    ``batch --status OUT`` = ``batch status OUT``, ``batch --report OUT`` = ``batch report OUT``."""

    def parse_known_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        if args and args[0] in ("--status", "--report"):
            args[0] = args[0][2:]
        elif args and not args[0].startswith("-") and args[0] not in COMMANDS:
            args.insert(0, "run")
        return super().parse_known_args(args, namespace)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("batch", help="run many reenactments from a manifest (resumable, shards, Ray)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                   usage="magplus batch MANIFEST -o OUT [options] | --status OUT | --report OUT "
                                         "| make-manifest KIND ...")
    parser.__class__ = _BatchParser  # the short forms above; everything else is plain argparse
    commands = parser.add_subparsers(dest="batch_command", metavar="COMMAND", required=True, prog="magplus batch",
                                     parser_class=argparse.ArgumentParser)
    _register_run(commands)
    p = commands.add_parser("status", help="done / failed / pending jobs of a batch folder, with the reasons")
    p.add_argument("out", metavar="OUT", help="batch folder")
    p.add_argument("--all", action="store_true", help="list every pending job, not only the first 10")
    p.set_defaults(handler=run_status)
    p = commands.add_parser("report", help="merge the records into a report (metrics with CIs, plots, jobs.csv)")
    p.add_argument("out", metavar="OUT", help="batch folder")
    p.add_argument("-o", "--output", help="report folder (default OUT/report)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--plots", type=int, default=3, metavar="K", help="jobs with a motion-curve plot (default 3)")
    p.set_defaults(handler=run_report)
    from ._batch_manifest import register_make_manifest

    register_make_manifest(commands)


def _register_run(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("run", help="run or resume the jobs of a manifest (the default command)")
    p.add_argument("manifest", metavar="MANIFEST", help="manifest (.csv, .yaml): one job per row")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="batch folder (created; shared by shards)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (default 1: this process)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads per worker / CPUs per Ray task (default: cores / workers; 1 with --ray)")
    p.add_argument("--shard", metavar="K/N", help="run only jobs K, K+N, K+2N... (0 <= K < N), e.g. "
                                                   "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run as Ray tasks; ADDRESS of a cluster (auto, ray://head:10001) or none for Ray's default")
    p.add_argument("--gpus-per-job", type=float, default=None,
                   help="Ray: GPUs per task (default 1 when the cluster has GPUs, else 0)")
    p.add_argument("--check", action="store_true", help="only validate the manifest and list every problem")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_batch_command)


def _check_only(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..batch.manifest import read_manifest
    from ..batch.validate import check_jobs

    jobs, problems = read_manifest(args.manifest)
    problems = check_jobs(jobs, args.output, str(Path(args.manifest).expanduser().absolute()), problems)
    for problem in problems:
        print(problem)
    print(f"{len(jobs)} job(s), {len(problems)} problem(s)")
    return 2 if problems else 0


def run_batch_command(args: argparse.Namespace) -> int:
    from ..batch.executors import parse_shard
    from ..batch.runner import run_batch

    shard = parse_shard(args.shard)
    if args.check:
        return _check_only(args)
    run = run_batch(args.manifest, args.output, workers=args.workers, shard=shard, ray=args.ray is not None,
                    ray_address=args.ray or None, threads=args.threads, progress=not args.quiet,
                    gpus_per_job=args.gpus_per_job)
    where = f" of shard {args.shard}" if shard else ""
    print(f"{run.selected} job(s){where}: {run.skipped} already done, {run.done} done now, {run.failed} failed"
          + (f", {run.lost} lost (a worker died; still pending)" if run.lost else "")
          + f" in {run.seconds:.1f} s" + (f"; removed {run.removed_leftovers} leftover temporary file(s)"
                                          if run.removed_leftovers else ""))
    for output, reason in run.failures[:10]:
        print(f"  failed {output}: {reason}")
    if run.failed or run.lost:
        print(f"see `magplus batch --status {shlex.quote(str(run.out_dir))}`; a re-run redoes failed and pending jobs")
        return 1
    return 0


def run_status(args: argparse.Namespace) -> int:
    from collections import Counter

    from ..batch.state import batch_state, leftovers

    state = batch_state(args.out)
    counts = state.counts()
    print(f"{len(state.jobs)} job(s): {counts['done']} done, {counts['failed']} failed, {counts['pending']} pending")
    for item in state.of("failed"):
        print(f"  failed  {item.job.output}: {item.reason}")
    pending = state.of("pending")
    for item in pending if args.all else pending[:10]:
        print(f"  pending {item.job.output}: {item.reason}")
    if len(pending) > 10 and not args.all:
        reasons = ", ".join(f"{n} {reason}" for reason, n in Counter(s.reason for s in pending).most_common())
        print(f"  ... {len(pending) - 10} more pending ({reasons}); --all lists them")
    stray = leftovers(args.out)
    if stray:
        print(f"{len(stray)} temporary file(s) of interrupted jobs (removed when those jobs run again)")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from ..batch.report import write_batch_report

    command = "magplus batch --report " + shlex.quote(args.out) + (f" -o {shlex.quote(args.output)}" if args.output else "")
    folder, summary = write_batch_report(args.out, args.output, seed=args.seed, plot_jobs=args.plots, command=command)
    for condition, values in summary.items():
        parts = [f"{m}={values[m]['mean']:.3g}" for m in ("peak_ratio", "region_correlation", "epe", "job_seconds")
                 if m in values and values[m]["n"]]
        print(f"{condition}: " + ", ".join(parts))
    print(f"report: {folder}")
    return 0

