"""``magplus app``: serve the local browser app (needs the ``app`` extra: Gradio)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..app.validation import MAX_FRAMES, MAX_SIDE, MAX_UPLOAD_MB

    p = subparsers.add_parser("app", help="serve a local browser app: upload a face and a clip, watch MagPlus",
                              description="A Gradio page on this machine. Uploads live in a temporary folder "
                                          "that is removed when the browser session ends or the app stops.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--max-upload-mb", type=float, default=MAX_UPLOAD_MB,
                   help=f"largest accepted upload in MB (default {MAX_UPLOAD_MB})")
    p.add_argument("--max-frames", type=int, default=MAX_FRAMES,
                   help=f"most frames in a driving clip (default {MAX_FRAMES})")
    p.add_argument("--max-side", type=int, default=MAX_SIDE,
                   help=f"largest image/frame side in px (default {MAX_SIDE})")
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..app.server import serve
    from ..app.validation import Limits
    from ..errors import InputError

    if not 1 <= args.port <= 65535:
        raise InputError(f"--port must lie in 1..65535, got {args.port}.")
    if not (args.max_upload_mb > 0 and args.max_frames >= 2 and args.max_side >= 32):
        raise InputError("--max-upload-mb must be > 0, --max-frames >= 2 and --max-side >= 32.")
    limits = Limits(max_upload_mb=args.max_upload_mb, max_frames=args.max_frames, max_side=args.max_side)
    serve(args.host, args.port, limits, open_browser=args.open)
    return 0
