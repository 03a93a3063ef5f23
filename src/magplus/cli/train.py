"""``magplus train magplus|demagplus --config FILE``: train the learned (de-)magnifier.

Resumes from ``<out>/last.pt`` unless ``--restart``; works under
``torchrun --nproc_per_node N -m magplus train ...`` (DDP over gloo on CPU, nccl on CUDA).

Fine-tune DeMagPlus on your own backbone's output (official weights), starting from the shipped
weights, e.g.::

    magplus train demagplus --backbone fomm --checkpoint vox-cpk.pth.tar --out runs/demag_fomm [--device cuda]

then use ``runs/demag_fomm/demagplus.safetensors`` as the pipeline's de-magnifier.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train MagPlus (magnifier) or DeMagPlus (de-magnifier)")
    parser.add_argument("kind", choices=["magplus", "demagplus"], help="which network")
    parser.add_argument("--config", help="YAML/JSON config (fields of magplus.train.config.TrainConfig); "
                        "default: the shipped weights' config")
    parser.add_argument("--out", help="output folder (checkpoints, log.jsonl, .safetensors)")
    parser.add_argument("--steps", type=int, help="optimiser steps in total")
    parser.add_argument("--batch", type=int, help="samples per step and process")
    parser.add_argument("--size", type=int, help="crop side in pixels (multiple of 8)")
    parser.add_argument("--lr", type=float, help="peak learning rate")
    parser.add_argument("--seed", type=int, help="seed of the data and the initial weights")
    parser.add_argument("--images", help="folder of extra source images (synthetic warps, exact ground truth)")
    parser.add_argument("--videos", help="folder of videos (consecutive-frame pairs, self-supervised losses)")
    parser.add_argument("--time-limit", type=float, dest="time_limit", help="stop after this many seconds")
    parser.add_argument("--threads", type=int, help="torch CPU threads per process")
    parser.add_argument("--amp-max", type=float, dest="amp_max", help="largest drawn displacement in pixels")
    parser.add_argument("--alpha-max", type=float, dest="alpha_max", help="train α up to this (1/this for demagplus)")
    parser.add_argument("--faces", help="comma-separated bundled faces for AU-program data (e.g. astronaut,grace_hopper)")
    parser.add_argument("--face-clips", type=int, dest="face_clips", help="scenes in the face bank")
    parser.add_argument("--backbone", help="demagplus: make the face pairs with this backbone's output (e.g. fomm); "
                        "implies --init shipped and the training faces unless given")
    parser.add_argument("--checkpoint", help="the backbone's official weights file")
    parser.add_argument("--init", help="start from weights: 'shipped' or a .safetensors / last.pt path")
    parser.add_argument("--device", help="cpu or cuda[:N]")
    for term in ("supervised", "field", "flow", "colour"):
        parser.add_argument(f"--w-{term}", type=float, dest=f"loss.{term}", help=f"weight of the {term} loss term")
    parser.add_argument("--restart", action="store_true", help="ignore an existing checkpoint in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from importlib import resources

    from ..errors import InputError
    from ..train.config import TrainConfig
    from ..train.loop import train

    config_path = args.config
    if config_path is None:
        config_path = str(resources.files("magplus.train") / "configs" / f"{args.kind}.yaml")
    overrides = {key: getattr(args, key) for key in ("out", "steps", "batch", "size", "lr", "seed", "images", "videos",
                                                     "time_limit", "threads", "amp_max", "alpha_max", "faces",
                                                     "face_clips", "backbone", "checkpoint", "init", "device")}
    if args.backbone:
        from ..train.face_data import TRAIN_FACES

        # A fine-tune on a user's backbone: from the shipped weights, on the training faces, unless told otherwise.
        base = TrainConfig.from_file(config_path)
        overrides["faces"] = args.faces or base.faces or list(TRAIN_FACES)
        overrides["init"] = args.init or base.init or "shipped"
        overrides["out"] = args.out or f"runs/demagplus_{args.backbone}"
    overrides.update({key: value for key, value in vars(args).items() if key.startswith("loss.")})
    config = TrainConfig.from_file(config_path, **overrides)
    if config.kind != args.kind:
        raise InputError(f"the config trains {config.kind!r} but the command asked for {args.kind!r}; fix one of them.")
    from ._common import check_outputs

    check_outputs([config_path, config.images, config.videos], folders=[config.out], parents=True)
    train(config, resume=not args.restart, progress=not args.no_progress)
    return 0
