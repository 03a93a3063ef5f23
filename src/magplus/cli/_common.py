"""Helpers shared by the CLI subcommands: α parsing, reading inputs, writing outputs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import InputError


def parse_alpha(text: str) -> float | str:
    """``"auto"`` or a number > 0 (argparse type)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"alpha must be 'auto' or a number > 0, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"alpha must be a finite number > 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A number > 0 (argparse type)."""
    value = parse_alpha(text)
    if value == "auto":
        raise argparse.ArgumentTypeError("expected a number > 0")
    return float(value)


def sibling_path(output: str | Path, suffix: str, extension: str | None = None) -> Path:
    """``out.mp4`` -> ``out<suffix>.mp4`` (or another extension)."""
    out = Path(output)
    return out.with_name(out.stem + suffix + (extension if extension is not None else out.suffix))


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
