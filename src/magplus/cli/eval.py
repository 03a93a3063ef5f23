"""``magplus eval transfer|magnify``: evaluation protocols that write a report folder.

``transfer`` scores direct transfer against MagPlus–DeMagPlus on synthetic clips (with ground
truth) or on a micro-expression dataset; ``magnify`` runs the synthetic magnification protocol on
one or more magnifiers. Both write ``metrics.json``, ``metrics.md``, ``per_clip.csv`` and plots.
"""

from __future__ import annotations

import argparse

from ._common import add_compute_arguments, apply_compute_arguments, check_outputs, parse_alpha


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="evaluate transfer or magnification and write a report folder",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    protocols = parser.add_subparsers(dest="protocol", metavar="PROTOCOL", required=True)
    _register_transfer(protocols)
    _register_magnify(protocols)


def _register_transfer(protocols: argparse._SubParsersAction) -> None:
    p = protocols.add_parser("transfer", help="direct transfer vs MagPlus–DeMagPlus on synthetic or dataset clips")
    p.add_argument("--backbone", required=True, help="animation backbone (see `magplus list backbones`)")
    p.add_argument("--checkpoint", help="backbone checkpoint, for backbones that need weights")
    p.add_argument("--dataset", choices=["casme2", "samm", "smic", "casme3", "mmew", "generic"],
                   help="evaluate on this dataset's clips (needs --root and --annotation)")
    p.add_argument("--root", help="dataset folder")
    p.add_argument("--annotation", help="dataset annotation file (xlsx/csv)")
    p.add_argument("--synthetic", type=int, metavar="N", help="evaluate on N synthetic clips with ground truth")
    p.add_argument("--sources", nargs="+", default=[], metavar="IMG", help="source faces for dataset clips")
    p.add_argument("--max-clips", type=int, metavar="K", help="only the first K dataset clips")
    p.add_argument("--magnifier", default="lagrangian", help="magnifier (see `magplus list magnifiers`)")
    p.add_argument("--alpha", type=parse_alpha, default="auto", help="'auto' or a factor >= 1")
    p.add_argument("--resolution", type=int, default=256, help="face crop side in pixels (default 256)")
    p.add_argument("--frames", type=int, help="resample synthetic clips to this many frames (fast previews)")
    p.add_argument("--fps", type=float,
                   help="frame rate of synthetic clips (default 200) or of --dataset generic clips (default 30)")
    p.add_argument("--flow", default="dis", help="evaluation flow estimator (default dis)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic clips and the bootstrap")
    p.add_argument("--videos", type=int, default=2, help="clips with a side-by-side video (default 2)")
    p.add_argument("-o", "--output", required=True, help="report folder to write")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_compute_arguments(p, device=False)
    p.set_defaults(handler=run_transfer)


def _register_magnify(protocols: argparse._SubParsersAction) -> None:
    p = protocols.add_parser("magnify", help="synthetic sub-pixel magnification protocol for magnifiers")
    p.add_argument("--magnifier", nargs="+", default=["lagrangian"], help="magnifier name(s) (default lagrangian)")
    p.add_argument("--quick", action="store_true", help="few settings on small textures (seconds)")
    p.add_argument("--flow", default="dis", help="evaluation flow estimator (default dis)")
    p.add_argument("--seed", type=int, default=0, help="seed of the textures and noise")
    p.add_argument("-o", "--output", required=True, help="report folder to write")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_compute_arguments(p, device=False)
    p.set_defaults(handler=run_magnify)


def _check_transfer_args(args: argparse.Namespace) -> None:
    from ..errors import InputError
    from ..registry import BACKBONES, MAGNIFIERS

    BACKBONES.get(args.backbone)  # unknown names fail here, before any clip is read
    MAGNIFIERS.get(args.magnifier)
    if (args.dataset is None) == (args.synthetic is None):
        raise InputError("choose exactly one of --synthetic N or --dataset NAME --root DIR.")
    if args.synthetic is not None and args.synthetic < 1:
        raise InputError(f"--synthetic must be >= 1 clips, got {args.synthetic}.")
    if args.max_clips is not None and args.max_clips < 1:
        raise InputError(f"--max-clips must be >= 1, got {args.max_clips}.")
    if args.alpha != "auto" and not args.alpha >= 1:
        raise InputError(f"--alpha must be 'auto' or >= 1 (the pipeline de-magnifies by 1/alpha), got {args.alpha}.")
    if args.fps is not None and not args.fps > 0:
        raise InputError(f"--fps must be > 0, got {args.fps}.")
    if args.videos < 0:
        raise InputError(f"--videos must be >= 0, got {args.videos}.")
    check_outputs([args.root, args.annotation, args.checkpoint, *args.sources], folders=[args.output])


def run_transfer(args: argparse.Namespace) -> int:
    from ..eval.cases import dataset_cases, synthetic_cases
    from ..eval.transfer import run_transfer as run

    _check_transfer_args(args)
    apply_compute_arguments(args)
    if args.synthetic is not None:
        fps = args.fps or 200.0
        cases = synthetic_cases(args.synthetic, seed=args.seed, resolution=args.resolution, fps=fps,
                                frames=args.frames)
        total, config = args.synthetic, {"synthetic": args.synthetic, "frames": args.frames, "fps": fps}
    else:
        cases, total = dataset_cases(args.dataset, args.root, args.annotation, args.sources, args.max_clips,
                                     fps=args.fps)
        config = {"dataset": args.dataset, "root": args.root, "annotation": args.annotation,
                  "sources": args.sources, "max_clips": args.max_clips}
    kwargs = {"checkpoint": args.checkpoint} if args.checkpoint else None
    folder, summary = run(cases, args.output, backbone=args.backbone, magnifier=args.magnifier, alpha=args.alpha,
                          resolution=args.resolution, flow=args.flow, seed=args.seed, videos=args.videos,
                          backbone_kwargs=kwargs, config=config, progress=not args.quiet, total=total,
                          command=equivalent_command(args))
    _print_summary(summary, ("peak_ratio", "region_correlation", "leakage", "epe"))
    print(f"report: {folder}")
    return 0


def run_magnify(args: argparse.Namespace) -> int:
    from ..eval.magnify import run_magnify as run
    from ..registry import MAGNIFIERS

    for name in args.magnifier:
        MAGNIFIERS.get(name)
    check_outputs(folders=[args.output])
    apply_compute_arguments(args)
    folder, summary = run(args.magnifier, args.output, quick=args.quick, flow=args.flow, seed=args.seed,
                          progress=not args.quiet, command=equivalent_command(args))
    _print_summary(summary, ("ssim", "rmse", "motion_error", "magnification_error"))
    print(f"report: {folder}")
    return 0


def equivalent_command(args: argparse.Namespace) -> str:
    """``magplus eval <protocol> --option value ...`` rebuilt from the parsed arguments (defaults included)."""
    import shlex

    parts = ["magplus", "eval", args.protocol]
    for key, value in vars(args).items():
        if key in ("handler", "command", "protocol") or value is None or value is False or value == []:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, (list, tuple)):
            parts += [flag, *(shlex.quote(str(v)) for v in value)]
        else:
            parts += [flag, shlex.quote(str(value))]
    return " ".join(parts)


def _print_summary(summary: dict, metrics: tuple[str, ...]) -> None:
    for condition, values in summary.items():
        parts = [f"{m}={values[m]['mean']:.3g}" for m in metrics if m in values and values[m]["n"]]
        print(f"{condition}: " + ", ".join(parts))
