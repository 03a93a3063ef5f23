"""MEGC 2021/2022 micro-expression generation protocol: driving clips, template slots, runner.

The task: transfer each of 9 driving micro-expression clips (3 per dataset, one per emotion
class) onto every template face of the year, and hand the videos to FACS experts.

Output naming (documented here because the challenge prescribed none that tools agree on):
``{out_dir}/{year}_{template}_{dataset}_{driving}.mp4``, where ``driving`` is the challenge's
own clip id: ``sub19_EP01_01f`` for CASME II (its clip names repeat across subjects), the clip
name for SAMM (``022_3_3``) and SMIC (``s3_po_05``). A ``megc{year}_manifest.csv`` beside the
videos lists every output with its driving clip, emotion, template, status (done / failed) and
the reason of a failure; ``records/`` holds one JSON record per video (what makes a re-run resume).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import torch

from ...errors import InputError, MagplusError
from ...types import Clip, check_frames, check_image


@dataclass(frozen=True)
class DrivingClip:
    """One driving clip of the protocol (``subject`` is the dataset's folder name)."""

    dataset: str
    subject: str
    clip: str
    emotion: str

    @property
    def name(self) -> str:
        """The challenge's id of the clip: ``sub19_EP01_01f``, ``022_3_3``, ``s3_po_05``."""
        return f"{self.subject}_{self.clip}" if self.dataset == "CASME2" else self.clip


#: The 9 driving clips of MEGC 2021 and 2022 (the same in both years).
MEGC_DRIVING_CLIPS: tuple[DrivingClip, ...] = (
    DrivingClip("SAMM", "007", "007_7_1", "surprise"),
    DrivingClip("SAMM", "022", "022_3_3", "positive"),
    DrivingClip("SAMM", "018", "018_3_1", "negative"),
    DrivingClip("CASME2", "sub17", "EP01_13", "surprise"),
    DrivingClip("CASME2", "sub19", "EP01_01f", "positive"),
    DrivingClip("CASME2", "sub01", "EP19_06f", "negative"),
    DrivingClip("SMIC", "s20", "s20_sur_01", "surprise"),
    DrivingClip("SMIC", "s3", "s3_po_05", "positive"),
    DrivingClip("SMIC", "s11", "s11_ne_02", "negative"),
)

#: Template-face slots per year (2022: Female/Male x Asian/Europe).
MEGC_TEMPLATES: dict[int, tuple[str, ...]] = {
    2021: ("normalized_westernMale", "normalized_asianFemale"),
    2022: ("Female_Asian", "Female_Europe", "Male_Asian", "Male_Europe"),
}

Transfer = Callable[[torch.Tensor, Clip], "torch.Tensor | Clip"]


def output_name(year: int, template: str, driving: DrivingClip, ext: str = ".mp4") -> str:
    """``2021_normalized_asianFemale_SAMM_022_3_3.mp4``."""
    return f"{year}_{template}_{driving.dataset}_{driving.name}{ext}"


def loader_from_datasets(datasets: Mapping[str, object], resize: int | None = None) -> Callable[[DrivingClip], Clip]:
    """A ``driving_loader`` that reads each driving clip (onset..offset) from loaded datasets.

    Args:
        datasets: ``{"SAMM": SAMM(...), "CASME2": CASME2(...), "SMIC": SMIC(..., variant="HS")}``.
        resize: optional square side for the frames.
    """

    def load(driving: DrivingClip) -> Clip:
        dataset = datasets.get(driving.dataset)
        if dataset is None:
            raise InputError(f"no {driving.dataset} dataset was given for MEGC clip {driving.name}; add it to datasets.")
        return dataset.load_frames(dataset[driving.subject, driving.clip], resize=resize)

    return load


def _check_templates(templates: Mapping[str, object], year: int, allow_partial: bool) -> dict[str, torch.Tensor]:
    if year not in MEGC_TEMPLATES:
        raise InputError(f"year must be one of {', '.join(map(str, MEGC_TEMPLATES))}, got {year!r}.")
    slots = MEGC_TEMPLATES[year]
    unknown = sorted(set(templates) - set(slots))
    missing = [slot for slot in slots if slot not in templates]
    if unknown or (missing and not allow_partial) or not templates:
        raise InputError(
            f"MEGC {year} templates must be exactly {', '.join(slots)}; got unknown {', '.join(unknown) or 'none'}, "
            f"missing {', '.join(missing) or 'none'} (pass allow_partial=True to run a subset)."
        )
    from ..images import read_image

    images = {}
    for slot in slots:
        if slot in templates:
            image = templates[slot]
            images[slot] = image if isinstance(image, torch.Tensor) else read_image(image)
            check_image(images[slot], f"templates[{slot!r}]")
    return images


def run_megc(
    backbone_fn: Transfer,
    driving_loader: Callable[[DrivingClip], Clip],
    templates: Mapping[str, torch.Tensor | str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    year: int = 2022,
    clips: tuple[DrivingClip, ...] = MEGC_DRIVING_CLIPS,
    ext: str = ".mp4",
    allow_partial: bool = False,
    settings: Mapping[str, object] | None = None,
) -> list[dict[str, str]]:
    """Generate every (driving clip, template) video of the MEGC protocol; resumable.

    A driving clip that cannot be loaded, or a transfer that fails, is recorded with its reason
    (status ``failed``) and the run goes on. Each video's record is written atomically to
    ``out_dir/records/`` right after the video; a re-run skips the videos already done (see
    :mod:`magplus.io.records`), so an interrupted run loses nothing.

    Args:
        backbone_fn: ``transfer(source_img (3, H, W), driving Clip) -> frames (T, 3, H', W')`` (or a
            Clip); the whole pipeline (magnify, animate, de-magnify) lives behind it.
        driving_loader: ``DrivingClip -> Clip`` (see :func:`loader_from_datasets`).
        templates: slot -> template face, a ``(3, H, W)`` tensor or an image path.
        out_dir: output folder (created if its parent exists).
        year: 2021 or 2022 (selects the template slots).
        clips: driving clips (default the 9 of the protocol).
        ext: video extension (.mp4, .mkv, .gif, ...).
        allow_partial: run with a subset of the year's template slots.
        settings: what ``backbone_fn`` is (backbone, α, ...), stored with the records so that a
            re-run with other settings is refused instead of mixed in.

    Returns:
        One record per (driving clip, template): template, dataset, driving, emotion, path,
        status (``done`` / ``failed``) and error (also written to ``out_dir/megc{year}_manifest.csv``).
    """
    from tqdm import tqdm

    from ..atomic import check_output_dir
    from ..records import RunRecords
    from ..video_writer import check_video_output_rate, output_kind
    from .tables import write_csv_rows

    if not callable(backbone_fn) or not callable(driving_loader):
        raise InputError("backbone_fn and driving_loader must be callables; see run_megc's docstring.")
    images = _check_templates(templates, year, allow_partial)
    output_kind(f"x{ext}")  # an unknown extension fails now, not after the first transfer
    out = check_output_dir(out_dir)
    records = RunRecords(out, {"year": year, "ext": ext, **dict(settings or {})}, "records")
    rows: list[dict[str, str]] = []
    progress = tqdm(total=len(clips) * len(images), desc=f"MEGC {year}", unit="video")
    for driving in clips:
        names = {slot: f"{year}_{slot}_{driving.dataset}_{driving.name}" for slot in images}
        pending = [slot for slot in images if not _is_done(records, names[slot], out / output_name(year, slot, driving, ext))]
        clip, load_error = None, None
        if pending:
            try:
                clip = _load_driving(driving_loader, driving)
                check_video_output_rate(out / output_name(year, pending[0], driving, ext), clip.fps)
            except MagplusError as exc:
                load_error = f"{type(exc).__name__}: {exc}"
        for slot, image in images.items():
            path = out / output_name(year, slot, driving, ext)
            row = {"template": slot, "dataset": driving.dataset, "driving": driving.name,
                   "emotion": driving.emotion, "path": str(path)}
            if slot in pending:
                error = load_error or _transfer_one(backbone_fn, image, clip, path, f"{driving.name} on {slot}")
                records.save(names[slot], "failed" if error else "done", error, **row)
            rows.append({**row, **_status(records, names[slot])})
            progress.update()
    progress.close()
    write_csv_rows(out / f"megc{year}_manifest.csv", rows, list(rows[0]))
    return rows


def _is_done(records, name: str, path: Path) -> bool:
    return records.done(name) is not None and path.exists()


def _status(records, name: str) -> dict[str, str]:
    record = records.get(name) or {}
    return {"status": record.get("status", "failed"), "error": record.get("error") or ""}


def _load_driving(driving_loader: Callable[[DrivingClip], Clip], driving: DrivingClip) -> Clip:
    clip = driving_loader(driving)
    if not isinstance(clip, Clip):
        raise InputError(f"driving_loader must return a Clip, got {type(clip).__name__} for {driving.name}.")
    return clip


def _transfer_one(backbone_fn: Transfer, image: torch.Tensor, clip: Clip, path: Path, what: str) -> str | None:
    """Transfer and write one video; the error message when it fails (the run goes on)."""
    from ...context import clip_context
    from ..video_writer import write_video

    try:
        with clip_context(f"MEGC driving clip {what.split(' on ')[0]!r}", fps=clip.fps):
            result = backbone_fn(image, clip)
        frames = result.frames if isinstance(result, Clip) else result
        check_frames(frames, f"backbone_fn output for {what}")
        write_video(path, frames, fps=clip.fps)
    except Exception as exc:  # noqa: BLE001 - a broken clip is recorded; the other 35 videos still get made
        return f"{type(exc).__name__}: {exc}"
    return None
