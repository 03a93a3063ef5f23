"""Helpers shared by the CLI subcommands: α parsing, reading inputs, writing outputs."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from ..errors import InputError, OutputPathError


def parse_alpha(text: str) -> float | str:
    """``"auto"`` or a number in (0, ALPHA_LIMIT] (argparse type)."""
    from ..types import ALPHA_LIMIT, ALPHA_LIMIT_REASON

    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"alpha must be 'auto' or a number > 0, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"alpha must be a finite number > 0, got {text!r}")
    if value > ALPHA_LIMIT:
        raise argparse.ArgumentTypeError(f"alpha must be <= {ALPHA_LIMIT:g}, got {text!r}: {ALPHA_LIMIT_REASON}")
    return value


def magnification_factor(text: str) -> float:
    """A number in (0, ALPHA_LIMIT] ("auto" is not allowed) (argparse type)."""
    value = parse_alpha(text)
    if value == "auto":
        raise argparse.ArgumentTypeError("expected a number > 0 ('auto' only works in `magplus reenact`)")
    return float(value)


def positive_float(text: str) -> float:
    """A finite number > 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def local_ratio(text: str) -> float | None:
    """``off`` (None) or a finite number >= 1 (argparse type of ``--max-local-ratio``)."""
    if text.strip().lower() == "off":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'off' or a number >= 1, got {text!r}") from None
    if not 1.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected 'off' or a finite number >= 1, got {text!r}")
    return value


def sibling_path(output: str | Path, suffix: str, extension: str | None = None) -> Path:
    """``out.mp4`` -> ``out<suffix>.mp4`` (or another extension)."""
    out = Path(output)
    return out.with_name(out.stem + suffix + (extension if extension is not None else out.suffix))


def check_outputs(inputs: Iterable[str | Path | None] = (), videos: Iterable[str | Path | None] = (),
                  files: Iterable[tuple[str | Path | None, tuple[str, ...]]] = (),
                  folders: Iterable[str | Path | None] = (), fps: float | None = None, parents: bool = False) -> None:
    """Validate every output of a subcommand before any work starts (None entries are skipped).

    Args:
        inputs: paths no output may be (or, for folders, hold).
        videos: clip outputs (``.mp4 .mov .mkv .avi .gif`` or a PNG folder without extension).
        files: ``(path, allowed suffixes)`` pairs, e.g. ``(report, (".json",))``.
        folders: output folders (reports, converted weights).
        parents: the command creates missing parents of ``folders`` (see :func:`check_output_dir`).
        fps: the clip's frame rate when known, so that a format that cannot hold it (a GIF above
            50 fps) is refused now rather than after the compute.

    Raises:
        OutputPathError / InputError: the first unusable output, with the reason and the fix.
    """
    from ..io.atomic import check_output_dir, check_output_path
    from ..io.video_writer import check_video_output_rate, output_kind

    inputs = [i for i in inputs if i is not None]
    for video in videos:
        if video is None:
            continue
        if output_kind(video) == "folder":
            check_output_dir(video, inputs)
        else:
            check_output_path(video, inputs)
        if fps is not None:
            check_video_output_rate(video, fps)
    for path, suffixes in files:
        if path is None:
            continue
        if Path(path).suffix.lower() not in suffixes:
            raise OutputPathError(f"cannot write {str(path)!r}: give a file ending in {' or '.join(suffixes)}.")
        check_output_path(path, inputs)
    for folder in folders:
        if folder is not None:
            check_output_dir(folder, inputs, parents=parents)


def read_source_image(path: str):
    """A face image ``(3, H, W)``; a video's first frame is accepted too."""
    from ..io import read_image, read_video

    p = Path(path)
    if not p.exists():
        raise InputError(f"source {path!r} does not exist.")
    if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}:
        return read_image(p)
    return read_video(p, 0, 1).frames[0]


def write_json(path: str | Path, payload: dict[str, Any]) -> None:
    """Write JSON atomically."""
    from ..io.atomic import atomic_output

    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, default=float) + "\n")


@dataclass
class DrivingInput:
    """A driving clip named on the command line, opened (header only) but not read yet.

    Attributes:
        label: how messages name it ("driving clip 'x.mp4'", "CASME2 sample sub01/EP02_01f").
        fps: its frame rate (dataset rate, ``--fps``, a folder's fps.txt, the file's rate, or 30).
        paths: the files and folders it reads (no output may be one of them).
        load: ``() -> Clip`` reading its frames.
        open: ``() -> ClipFrames`` for reading it lazily, chunk by chunk
            (:class:`~magplus.pipeline_stream.ClipFrames`).
    """

    label: str
    fps: float
    paths: list[str]
    load: Callable[[], Any]
    open: Callable[[], Any]


