"""Manifests for the common batches: the MEGC 2021/2022 protocol, dataset x faces, synthetic sweeps.

Each generator returns manifest rows (column -> value, absolute paths) for every setting of a
grid of backbones x magnifiers x α (``none`` = direct transfer, which has no α, so it appears once
per backbone). With one setting the output names are the plain ones (the MEGC names, for
instance); with several, each setting's outputs go into a sub-folder named after it.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any, Sequence

from ..errors import InputError
from .manifest import DIRECT

#: MEGC dataset names -> `dataset` column values.
MEGC_DATASETS = {"CASME2": "casme2", "SAMM": "samm", "SMIC": "smic"}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def settings_grid(backbones: Sequence[str] = ("landmark-warp",), magnifiers: Sequence[str] = ("lagrangian",),
                  alphas: Sequence[float | str] = ("auto",)) -> list[dict[str, Any]]:
    """Every (backbone, magnifier, α), direct transfer once per backbone; each with its folder prefix."""
    settings, seen = [], set()
    for backbone, magnifier, alpha in itertools.product(backbones, magnifiers, alphas):
        alpha = "auto" if magnifier == DIRECT else alpha
        if (backbone, magnifier, alpha) in seen:
            continue
        seen.add((backbone, magnifier, alpha))
        label = f"{backbone}_direct" if magnifier == DIRECT else f"{backbone}_{magnifier}_a{_alpha_text(alpha)}"
        settings.append({"backbone": backbone, "magnifier": magnifier, "alpha": alpha, "_prefix": label + "/"})
    if len(settings) == 1:
        settings[0]["_prefix"] = ""
    return settings


def _alpha_text(alpha: float | str) -> str:
    return alpha if isinstance(alpha, str) else f"{float(alpha):g}"


def _rows(settings: list[dict[str, Any]], items: list[dict[str, Any]], extra: dict[str, Any] | None):
    rows = []
    for setting in settings:
        columns = {k: v for k, v in setting.items() if not k.startswith("_")}
        for item in items:
            rows.append({**item, **columns, **(extra or {}), "output": setting["_prefix"] + item["output"]})
    return rows


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def templates_from_folder(folder: str | os.PathLike[str], year: int) -> dict[str, str]:
    """``{slot: image}`` for the year's template slots found in ``folder`` as ``<slot>.png`` (or .jpg ...)."""
    from ..io.datasets.megc import MEGC_TEMPLATES

    base = Path(folder)
    if not base.is_dir():
        raise InputError(f"--templates {str(folder)!r} is not a folder.")
    found = {}
    for path in sorted(base.iterdir()):
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            for slot in MEGC_TEMPLATES.get(year, ()):
                if path.stem.lower() == slot.lower():
                    found[slot] = str(path.absolute())
    return found


def megc_rows(year: int, datasets: dict[str, tuple[str, str | None]], templates: dict[str, str],
              settings: list[dict[str, Any]], ext: str = ".mp4", allow_partial: bool = False,
              extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The MEGC protocol: its 9 driving clips x the year's template faces.

    Args:
        year: 2021 or 2022.
        datasets: ``{"CASME2": (root, annotation), "SAMM": (root, annotation), "SMIC": (root, None)}``
            (SMIC: the HS folder or its parent).
        templates: slot -> image path (every slot of the year unless ``allow_partial``).
        settings: from :func:`settings_grid`.
        ext: video extension of the outputs.
        allow_partial: allow missing template slots / datasets (their jobs are left out).
        extra: more columns for every row (resolution, metrics, backbone inputs...).
    """
    from ..io.datasets.megc import MEGC_DRIVING_CLIPS, MEGC_TEMPLATES, output_name

    if year not in MEGC_TEMPLATES:
        raise InputError(f"--year must be one of {', '.join(map(str, MEGC_TEMPLATES))}, got {year!r}.")
    slots = MEGC_TEMPLATES[year]
    unknown = sorted(set(templates) - set(slots))
    missing = [s for s in slots if s not in templates]
    absent = sorted({c.dataset for c in MEGC_DRIVING_CLIPS} - set(datasets))
    if unknown or ((missing or absent) and not allow_partial) or not templates:
        raise InputError(f"MEGC {year} needs templates {', '.join(slots)} and datasets CASME2, SAMM, SMIC; unknown "
                         f"template(s): {', '.join(unknown) or 'none'}, missing: {', '.join(missing + absent) or 'none'}"
                         " (--allow-partial runs a subset).")
    items = []
    for clip in MEGC_DRIVING_CLIPS:
        if clip.dataset not in datasets:
            continue
        root, annotation = datasets[clip.dataset]
        for slot in (s for s in slots if s in templates):
            items.append({"output": output_name(year, slot, clip, ext), "source": os.path.abspath(templates[slot]),
                          "dataset": MEGC_DATASETS[clip.dataset], "root": os.path.abspath(root),
                          "annotation": os.path.abspath(annotation) if annotation else None,
                          "sample": f"{clip.subject}/{clip.clip}"})
    return _rows(settings, items, extra)


def cross_rows(dataset: str, root: str, annotation: str | None, sources: Sequence[str],
               settings: list[dict[str, Any]], max_clips: int | None = None, ext: str = ".mp4",
               fps: float | None = None, extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every sample of a dataset x every source face (``<dataset>/<subject>_<clip>@<face>.mp4``)."""
    from .inputs import open_dataset

    if not sources:
        raise InputError("--sources needs at least one face image.")
    for source in sources:
        if not os.path.isfile(source):
            raise InputError(f"source image {source!r} does not exist.")
    if max_clips is not None and max_clips < 1:
        raise InputError(f"--max-clips must be >= 1, got {max_clips}.")
    loaded = open_dataset(dataset.lower(), os.path.abspath(root), os.path.abspath(annotation) if annotation else None,
                          fps)
    samples = loaded.samples[:max_clips] if max_clips else loaded.samples
    repeated = {key for key in (s.key for s in samples) if sum(t.key == key for t in samples) > 1}
    items = []
    for sample in samples:
        several = sample.key in repeated  # CAS(ME)³: one clip, several micro-expressions
        for source in sources:
            name = f"{sample.subject}_{sample.clip}" + (f"_{sample.onset}" if several else "")
            items.append({"output": f"{_slug(dataset.lower())}/{_slug(name)}@{_slug(Path(source).stem)}{ext}",
                          "source": os.path.abspath(source), "dataset": dataset.lower(),
                          "root": os.path.abspath(root), "annotation": os.path.abspath(annotation) if annotation else None,
                          "sample": f"{sample.subject}/{sample.clip}", "onset": sample.onset if several else None,
                          "fps": fps})
    return _rows(settings, items, extra)


def synthetic_rows(count: int, settings: list[dict[str, Any]], seed: int = 0, frames: int | None = None,
                   fps: float | None = None, aus: str | None = None, amplitude_px: float | None = None,
                   ext: str = ".mp4", extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """``count`` synthetic micro-expressions (seeds ``seed .. seed+count-1``), with ground truth."""
    if isinstance(count, bool) or int(count) < 1:
        raise InputError(f"--count must be >= 1, got {count}.")
    items = [{"output": f"synth-{seed + i:03d}{ext}", "driving": "synthetic", "seed": seed + i, "frames": frames,
              "fps": fps, "aus": aus, "amplitude_px": amplitude_px} for i in range(int(count))]
    return _rows(settings, items, extra)
