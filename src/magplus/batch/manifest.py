"""Batch manifests: one job per row of a CSV or YAML file, parsed into :class:`Job` values.

A job is one reenactment: a source face, a driving clip, a backbone, a magnifier and α, and the
output name (relative to the batch's output folder). The driving clip is one of:

* a video file or a folder of frames (``driving: clip.mp4``);
* a dataset sample (``dataset: casme2``, ``root``, ``annotation``, ``sample: sub01/EP02_01f``,
  optional ``onset`` when a clip holds several micro-expressions);
* a synthetic micro-expression with ground truth (``driving: synthetic``, ``seed``, optional
  ``frames``, ``fps``, ``aus``, ``amplitude_px``); its source is always the bundled default face,
  on which the ground truth is rendered.

Every column but ``output`` is optional (see :data:`COLUMNS` and :data:`DEFAULTS`). A YAML
manifest is a list of mappings, or ``{defaults: {...}, jobs: [...]}``. Relative paths are relative
to the manifest's folder. Parsing only converts types; :mod:`magplus.batch.validate` checks that
the files exist, the names are known and the outputs are safe.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import InputError

#: Backbone inputs a row may give: column -> backbone factory keyword (the `magplus reenact` flags).
BACKBONE_INPUTS = {"checkpoint": "checkpoint", "kp_checkpoint": "kp_checkpoint", "config": "config",
                   "landmarks": "landmarks", "identity": "identity", "connectivity": "connectivity",
                   "repo": "repo", "weights": "weights", "backbone_python": "python"}
#: ``source`` values that name a bundled public-domain face instead of a file.
BUILTIN_FACES = ("builtin:default_face", "builtin:second_face")
#: ``driving`` value of a synthetic job; ``magnifier`` value of a direct-transfer (baseline) job.
SYNTHETIC, DIRECT = "synthetic", "none"
#: ``metrics``: auto = score jobs with ground truth (synthetic); yes = every job (dataset and file
#: jobs against their driving clip, as `magplus eval transfer --dataset` does); no = none.
METRICS_MODES = ("auto", "yes", "no")

#: Column -> value kind. ``input`` is a path unless it is a builtin face / ``synthetic``.
COLUMNS: dict[str, str] = {
    "output": "text", "condition": "text",
    "source": "input", "driving": "input", "fps": "positive",
    "dataset": "text", "root": "path", "annotation": "path", "sample": "text", "onset": "int",
    "seed": "int", "frames": "int", "aus": "text", "amplitude_px": "positive",
    "backbone": "text", "device": "text", **{column: "path" for column in BACKBONE_INPUTS},
    "magnifier": "text", "demagnifier": "text", "alpha": "alpha", "target_amplitude": "positive",
    "resolution": "int", "relative": "bool", "paste_back": "bool", "metrics": "text",
}
#: Values of omitted columns.
DEFAULTS: dict[str, Any] = {"backbone": "landmark-warp", "magnifier": "lagrangian", "alpha": "auto",
                            "resolution": 256, "relative": True, "paste_back": False, "metrics": "auto",
                            "device": "auto"}


@dataclass(frozen=True, eq=False)
class Job:
    """One row of a manifest, normalised.

    Attributes:
        index: position in the manifest (0-based); shards and reports follow this order.
        where: ``"m.csv row 3"``: where the row is, for messages.
        spec: column -> value with defaults applied, paths absolute (plain JSON values).
    """

    index: int
    where: str
    spec: dict[str, Any]

    @property
    def output(self) -> str:
        """Output path relative to the batch folder (POSIX separators)."""
        return self.spec["output"]

    @property
    def kind(self) -> str:
        """``"synthetic"``, ``"dataset"`` or ``"file"`` (how the driving clip is read)."""
        if self.spec.get("driving") == SYNTHETIC:
            return "synthetic"
        return "dataset" if self.spec.get("dataset") else "file"

    @property
    def condition(self) -> str:
        """Report group: the ``condition`` column, else ``backbone/magnifier/alpha=α``."""
        if self.spec.get("condition"):
            return self.spec["condition"]
        if self.spec["magnifier"] == DIRECT:
            return f"{self.spec['backbone']}/direct"
        return f"{self.spec['backbone']}/{self.spec['magnifier']}/alpha={self.spec['alpha']}"

    @property
    def key(self) -> str:
        """Hash of everything that changes the result (not the ``condition`` label): a record made
        for another key is stale, so an edited row is redone."""
        payload = {k: v for k, v in self.spec.items() if k != "condition"}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def describe(self) -> str:
        """``"m.csv row 3 (out/a.mp4)"``."""
        return f"{self.where} ({self.output})"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _number(value: Any, column: str, integer: bool = False) -> float | int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{column} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise InputError(f"{column} must be finite, got {value!r}")
    if integer:
        if number != int(number):
            raise InputError(f"{column} must be a whole number, got {value!r}")
        return int(number)
    return number


def _boolean(value: Any, column: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y"):
        return True
    if text in ("0", "false", "no", "n"):
        return False
    raise InputError(f"{column} must be true or false, got {value!r}")


def _alpha(value: Any) -> float | str:
    if str(value).strip().lower() == "auto":
        return "auto"
    from ..types import ALPHA_LIMIT, ALPHA_LIMIT_REASON

    alpha = _number(value, "alpha")
    if alpha < 1:
        raise InputError(f"alpha must be 'auto' or >= 1 (the result is de-magnified by 1/alpha), got {value!r}")
    if alpha > ALPHA_LIMIT:
        raise InputError(f"alpha must be <= {ALPHA_LIMIT:g}, got {value!r}: {ALPHA_LIMIT_REASON}")
    return alpha


def _path(value: str, base: Path) -> str:
    return os.path.abspath(os.path.join(base, os.path.expanduser(value)))


def check_column(column: str) -> None:
    """Raise InputError for a column name magplus does not know (with the closest known name)."""
    if column not in COLUMNS:
        close = difflib.get_close_matches(column, COLUMNS, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InputError(f"unknown column {column!r}{hint}")


def convert(column: str, value: Any, base: Path) -> Any:
    """One cell -> its normalised value (None for an empty cell); raises InputError naming the column."""
    check_column(column)
    text = _text(value)
    if text is None:
        return None
    kind = COLUMNS[column]
    if kind == "text":
        return text.replace("\\", "/") if column == "output" else text
    if kind == "input":
        return text if text == SYNTHETIC or text in BUILTIN_FACES else _path(text, base)
    if kind == "path":
        return _path(text, base)
    if kind == "positive":
        number = _number(value, column)
        if number <= 0:
            raise InputError(f"{column} must be > 0, got {value!r}")
        return number
    if kind == "int":
        return _number(value, column, integer=True)
    if kind == "bool":
        return _boolean(value, column)
    return _alpha(value)


def normalise_row(cells: dict[str, Any], base: Path, defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """A row's cells (plus ``defaults``) -> its spec; raises InputError on the first bad cell."""
    merged = {**DEFAULTS}
    for source in (defaults or {}, cells):
        for column, value in source.items():
            converted = convert(str(column).strip(), value, base)
            if converted is not None:
                merged[str(column).strip()] = converted
    if "output" not in merged:
        raise InputError("output is empty; every job needs an output name")
    return merged


