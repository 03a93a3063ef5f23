"""``magplus demo``: the main job on the embedded defaults (no input needed)."""

from __future__ import annotations

import argparse

from ._common import add_compute_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="transfer a synthetic micro-expression onto the bundled face with MagPlus")
    p.add_argument("--out", default="out", help="output folder (default: out)")
    p.add_argument("--seed", type=int, default=7, help="seed of the synthetic micro-expression")
    p.add_argument("--aus", default="12", help="comma-separated action units of the driving clip (default 12)")
    p.add_argument("--amplitude", type=float, default=1.5, help="peak displacement in px at 256 px (default 1.5)")
    p.add_argument("--fps", type=float, default=100.0, help="frame rate of the synthetic clip (default 100)")
    p.add_argument("--backbone", default="landmark-warp", help="backbone (weight-free default)")
    p.add_argument("--magnifier", default="lagrangian", help="magnifier")
    add_compute_arguments(p, device=False)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import run_demo
    from ..errors import InputError
    from ._common import apply_compute_arguments, check_outputs

    check_outputs(folders=[args.out], parents=True)
    apply_compute_arguments(args)

    try:
        aus = tuple(int(a) for a in args.aus.split(",") if a.strip())
    except ValueError:
        raise InputError(f"--aus must be comma-separated AU numbers such as 4,12, got {args.aus!r}.") from None
    summary = run_demo(args.out, seed=args.seed, fps=args.fps, aus=aus, amplitude_px=args.amplitude,
                       backbone=args.backbone, magnifier=args.magnifier)
    motion = summary["motion"]
    print(f"alpha {summary['alpha']:.1f} (auto), {summary['frames']} frames at {summary['fps']:g} fps")
    print(f"{'clip':<14}{'peak px':>9}{'peak/truth':>12}{'corr. with truth':>18}")
    for name, row in motion.items():
        print(f"{name:<14}{row['peak_px']:>9.2f}{row['peak_ratio_to_truth']:>12.2f}{row['correlation_with_truth']:>18.2f}")
    print(f"wrote {args.out}/ (side_by_side.mp4, motion.png, ...) in {summary['total_s']:.1f} s")
    return 0
