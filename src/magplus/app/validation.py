"""Turning what the page sends into checked settings and inputs, before any work starts.

Every problem becomes an :class:`~magplus.errors.InputError` (or another ``MagplusError``) whose
one-sentence message the page shows; nothing here lets a traceback reach the browser.

Limits (documented in the README and shown on the page; ``magplus app`` flags change them):

* an uploaded file: at most :data:`MAX_UPLOAD_MB` MB (Gradio refuses bigger uploads before they
  are stored; :func:`check_upload` checks again);
* the driving clip: at most :data:`MAX_FRAMES` frames (a synthetic clip too), frames at most
  :data:`MAX_SIDE` pixels on a side (the source image too);
* a zip of frames: at most :data:`MAX_FRAMES` image members and :data:`MAX_UNZIPPED_MB` MB unpacked.
"""

from __future__ import annotations

import math
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, VideoReadError

MAX_UPLOAD_MB = 50
MAX_FRAMES = 300
MAX_SIDE = 4096
MAX_UNZIPPED_MB = 500

#: Source choices on the page: bundled faces (public domain, shipped with the dependencies) or an upload.
BUNDLED_FACES = {"astronaut (bundled)": "default_face", "Grace Hopper (bundled)": "second_face"}
UPLOAD = "my upload"
DRIVING_MODES = ("synthetic micro-expression", "video upload", "zip of frames")
SIDES = {"both sides": None, "subject's left (L)": "L", "subject's right (R)": "R"}
PAIRED_DEMAGNIFIER = "(the magnifier's pair)"
RESOLUTIONS = (128, 256)
#: Page fields passed to the backbone factory when filled in (field -> factory keyword).
BACKBONE_FIELDS = {"checkpoint": "checkpoint", "kp_checkpoint": "kp_checkpoint", "config": "config",
                   "connectivity": "connectivity", "repo": "repo", "weights": "weights",
                   "backbone_python": "python"}


@dataclass(frozen=True)
class Limits:
    """Upload and clip limits of one app instance."""

    max_upload_mb: float = MAX_UPLOAD_MB
    max_frames: int = MAX_FRAMES
    max_side: int = MAX_SIDE
    max_unzipped_mb: float = MAX_UNZIPPED_MB

    def describe(self) -> str:
        """One line for the page."""
        return (f"Limits: uploads up to {self.max_upload_mb:g} MB each, driving clips up to {self.max_frames} frames, "
                f"images and frames up to {self.max_side} px on a side.")


@dataclass
class RunSettings:
    """Checked settings of one run (paths exist, numbers in range, names known)."""

    source: str                      # a key of BUNDLED_FACES, or a path of an uploaded image
    driving_mode: str                # one of DRIVING_MODES
    driving_path: Path | None = None  # the uploaded video or zip
    frames_fps: float = 30.0         # frame rate of a zip of frames
    aus: list[int] = field(default_factory=lambda: [12])
    amplitude_px: float = 1.5
    synth_fps: float = 100.0
    side: str | None = None
    seed: int = 0
    backbone: str = "landmark-warp"
    backbone_kwargs: dict[str, str] = field(default_factory=dict)
    magnifier: str = "lagrangian"
    demagnifier: str | None = None
    alpha: float | str = "auto"
    target_amplitude: float = 8.0
    paste_back: bool = False
    resolution: int = 256

    @property
    def synthetic(self) -> bool:
        return self.driving_mode == DRIVING_MODES[0]


def _number(value: Any, name: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}.") from None
    if not (math.isfinite(number) and low <= number <= high):
        raise InputError(f"{name} must lie in [{low:g}, {high:g}], got {value!r}.")
    return number


def _choice(value: Any, name: str, choices) -> Any:
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}.")
    return value


def check_upload(path: Any, what: str, limits: Limits) -> Path:
    """An uploaded file that exists and is within the size limit."""
    if not path:
        raise InputError(f"no {what} was uploaded; upload one, or choose another option.")
    upload = Path(path)
    if not upload.is_file():
        raise VideoReadError(f"the {what} upload {upload.name!r} is no longer on the server; upload it again.")
    size_mb = upload.stat().st_size / 1e6
    if size_mb > limits.max_upload_mb:
        raise InputError(f"the {what} is {size_mb:.1f} MB; the limit is {limits.max_upload_mb:g} MB.")
    return upload


def parse_aus(labels: Any) -> list[int]:
    """``["AU12 lip corner puller", ...]`` (checkbox labels) -> ``[12, ...]``."""
    from ..synth.program import check_au

    if not labels:
        raise InputError("choose at least one action unit for the synthetic micro-expression.")
    return [check_au(str(label).split()[0]) for label in labels]