def _csv_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header: list[str] | None = None
        for cells in reader:
            if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [c.strip() for c in cells]
                for column in header:
                    try:
                        check_column(column)
                    except InputError as exc:
                        raise InputError(f"manifest {str(path)!r} header: {exc}.") from None
                continue
            if len(cells) > len(header):
                yield f"row {reader.line_num}", {"__extra__": cells[len(header):]}
                continue
            yield f"row {reader.line_num}", dict(zip(header, cells))


def _yaml_rows(path: Path) -> tuple[list[tuple[str, Any]], dict[str, Any]]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"manifest {str(path)!r} is not valid YAML: {str(exc).splitlines()[0]}") from None
    defaults: dict[str, Any] = {}
    if isinstance(data, dict):
        defaults = data.get("defaults") or {}
        unknown = sorted(set(data) - {"defaults", "jobs"})
        if unknown or not isinstance(defaults, dict):
            raise InputError(f"manifest {str(path)!r}: a YAML mapping holds only 'defaults' (a mapping) and "
                             f"'jobs' (a list); got {', '.join(unknown) or 'defaults of another type'}.")
        data = data.get("jobs")
    if not isinstance(data, list):
        raise InputError(f"manifest {str(path)!r} must hold a list of jobs (or defaults + jobs).")
    return [(f"job {i}", row) for i, row in enumerate(data, start=1)], defaults


