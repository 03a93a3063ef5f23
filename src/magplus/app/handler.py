"""The page's run handler: raw page values in, outputs or a one-line message out.

Errors never reach the browser as a traceback: a ``MagplusError`` is the user's to fix and is
shown as it is; anything else is logged with its traceback in the terminal and shown as one line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import MagplusError
from .job import Progress, RunOutputs, run_job
from .session import TempRoot
from .validation import Limits, parse_settings

log = logging.getLogger("magplus.app")

#: Names of the page values that can hold an uploaded file (registered for removal at session end).
UPLOAD_FIELDS = ("source_upload", "driving_video", "driving_zip")


@dataclass
class HandlerReply:
    """What the page shows after a run: a status line and the outputs (None after an error)."""

    status: str
    outputs: RunOutputs | None = None

    @property
    def ok(self) -> bool:
        return self.outputs is not None


def error_message(exc: BaseException) -> str:
    """The one line the page shows for an error."""
    if isinstance(exc, MagplusError):
        return f"**Cannot run:** {exc}"
    return (f"**Something went wrong:** {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
            "(the details are in the terminal that runs `magplus app`).")


class RunHandler:
    """Runs one job per click, inside the session's temporary folder.

    Args:
        root: the app's temporary folders.
        limits: upload and clip limits.
    """

    def __init__(self, root: TempRoot, limits: Limits):
        self.root, self.limits = root, limits

    def __call__(self, raw: dict[str, Any], session: str, progress: Progress | None = None) -> HandlerReply:
        for name in UPLOAD_FIELDS:
            self.root.register_upload(session, raw.get(name))
        try:
            settings = parse_settings(raw, self.limits)
            outputs = run_job(settings, self.root.run_dir(session), self.limits, progress or _quiet)
        except MagplusError as exc:
            return HandlerReply(error_message(exc))
        except Exception as exc:  # noqa: BLE001 - the page must show a message, never a traceback
            log.exception("magplus app: run failed")
            return HandlerReply(error_message(exc))
        total = outputs.summary["total_s"]
        return HandlerReply(f"Done in {total:.1f} s: α {outputs.summary['alpha']:.2f}, "
                            f"{outputs.summary['frames']} frames.", outputs)


def _quiet(fraction: float, stage: str) -> None:
    pass


def gradio_progress(progress: Callable[..., Any]) -> Progress:
    """Adapt a ``gr.Progress`` to :data:`~magplus.app.job.Progress`."""
    return lambda fraction, stage: progress(fraction, desc=stage)
