"""``magplus list backbones|magnifiers|flows``: what is registered."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("list", help="list registered backbones, magnifiers or flow estimators")
    parser.add_argument("what", choices=["backbones", "magnifiers", "flows"])
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..registry import BACKBONES, FLOWS, MAGNIFIERS

    registry = {"backbones": BACKBONES, "magnifiers": MAGNIFIERS, "flows": FLOWS}[args.what]
    width = max(len(e.name) for e in registry.entries())
    for entry in registry.entries():
        print(f"{entry.name:<{width}}  {entry.summary}")
    return 0
