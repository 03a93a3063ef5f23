"""What every micro-expression dataset loader shares: sample building, lookup, tables, frame loading.

A loader subclass only says where its annotation rows come from and where each clip's frames
live (:meth:`MicroExpressionDataset._records`); this class turns the rows into validated
:class:`Sample` records, repairing the known annotation faults (missing or impossible apex,
offsets past the last frame) and saying what it repaired in ``Sample.notes``.
"""

from __future__ import annotations

import bisect
import os
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from ...errors import InputError, VideoReadError
from ...types import Clip
from ..frames_folder import list_frame_files
from .apex import estimate_apex_index
from .aus import parse_aus
from .sample import Sample
from .tables import as_frame_number, as_text, write_csv_rows


def frame_numbers(source: Path) -> list[int]:
    """Frame number of each frame of a clip, in reading order.

    For a folder: the last digit run of each file name (``reg_img46.jpg`` -> 46); when a name has
    none, or the numbers do not increase, the 0-based positions. For a video file: positions.
    """
    if source.is_dir():
        numbers = []
        for path in list_frame_files(source):
            digits = "".join(ch if ch.isdigit() else " " for ch in path.stem).split()
            numbers.append(int(digits[-1]) if digits else -1)
        if all(b > a for a, b in zip(numbers, numbers[1:])) and numbers[0] >= 0:
            return numbers
        return list(range(len(numbers)))
    from ..video import VideoReader

    return list(range(len(VideoReader(source))))


