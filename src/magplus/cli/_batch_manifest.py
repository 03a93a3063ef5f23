"""``magplus batch make-manifest megc|cross|synthetic``: write the manifests of common batches."""

from __future__ import annotations

import argparse
import os

from ._common import parse_alpha, positive_float


def _add_settings(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("settings (each combination becomes a set of jobs)")
    g.add_argument("--backbone", nargs="+", default=["landmark-warp"], help="backbone(s) (default landmark-warp)")
    g.add_argument("--magnifier", nargs="+", default=["lagrangian"],
                   help="magnifier(s); 'none' = direct transfer (default lagrangian)")
    g.add_argument("--alpha", nargs="+", type=parse_alpha, default=["auto"], help="alpha value(s): auto or >= 1")
    g.add_argument("--resolution", type=int, help="face crop size (default 256)")
    g.add_argument("--metrics", choices=["auto", "yes", "no"],
                   help="score jobs: auto = those with ground truth (default), yes = all, no = none")
    g.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    g.add_argument("--backbone-input", nargs="+", default=[], metavar="KEY=PATH",
                   help="backbone inputs, e.g. checkpoint=vox-cpk.pth.tar kp_checkpoint=kp.pt")
    g.add_argument("--ext", default=".mp4", help="output video extension (default .mp4)")
    p.add_argument("-o", "--output", required=True, help="manifest to write (.csv, .yaml)")


def register_make_manifest(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("make-manifest", help="write a manifest: MEGC protocol, dataset x faces, synthetic")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    p = kinds.add_parser("megc", help="MEGC 2021/2022: the 9 driving clips x the year's template faces")
    p.add_argument("--year", type=int, choices=[2021, 2022], default=2022, help="protocol year (default 2022)")
    p.add_argument("--casme2", metavar="ROOT", help="CASME II folder")
    p.add_argument("--casme2-annotation", metavar="XLSX", help="CASME II coding sheet")
    p.add_argument("--samm", metavar="ROOT", help="SAMM folder")
    p.add_argument("--samm-annotation", metavar="XLSX", help="SAMM FACS codes sheet")
    p.add_argument("--smic", metavar="ROOT", help="SMIC folder (HS, or its parent)")
    p.add_argument("--smic-annotation", help="optional SMIC onset/offset table")
    p.add_argument("--templates", metavar="DIR", help="folder of template faces named after the slots "
                                                     "(2022: Female_Asian.png, Male_Europe.jpg, ...)")
    p.add_argument("--template", nargs="+", default=[], metavar="SLOT=IMAGE", help="template faces one by one")
    p.add_argument("--allow-partial", action="store_true", help="allow missing templates or datasets")
    _add_settings(p)
    p.set_defaults(handler=make_megc)
    p = kinds.add_parser("cross", help="every sample of a dataset x every source face")
    p.add_argument("--dataset", required=True, choices=["casme2", "samm", "smic", "casme3", "mmew", "generic"])
    p.add_argument("--root", required=True, help="dataset folder")
    p.add_argument("--annotation", help="dataset annotation file (xlsx/csv)")
    p.add_argument("--sources", nargs="+", required=True, metavar="IMG", help="source face images")
    p.add_argument("--max-clips", type=int, metavar="K", help="only the first K samples")
    p.add_argument("--fps", type=positive_float, help="frame rate of generic clips (default 30)")
    _add_settings(p)
    p.set_defaults(handler=make_cross)
    p = kinds.add_parser("synthetic", help="synthetic micro-expressions with ground truth (a sweep of seeds)")
    p.add_argument("--count", type=int, required=True, help="number of clips")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--frames", type=int, help="frames per clip (default: the program's own length)")
    p.add_argument("--fps", type=positive_float, help="frame rate (default 200)")
    p.add_argument("--aus", help="fix the action units, e.g. 4+12")
    p.add_argument("--amplitude-px", type=positive_float, help="fix the peak displacement (px at 256)")
    _add_settings(p)
    p.set_defaults(handler=make_synthetic)


def _common(args: argparse.Namespace) -> tuple[list, dict]:
    from ..batch.generators import settings_grid
    from ..batch.manifest import BACKBONE_INPUTS
    from ..errors import InputError

    extra = {k: getattr(args, k) for k in ("resolution", "metrics", "device") if getattr(args, k) is not None}
    for item in args.backbone_input:
        key, _, value = item.partition("=")
        if key not in BACKBONE_INPUTS or not value:
            raise InputError(f"--backbone-input takes KEY=PATH with KEY one of {', '.join(BACKBONE_INPUTS)}, got {item!r}.")
        extra[key] = os.path.abspath(value)
    return settings_grid(args.backbone, args.magnifier, args.alpha), extra


def _write(args: argparse.Namespace, rows: list, inputs: list) -> int:
    from ..batch.manifest import write_manifest

    path = write_manifest(args.output, rows, [p for p in inputs if p])
    print(f"wrote {len(rows)} job(s) to {path}")
    return 0


def make_megc(args: argparse.Namespace) -> int:
    from ..batch.generators import megc_rows, templates_from_folder
    from ..errors import InputError

    settings, extra = _common(args)
    templates = templates_from_folder(args.templates, args.year) if args.templates else {}
    for item in args.template:
        slot, _, path = item.partition("=")
        if not path:
            raise InputError(f"--template takes SLOT=IMAGE, got {item!r}.")
        templates[slot] = path
    datasets = {name: (root, annotation) for name, root, annotation in (
        ("CASME2", args.casme2, args.casme2_annotation), ("SAMM", args.samm, args.samm_annotation),
        ("SMIC", args.smic, args.smic_annotation)) if root}
    rows = megc_rows(args.year, datasets, templates, settings, args.ext, args.allow_partial, extra)
    inputs = [p for root, annotation in datasets.values() for p in (root, annotation)] + list(templates.values())
    return _write(args, rows, inputs)


def make_cross(args: argparse.Namespace) -> int:
    from ..batch.generators import cross_rows

    settings, extra = _common(args)
    rows = cross_rows(args.dataset, args.root, args.annotation, args.sources, settings, args.max_clips, args.ext,
                      args.fps, extra)
    return _write(args, rows, [args.root, args.annotation, *args.sources])


def make_synthetic(args: argparse.Namespace) -> int:
    from ..batch.generators import synthetic_rows

    settings, extra = _common(args)
    rows = synthetic_rows(args.count, settings, args.seed, args.frames, args.fps, args.aus, args.amplitude_px,
                          args.ext, extra)
    return _write(args, rows, [])
