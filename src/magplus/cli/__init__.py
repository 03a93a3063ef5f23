"""The ``magplus`` command.

Each module in this package that defines ``register(subparsers)`` adds one subcommand; the
subcommand's handler is stored with ``parser.set_defaults(handler=...)`` and receives the parsed
arguments. Errors that magplus raises on purpose (:class:`MagplusError`) are printed as one line
and the process exits with status 2; nothing else is caught.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import pkgutil
import sys
from typing import Iterator, Sequence

from ..errors import MagplusError


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="magplus",
        description="Realistic facial micro-expressions with ordinary face-animation models (MagPlus).",
    )
    parser.add_argument("--version", action="version", version=f"magplus {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``magplus`` console command; returns the exit status."""
    from ..runtime import prefer_passive_waits

    prefer_passive_waits()  # before any subcommand imports torch (OpenMP reads it once)
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        with _one_line_warnings(f"magplus {args.command}"):
            result = handler(args)
    except MagplusError as exc:
        print(f"magplus {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("magplus: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


@contextlib.contextmanager
def _one_line_warnings(prefix: str) -> Iterator[None]:
    """Print warnings as ``magplus CMD: warning: message`` (no source line), like errors, inside the block."""
    import warnings

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{prefix}: warning: {message}", file=file or sys.stderr)

    with warnings.catch_warnings():  # restores the previous hook and filters afterwards
        warnings.showwarning = show
        yield