def add_driving_arguments(parser: argparse.ArgumentParser) -> None:
    """``--driving PATH`` or ``--dataset NAME --root DIR --annotation FILE --sample SUBJECT/CLIP``, plus ``--fps``."""
    parser.add_argument("--driving", help="driving clip (video file or folder of frames)")
    group = parser.add_argument_group("driving clip from a dataset (instead of --driving)")
    group.add_argument("--dataset", choices=["casme2", "samm", "smic", "casme3", "mmew", "generic"],
                       help="read the driving clip (onset..offset) from this dataset, at its frame rate")
    group.add_argument("--root", help="dataset folder")
    group.add_argument("--annotation", help="dataset annotation file (xlsx/csv)")
    group.add_argument("--sample", help="subject/clip of the sample, e.g. sub01/EP02_01f")
    parser.add_argument("--fps", type=positive_float, default=None,
                        help="frame rate of a frame folder without fps.txt (default 30; CASME II and SAMM are "
                             "200 fps: pass --fps 200 or use --dataset) or of --dataset generic clips")


def open_driving(args: argparse.Namespace) -> DrivingInput:
    """The driving clip of ``--driving`` or ``--dataset/--root/--sample`` (header only, validated).

    A frame folder without ``fps.txt`` and without ``--fps`` is read at 30 fps, with a note on stderr.
    """
    import sys

    from ..io import VideoReader
    from ..io.frames_folder import DEFAULT_FOLDER_FPS, read_fps_sidecar
    from ..pipeline_stream import ClipFrames

    if (args.driving is None) == (args.dataset is None):
        raise InputError("give the driving clip as --driving PATH or as --dataset NAME --root DIR --sample SUBJECT/CLIP.")
    if args.dataset is not None:
        from ..eval.cases import open_dataset

        if not args.sample:
            raise InputError(f"--dataset {args.dataset} needs --sample SUBJECT/CLIP (e.g. sub01/EP02_01f).")
        dataset = open_dataset(args.dataset, args.root, args.annotation, args.fps)
        sample = dataset.lookup(args.sample)
        paths = [p for p in (args.root, args.annotation, str(sample.frames_dir)) if p]
        return DrivingInput(f"{dataset.name} sample {sample.subject}/{sample.clip}", sample.fps, paths,
                            lambda: dataset.load_frames(sample),
                            lambda: ClipFrames(VideoReader(sample.frames_dir, fps=sample.fps), *dataset.reader_range(sample)))
    path = Path(args.driving)
    reader = VideoReader(path, fps=args.fps)  # checks that it exists and is readable
    reader.close()
    if path.is_dir() and args.fps is None and read_fps_sidecar(path) is None:
        print(f"magplus: note: frame folder {str(path)!r} has no fps.txt; assuming {DEFAULT_FOLDER_FPS:g} fps "
              "(pass --fps, e.g. --fps 200 for CASME II/SAMM, or use --dataset).", file=sys.stderr)
    from ..io import read_video

    return DrivingInput(f"driving clip {path.name!r}", reader.fps, [str(path)],
                        lambda: read_video(path, fps=reader.fps), lambda: ClipFrames(VideoReader(path, fps=reader.fps)))


def check_onset_faces(label: str, frame: Any, source: Any = None, source_name: str | None = None) -> None:
    """Fail now, naming the input, when the source image or the driving clip's onset frame has no face.

    Two detections (milliseconds) before minutes of compute; gaps later in the clip are handled
    by :func:`magplus.face.gaps.bridge_gaps`.
    """
    from ..face.landmarks import detect_landmarks

    if source is not None:
        detect_landmarks(source, what=f"the source image {source_name!r}")
    detect_landmarks(frame, what=f"frame 0 (onset) of {label}")


def positive_int(text: str) -> int:
    """A whole number >= 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def add_compute_arguments(parser: argparse.ArgumentParser, device: bool = True) -> None:
    """``--threads N`` (default: this machine's cores) and, with ``device``, ``--device cpu|cuda[:N]|auto``."""
    from ..runtime import available_cores

    parser.add_argument("--threads", type=positive_int, default=None,
                        help=f"CPU threads for torch, OpenCV and BLAS (default: the cores this process may use, "
                             f"{available_cores()} here)")
    if device:
        parser.add_argument("--device", default="cpu",
                            help="where the backbone's network runs: cpu (default), cuda, cuda:N, or auto (CUDA if present)")


def apply_compute_arguments(args: argparse.Namespace):
    """Set the thread count of ``--threads`` now, before heavy work; return the checked ``--device``.

    Returns:
        A :class:`torch.device` (CPU when the subcommand has no ``--device``).

    Raises:
        InputError: CUDA asked for but not available, or a bad device string.
    """
    from ..runtime import set_threads, torch_device

    set_threads(args.threads)
    return torch_device(getattr(args, "device", "cpu"))


def device_kwargs(kind: str, name: str, factory: Callable[..., Any], device: Any) -> dict[str, Any]:
    """``{"device": device}`` for a factory that takes one; ``{}`` on the CPU otherwise.

    Raises:
        InputError: a GPU asked for but the ``kind`` named ``name`` has no device option (it runs on the CPU).
    """
    import inspect

    try:
        takes_device = "device" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        takes_device = False
    if takes_device:
        return {"device": device}
    if str(device) != "cpu":
        raise InputError(f"{kind} {name!r} runs on the CPU only (it has no device option); drop --device {device}.")
    return {}