def read_manifest(path: str | os.PathLike[str]) -> tuple[list[Job], list[str]]:
    """Parse a CSV (``.csv``) or YAML (``.yaml``/``.yml``) manifest.

    Returns:
        ``(jobs, problems)``: the rows that parsed, in file order, and one line per row that did
        not (``"m.csv row 4: alpha must be 'auto' or >= 1 ..."``).

    Raises:
        InputError: the file is missing, of another type, or holds no job.
    """
    manifest = Path(path).expanduser().absolute()
    if not manifest.is_file():
        raise InputError(f"manifest {str(path)!r} does not exist; give a .csv or .yaml file.")
    suffix = manifest.suffix.lower()
    if suffix == ".csv":
        rows, defaults = list(_csv_rows(manifest)), {}
    elif suffix in (".yaml", ".yml"):
        rows, defaults = _yaml_rows(manifest)
    else:
        raise InputError(f"manifest {str(path)!r} must be .csv, .yaml or .yml, got {suffix or 'no extension'!r}.")
    jobs, problems = [], []
    for where, cells in rows:
        label = f"{manifest.name} {where}"
        try:
            if not isinstance(cells, dict):
                raise InputError(f"a job must be a mapping of columns, got {type(cells).__name__}")
            if "__extra__" in cells:
                raise InputError(f"more cells than header columns: {cells['__extra__']}")
            spec = normalise_row(cells, manifest.parent, defaults)
        except InputError as exc:
            problems.append(f"{label}: {exc}")
            continue
        jobs.append(Job(index=len(jobs), where=label, spec=spec))
    if not rows:
        raise InputError(f"manifest {str(path)!r} holds no job.")
    return jobs, problems


def job_to_dict(job: Job) -> dict[str, Any]:
    """What a batch folder stores of a job (see :func:`job_from_dict`)."""
    return {"where": job.where, "key": job.key, "spec": job.spec}


def job_from_dict(index: int, stored: dict[str, Any]) -> Job:
    """A job back from :func:`job_to_dict` (its spec is already normalised)."""
    return Job(index=index, where=str(stored["where"]), spec=dict(stored["spec"]))


def write_manifest(path: str | os.PathLike[str], rows: list[dict[str, Any]],
                   inputs: list[str | os.PathLike[str]] = ()) -> Path:
    """Write rows (column -> value) as a CSV or YAML manifest, atomically; columns in :data:`COLUMNS` order.

    Args:
        path: ``.csv``, ``.yaml`` or ``.yml`` target.
        rows: one mapping per job (empty / None cells are left out).
        inputs: paths the manifest must not overwrite.
    """
    from ..io.atomic import atomic_output, check_output_path

    target = check_output_path(path, inputs)
    suffix = target.suffix.lower()
    if suffix not in (".csv", ".yaml", ".yml"):
        raise InputError(f"manifest {str(path)!r} must end in .csv, .yaml or .yml.")
    if not rows:
        raise InputError("no job to write: the generator found nothing to do (check the dataset and options).")
    used = [c for c in COLUMNS if any(row.get(c) not in (None, "") for row in rows)]
    unknown = sorted({k for row in rows for k in row} - set(COLUMNS))
    if unknown:
        raise InputError(f"unknown manifest column(s) {', '.join(unknown)}.")
    with atomic_output(target) as tmp:
        if suffix == ".csv":
            with open(tmp, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=used, extrasaction="ignore")
                writer.writeheader()
                writer.writerows({k: ("" if row.get(k) is None else row[k]) for k in used} for row in rows)
        else:
            import yaml

            jobs = [{k: row[k] for k in used if row.get(k) not in (None, "")} for row in rows]
            tmp.write_text(yaml.safe_dump({"jobs": jobs}, sort_keys=False))
    return target