def parse_settings(raw: dict[str, Any], limits: Limits) -> RunSettings:
    """Check the page's raw values (see :mod:`magplus.app.layout` for the names)."""
    from ..registry import list_backbones, list_magnifiers

    source = _choice(raw.get("source_mode"), "source", [*BUNDLED_FACES, UPLOAD])
    if source == UPLOAD:
        source = str(check_upload(raw.get("source_upload"), "source face image", limits))
    mode = _choice(raw.get("driving_mode"), "driving clip", DRIVING_MODES)
    settings = RunSettings(source=source, driving_mode=mode)
    if mode == DRIVING_MODES[1]:
        settings.driving_path = check_upload(raw.get("driving_video"), "driving video", limits)
    elif mode == DRIVING_MODES[2]:
        settings.driving_path = check_upload(raw.get("driving_zip"), "zip of frames", limits)
        settings.frames_fps = _number(raw.get("frames_fps"), "frame rate of the zip", 1, 1000)
    else:
        settings.aus = parse_aus(raw.get("aus"))
        settings.amplitude_px = _number(raw.get("amplitude"), "amplitude (px)", 0.05, 5.0)
        settings.synth_fps = _number(raw.get("synth_fps"), "frame rate of the synthetic clip", 10, 1000)
        settings.side = SIDES[_choice(raw.get("side"), "side", list(SIDES))]
        settings.seed = int(_number(raw.get("seed"), "seed", 0, 2**31 - 1))
    settings.backbone = _choice(raw.get("backbone"), "backbone", list_backbones())
    for name, keyword in BACKBONE_FIELDS.items():
        text = str(raw.get(name) or "").strip()
        if text:
            if keyword != "python" and not Path(text).expanduser().exists():
                raise InputError(f"{name.replace('_', ' ')} {text!r} does not exist on this machine; give the path "
                                 f"of the official file or folder.")
            settings.backbone_kwargs[keyword] = str(Path(text).expanduser())
    settings.magnifier = _choice(raw.get("magnifier"), "magnifier", list_magnifiers())
    demag = raw.get("demagnifier") or PAIRED_DEMAGNIFIER
    settings.demagnifier = None if demag == PAIRED_DEMAGNIFIER else _choice(demag, "de-magnifier", list_magnifiers())
    if _choice(raw.get("alpha_mode"), "alpha", ["automatic", "manual"]) == "manual":
        settings.alpha = _number(raw.get("alpha"), "alpha", 1.0, 200.0)
    settings.target_amplitude = _number(raw.get("target_amplitude"), "target amplitude (px)", 0.5, 64.0)
    settings.paste_back = bool(raw.get("paste_back"))
    settings.resolution = int(_choice(int(_number(raw.get("resolution"), "face crop size", 32, 1024)),
                                      "face crop size", RESOLUTIONS))
    return settings


def check_frame_count(count: int, limits: Limits, what: str = "the driving clip") -> None:
    """At least 2 frames (there is no motion in one) and at most ``limits.max_frames``."""
    if count < 2:
        raise InputError(f"{what} has {count} frame; a micro-expression needs at least 2.")
    if count > limits.max_frames:
        raise InputError(f"{what} has {count} frames; the limit is {limits.max_frames} (trim it around the "
                         f"expression).")


def check_size(size: tuple[int, int], limits: Limits, what: str) -> None:
    """``(H, W)`` within ``limits.max_side``."""
    if max(size) > limits.max_side:
        raise InputError(f"{what} is {size[1]}x{size[0]} px; the limit is {limits.max_side} px on a side.")


def extract_frames_zip(path: Path, target: Path, limits: Limits) -> Path:
    """Unpack the image members of a zip into ``target`` (flat, names kept for natural order).

    Members are written under their base name only, so a member called ``../../x.png`` cannot
    escape ``target``; folders, hidden files and other file types are skipped.
    """
    from ..io.images import FRAME_EXTENSIONS

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise VideoReadError(f"{path.name!r} is not a readable zip file ({exc}); zip the frames again.") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()
                   and Path(m.filename).suffix.lower() in FRAME_EXTENSIONS
                   and not Path(m.filename).name.startswith(".") and "__MACOSX" not in m.filename]
        check_frame_count(len(members), limits, f"the zip {path.name!r}")
        unpacked_mb = sum(m.file_size for m in members) / 1e6
        if unpacked_mb > limits.max_unzipped_mb:
            raise InputError(f"the zip unpacks to {unpacked_mb:.0f} MB of frames; the limit is "
                             f"{limits.max_unzipped_mb:g} MB.")
        names = [re.sub(r"[^\w.-]", "_", Path(m.filename).name) for m in members]
        if len(set(names)) != len(names):
            raise InputError(f"the zip {path.name!r} holds two frames with the same file name in different folders; "
                             "put the frames of one clip in one folder.")
        target.mkdir(parents=True, exist_ok=True)
        for member, name in zip(members, names):
            with archive.open(member) as src, open(target / name, "wb") as dst:
                dst.write(src.read())
    return target


def read_driving(settings: RunSettings, workdir: Path, limits: Limits):
    """The uploaded driving clip as a :class:`~magplus.types.Clip`, within the limits."""
    from ..io import VideoReader

    path = settings.driving_path
    fps = None
    if settings.driving_mode == DRIVING_MODES[2]:
        path, fps = extract_frames_zip(path, workdir / "frames", limits), settings.frames_fps
    with VideoReader(path, fps=fps) as reader:
        check_frame_count(len(reader), limits)
        check_size(reader.size, limits, "the driving clip's frames")
        from ..types import Clip

        return Clip(frames=reader.read(), fps=reader.fps, meta={"path": os.fspath(path)})


def read_source(settings: RunSettings, limits: Limits):
    """The source face ``(3, H, W)``: a bundled face (256² crop) or the uploaded image."""
    from .. import synth
    from ..io import read_image

    if settings.source in BUNDLED_FACES:
        return getattr(synth, BUNDLED_FACES[settings.source])()
    image = read_image(settings.source)
    check_size(tuple(image.shape[-2:]), limits, "the source image")
    return image
