"""Validate a whole manifest before any job runs: one line per problem, naming the row.

Checked per row: the input files exist, the dataset sample exists, the backbone and magnifiers
are known (with "did you mean"), α and the numbers are in range, the output name is a safe
relative path with a known video extension. Checked across rows: output names are unique, no
output lies inside another, and no output overwrites (or lies inside, or contains) any input of
any row, the manifest itself included.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from ..errors import InputError, MagplusError
from .inputs import find_sample, input_paths
from .manifest import BACKBONE_INPUTS, BUILTIN_FACES, DIRECT, METRICS_MODES, Job
from .state import record_path

#: Names in a batch folder that belong to magplus batch itself.
RESERVED = ("batch.json", "records", "report")  # state.SNAPSHOT, state.RECORDS, the report


def _check_driving(job: Job) -> None:
    spec = job.spec
    if job.kind == "synthetic":
        if spec.get("source") not in (None, "builtin:default_face"):
            raise InputError("synthetic jobs render their ground truth on the bundled default face; leave source empty")
        if spec.get("frames") is not None and spec["frames"] < 4:
            raise InputError(f"frames must be >= 4 (onset, apex, offset), got {spec['frames']}")
        if spec["resolution"] < 64:
            raise InputError(f"synthetic jobs need resolution >= 64 (face detection), got {spec['resolution']}")
        from ..synth import SUPPORTED_AUS

        for au in str(spec.get("aus") or "").replace(",", "+").split("+"):
            if au.strip() and (not au.strip().isdigit() or int(au) not in SUPPORTED_AUS):
                raise InputError(f"aus: unsupported action unit {au.strip()!r}; supported: "
                                 f"{', '.join(map(str, SUPPORTED_AUS))}")
        return
    if job.kind == "dataset":
        from ..eval.cases import DATASET_LOADERS

        if spec["dataset"].lower() not in DATASET_LOADERS:
            raise InputError(f"unknown dataset {spec['dataset']!r}; choose one of {', '.join(DATASET_LOADERS)}")
        if spec.get("driving"):
            raise InputError("give either driving or dataset + sample, not both")
        if not spec.get("root") or not os.path.isdir(spec["root"]):
            raise InputError(f"dataset root {spec.get('root')!r} is not a folder")
        if spec.get("annotation") and not os.path.isfile(spec["annotation"]):
            raise InputError(f"annotation {spec['annotation']!r} does not exist")
        find_sample(job)
    elif not spec.get("driving"):
        raise InputError("driving is empty; give a video / frame folder, 'synthetic', or dataset + sample")
    elif not os.path.exists(spec["driving"]):
        raise InputError(f"driving {spec['driving']!r} does not exist")
    source = spec.get("source")
    if not source:
        raise InputError(f"source is empty; give a face image or one of {', '.join(BUILTIN_FACES)}")
    if source not in BUILTIN_FACES and not os.path.isfile(source):
        raise InputError(f"source {source!r} does not exist")


def _check_models(job: Job) -> None:
    from ..registry import BACKBONES, MAGNIFIERS

    spec = job.spec
    factory = BACKBONES.get(spec["backbone"])
    if getattr(factory, "needs_weights", False) and not any(spec.get(c) for c in BACKBONE_INPUTS):
        raise InputError(f"backbone {spec['backbone']!r} needs official weights; add a checkpoint column "
                         "(see `magplus reenact --help` for its inputs)")
    for column in BACKBONE_INPUTS:
        if spec.get(column) and not os.path.exists(spec[column]):
            raise InputError(f"{column} {spec[column]!r} does not exist")
    if spec["magnifier"] != DIRECT:
        MAGNIFIERS.get(spec["magnifier"])
    if spec.get("demagnifier"):
        MAGNIFIERS.get(spec["demagnifier"])
    if spec["resolution"] < 32:
        raise InputError(f"resolution must be >= 32 pixels, got {spec['resolution']}")
    if spec["metrics"] not in METRICS_MODES:
        raise InputError(f"metrics must be one of {', '.join(METRICS_MODES)}, got {spec['metrics']!r}")
    device = str(spec["device"])
    if device not in ("auto", "cpu") and not (device == "cuda" or device.startswith("cuda:")):
        raise InputError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")


def _check_output_name(job: Job) -> None:
    from ..io.video_writer import output_kind

    name = job.output
    parts = PurePosixPath(name).parts
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in parts or not parts:
        raise InputError(f"output {name!r} must be a relative path inside the batch folder, without '..'")
    if parts[0] in RESERVED:
        raise InputError(f"output {name!r} uses a name magplus batch keeps for itself ({', '.join(RESERVED)})")
    if any(part.startswith(".") for part in parts):
        raise InputError(f"output {name!r}: names starting with '.' are reserved for temporary files")
    output_kind(name)  # unknown extensions fail here


def row_problems(job: Job) -> list[str]:
    """Problems of one row on its own (empty when it is fine)."""
    problems = []
    for check in (_check_output_name, _check_driving, _check_models):
        try:
            check(job)
        except MagplusError as exc:
            problems.append(f"{job.describe()}: {exc}")
    return problems


def _ancestors(path: str) -> list[str]:
    parents, current = [], os.path.dirname(path)
    while current and current != os.path.dirname(current):
        parents.append(current)
        current = os.path.dirname(current)
    return parents


def cross_problems(jobs: list[Job], out_dir: str | os.PathLike[str], manifest: str | None = None) -> list[str]:
    """Problems between rows: duplicate or nested outputs, outputs that would touch an input."""
    out = os.path.abspath(os.fspath(out_dir))
    inputs: dict[str, str] = {os.path.abspath(manifest): "the manifest"} if manifest else {}
    for job in jobs:
        for path in input_paths(job):
            inputs.setdefault(path, job.describe())
    input_parents = {parent for path in inputs for parent in _ancestors(path)}
    outputs: dict[str, Job] = {}
    records: dict[str, Job] = {}
    problems = []
    for job in jobs:
        target = os.path.join(out, *PurePosixPath(job.output).parts)
        if target in outputs:
            problems.append(f"{job.describe()}: output name already used by {outputs[target].describe()}")
            continue
        outputs[target] = job
        record = record_path(out, job).name
        if record in records:  # records are named by the output with '/' as '_'
            problems.append(f"{job.describe()}: output name gives the same record name as "
                            f"{records[record].describe()}; rename one of them")
            continue
        records[record] = job
        hit = next((p for p in [target, *_ancestors(target)] if p in inputs), None)
        if hit is not None:
            problems.append(f"{job.describe()}: output {target!r} would overwrite or write inside input "
                            f"{hit!r} of {inputs[hit]}; choose another -o folder or output name")
        elif target in input_parents:
            problems.append(f"{job.describe()}: output {target!r} is a folder that holds inputs; choose another name")
    output_parents = {parent: job for target, job in outputs.items() for parent in _ancestors(target)}
    for target, job in outputs.items():
        if target in output_parents:
            problems.append(f"{job.describe()}: output {target!r} is a folder that holds the output of "
                            f"{output_parents[target].describe()}")
    return problems


def check_jobs(jobs: list[Job], out_dir: str | os.PathLike[str], manifest: str | None = None,
               parse_problems: list[str] = ()) -> list[str]:
    """Every problem of a manifest: parse problems, per-row problems, cross-row problems."""
    problems = list(parse_problems)
    for job in jobs:
        problems += row_problems(job)
    problems += cross_problems(jobs, out_dir, manifest)
    return sorted(problems, key=_row_number)  # stable: a row's own problems keep their order


def _row_number(problem: str) -> int:
    match = re.search(r" (?:row|job) (\d+)", problem)
    return int(match.group(1)) if match else 0


def raise_problems(problems: list[str]) -> None:
    """Raise the first problem as a one-line InputError that counts the others."""
    if problems:
        more = f" ({len(problems) - 1} more problem(s); `magplus batch MANIFEST -o OUT --check` lists them all)" \
            if len(problems) > 1 else ""
        raise InputError(problems[0].rstrip(".") + "." + more)


def load_manifest(manifest: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> list[Job]:
    """Parse and validate a manifest for a batch folder; raises InputError on the first problem."""
    from .manifest import read_manifest

    jobs, parse_problems = read_manifest(manifest)
    raise_problems(check_jobs(jobs, out_dir, str(Path(manifest).expanduser().absolute()), parse_problems))
    return jobs