class MicroExpressionDataset:
    """Base of the dataset loaders: ``.samples``, ``len()``, indexing, ``to_table()``, ``load_frames()``.

    Args:
        root: the dataset's top folder.
        annotation: its annotation file (xlsx or csv).
        estimate_apex: estimate a missing/invalid apex from optical flow (else use the midpoint);
            either way ``apex_estimated`` is set.
        skip_missing: drop samples whose frame folder is missing (listed in ``.missing``) instead
            of raising :class:`VideoReadError`.
    """

    #: dataset name written into each Sample
    name = "generic"
    #: frames per second of the dataset's recordings
    fps = 30.0

    def __init__(
        self,
        root: str | os.PathLike[str],
        annotation: str | os.PathLike[str] | None = None,
        estimate_apex: bool = True,
        skip_missing: bool = False,
    ):
        self.root = Path(root)
        if not self.root.is_dir():
            raise VideoReadError(f"{self.name} root folder {str(self.root)!r} does not exist; check the path.")
        self.annotation = Path(annotation) if annotation is not None else None
        self.estimate_apex = bool(estimate_apex)
        self.missing: list[tuple[str, str, Path]] = []
        self._numbers: dict[Path, list[int]] = {}
        self.samples: list[Sample] = []
        for record in self._records():
            try:
                self.samples.append(self._make_sample(record))
            except VideoReadError:
                if not skip_missing:
                    raise
                self.missing.append((str(record.get("subject")), str(record.get("clip")), record["frames_dir"]))

    # -- to be provided by each loader ---------------------------------------------------------
    def _records(self) -> Iterator[dict[str, Any]]:
        """Yield dicts with subject, clip, onset, apex, offset, aus, emotion, objective_class,
        frames_dir (Path) and optionally _row (annotation row number, for messages)."""
        raise NotImplementedError

    # -- sample building ---------------------------------------------------------------------
    def _make_sample(self, record: dict[str, Any]) -> Sample:
        frames_dir: Path = record["frames_dir"]
        if not frames_dir.exists():
            where = f" (annotation row {record['_row']})" if "_row" in record else ""
            raise VideoReadError(
                f"frames of {self.name} clip {record.get('subject')}/{record.get('clip')}{where} not found at "
                f"{str(frames_dir)!r}; check root= or pass skip_missing=True."
            )
        numbers = self._frame_numbers(frames_dir)
        notes: list[str] = []
        onset, offset = as_frame_number(record.get("onset")), as_frame_number(record.get("offset"))
        if onset is None or onset < numbers[0]:
            notes.append(f"onset {record.get('onset')!r} missing or before the first frame; used {numbers[0]}")
            onset = numbers[0]
        if onset > numbers[-1]:
            raise InputError(
                f"{self.name} clip {record.get('subject')}/{record.get('clip')}: onset {onset} is after the last "
                f"frame {numbers[-1]} in {str(frames_dir)!r}; fix the annotation."
            )
        if offset is None or offset > numbers[-1] or offset < onset:
            notes.append(f"offset {record.get('offset')!r} missing or outside {onset}..{numbers[-1]}; used {numbers[-1]}")
            offset = numbers[-1]
        apex = as_frame_number(record.get("apex"))
        apex_estimated = apex is None or not (onset <= apex <= offset)
        if apex_estimated:
            given = record.get("apex")
            apex = self._guess_apex(frames_dir, onset, offset)
            how = "largest optical flow from onset" if self.estimate_apex else "midpoint"
            notes.append(f"apex {given!r} missing or outside onset..offset; estimated {apex} ({how})")
        aus_raw = as_text(record.get("aus"))
        return Sample(
            dataset=self.name,
            subject=str(record["subject"]),
            clip=str(record["clip"]),
            onset=onset,
            apex=int(apex),
            offset=offset,
            n_frames=len(numbers),
            aus=parse_aus(aus_raw),
            emotion=as_text(record.get("emotion")),
            objective_class=as_text(record.get("objective_class")),
            apex_estimated=apex_estimated,
            frames_dir=frames_dir,
            fps=float(self.fps),
            aus_raw=aus_raw,
            notes=notes,
        )

    def _frame_numbers(self, source: Path) -> list[int]:
        if source not in self._numbers:
            self._numbers[source] = frame_numbers(source)
        return self._numbers[source]

    def _positions(self, source: Path, first: int, last: int) -> tuple[int, int]:
        """Reader positions ``[begin, end)`` of the frames numbered ``first .. last`` (inclusive)."""
        numbers = self._frame_numbers(source)
        begin, end = bisect.bisect_left(numbers, first), bisect.bisect_right(numbers, last)
        if begin >= end:
            raise InputError(f"no frame numbered {first}..{last} in {str(source)!r} (it has {numbers[0]}..{numbers[-1]}).")
        return begin, end

    def _guess_apex(self, source: Path, onset: int, offset: int) -> int:
        """Apex frame number: largest motion from onset (estimate_apex=True) or the midpoint."""
        begin, end = self._positions(source, onset, offset)
        numbers = self._frame_numbers(source)
        if not self.estimate_apex:
            return numbers[(begin + end - 1) // 2]
        from ..video import VideoReader

        with VideoReader(source, fps=self.fps) as reader:
            return numbers[begin + estimate_apex_index(reader.read(begin, end))]

    # -- container protocol ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __getitem__(self, item: int | slice | tuple[str, str]) -> Sample | list[Sample]:
        """``ds[3]``, ``ds[1:4]`` or ``ds["sub01", "EP02_01f"]`` (one sample for that subject and clip)."""
        if isinstance(item, tuple):
            found = self.find(item[1], subject=item[0])
            if len(found) != 1:
                what = "no sample" if not found else f"{len(found)} samples (several onsets)"
                raise InputError(f"{self.name} has {what} for subject {item[0]!r}, clip {item[1]!r}; use find().")
            return found[0]
        return self.samples[item]

    def lookup(self, name: str, onset: int | None = None) -> Sample:
        """The one sample named ``"subject/clip"`` (or ``"clip"`` when unique), optionally by onset.

        Raises:
            InputError: no sample, or several (the message says how to choose one).
        """
        subject, _, clip = str(name).strip().strip("/").rpartition("/")
        found = self.find(clip, subject=subject or None)
        if onset is not None:
            found = [s for s in found if s.onset == int(onset)]
        if len(found) != 1:
            if not found:
                hint = f", e.g. {self.samples[0].subject}/{self.samples[0].clip}" if self.samples else ""
                raise InputError(f"{self.name} has no sample {name!r}" + (f" with onset {onset}" if onset is not None else "")
                                 + f" (give subject/clip{hint}).")
            raise InputError(f"{self.name} has {len(found)} samples for {name!r} (onsets "
                             f"{', '.join(str(s.onset) for s in found)}); give subject/clip and the onset.")
        return found[0]

    def find(self, clip: str, subject: str | None = None) -> list[Sample]:
        """Every sample of clip ``clip`` (of ``subject`` when given), in annotation order."""
        return [s for s in self.samples if s.clip == clip and (subject is None or s.subject == subject)]

    def __repr__(self) -> str:
        estimated = sum(s.apex_estimated for s in self.samples)
        return f"{type(self).__name__}({str(self.root)!r}, samples={len(self)}, apex_estimated={estimated})"

    # -- tables ------------------------------------------------------------------------------
    def to_table(self) -> list[dict[str, object]]:
        """One flat dict per sample (see :meth:`Sample.to_row`)."""
        return [sample.to_row() for sample in self.samples]

    def write_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_table` as CSV (atomically); returns the path."""
        fields = list(Sample("", "", "", 0, 0, 0, 0).to_row())
        return write_csv_rows(path, self.to_table(), fields)

    # -- frames ------------------------------------------------------------------------------
    def reader_range(self, sample: Sample) -> tuple[int, int]:
        """Reader positions ``[begin, end)`` of the sample's onset .. offset frames in its folder,
        for reading it lazily (``VideoReader(sample.frames_dir).read(begin, end)``, in chunks)."""
        if not isinstance(sample, Sample):
            raise InputError(f"sample must be a Sample from .samples, got {type(sample).__name__}.")
        return self._positions(sample.frames_dir, sample.onset, sample.offset)

    def load_frames(
        self,
        sample: Sample,
        start: int | None = None,
        stop: int | None = None,
        resize: int | tuple[int, int] | None = None,
    ) -> Clip:
        """Frames of a sample, read lazily from its folder (only the requested ones are decoded).

        Args:
            sample: one of ``self.samples``.
            start, stop: first and last frame NUMBER, both inclusive (default onset and offset).
            resize: ``(H, W)`` or a side length for square frames (bilinear, antialiased); None keeps size.

        Returns:
            :class:`Clip` ``(T, 3, H, W)`` at the dataset's fps (grayscale replicated to 3 channels);
            ``meta`` holds the sample's fields and ``first_frame`` (the number of frame 0).
        """
        from ..video import VideoReader

        if not isinstance(sample, Sample):
            raise InputError(f"sample must be a Sample from .samples, got {type(sample).__name__}.")
        first = sample.onset if start is None else int(start)
        last = sample.offset if stop is None else int(stop)
        if last < first:
            raise InputError(f"stop ({last}) must be >= start ({first}); both are inclusive frame numbers.")
        begin, end = self._positions(sample.frames_dir, first, last)
        with VideoReader(sample.frames_dir, fps=sample.fps) as reader:
            frames = reader.read(begin, end)
        if resize is not None:
            frames = resize_frames(frames, resize)
        meta = {**sample.to_row(), "path": str(sample.frames_dir), "first_frame": self._frame_numbers(sample.frames_dir)[begin]}
        return Clip(frames=frames, fps=sample.fps, meta=meta)


def resize_frames(frames: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """``(T, 3, H, W)`` -> ``(T, 3, *size)`` (an int means square), bilinear with antialiasing."""
    target = (size, size) if isinstance(size, int) else tuple(size)
    if len(target) != 2 or not all(isinstance(v, int) and v > 0 for v in target):
        raise InputError(f"resize must be a positive int or an (H, W) pair of them, got {size!r}.")
    resized = F.interpolate(frames, size=target, mode="bilinear", align_corners=False, antialias=True)
    return resized.clamp(0, 1)


class AnnotatedDataset(MicroExpressionDataset):
    """A dataset described by one annotation sheet with a row per sample.

    Subclasses set ``name``, ``fps``, optionally ``sheet``, and implement :meth:`_subject` (the
    annotation's subject cell -> folder name) and :meth:`_clip_dir` (where the frames live).
    """

    #: worksheet holding the labels (None = the first one)
    sheet: str | None = None
    #: canonical columns the annotation must have
    required: tuple[str, ...] = ("subject", "clip", "onset", "offset")

    def __init__(
        self,
        root: str | os.PathLike[str],
        annotation: str | os.PathLike[str],
        estimate_apex: bool = True,
        skip_missing: bool = False,
    ):
        if annotation is None:
            raise InputError(f"{self.name} needs its annotation file; pass annotation=<path to the .xlsx or .csv>.")
        super().__init__(root, annotation, estimate_apex=estimate_apex, skip_missing=skip_missing)

    def _records(self) -> Iterator[dict[str, Any]]:
        from .tables import read_annotation

        for row in read_annotation(self.annotation, required=self.required, sheet=self.sheet):
            clip = as_text(row.get("clip"))
            if clip is None:  # notes or summary lines below the table
                continue
            subject = self._subject(row.get("subject"), clip)
            yield {**row, "subject": subject, "clip": clip, "frames_dir": self._clip_dir(subject, clip, row)}

    def _subject(self, value: Any, clip: str) -> str:
        return as_text(value) or ""

    def _clip_dir(self, subject: str, clip: str, row: dict[str, Any]) -> Path:
        raise NotImplementedError


def numbered_subject(value: Any, prefix: str, digits: int) -> str:
    """A subject cell -> folder name: ``1``/``"01"``/``"sub01"`` -> ``"sub01"`` (prefix "sub", 2 digits)."""
    text = as_text(value) or ""
    tail = text[len(prefix):] if text.lower().startswith(prefix.lower()) else text
    return f"{prefix}{int(tail):0{digits}d}" if tail.isdigit() else text
