"""``magplus reenact``: animate a source face with a driving micro-expression clip."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from ._common import (add_compute_arguments, add_driving_arguments, apply_compute_arguments, check_onset_faces,
                      check_outputs, device_kwargs, local_ratio, open_driving, parse_alpha, positive_float,
                      read_source_image, sibling_path, write_json)

#: CLI flags that are passed to the backbone factory when given (flag dest -> keyword).
BACKBONE_FLAGS = {
    "checkpoint": "checkpoint", "kp_checkpoint": "kp_checkpoint", "config": "config",
    "landmarks": "landmarks", "identity": "identity", "connectivity": "connectivity", "repo": "repo",
    "weights": "weights",
    "backbone_python": "python",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("reenact", help="transfer a driving micro-expression onto a source face (MagPlus)",
                              description="Magnify the driving clip, animate the source with a frozen backbone, "
                                          "de-magnify the result.")
    p.add_argument("--source", required=True, help="source face image (png/jpg)")
    p.add_argument("-o", "--output", required=True, help="output video (.mp4, .gif, .mkv, or a folder for PNGs)")
    p.add_argument("--backbone", default="landmark-warp", help="animation backbone (see `magplus list backbones`)")
    p.add_argument("--alpha", type=parse_alpha, default="auto",
                   help="'auto' or a magnification factor in [1, 100] (beyond, the face leaves its crop)")
    p.add_argument("--target-amplitude", type=positive_float, default=8.0,
                   help="automatic alpha: target face motion in px at 256 px (default 8)")
    # Left out when not given, so the pipeline's own default (magnify.alpha.DEFAULT_MAX_LOCAL_RATIO) applies.
    p.add_argument("--max-local-ratio", type=local_ratio, default=argparse.SUPPRESS,
                   help="automatic alpha: lift the face's most moving region (one eyelid, one lip corner) to at most "
                        "this many times the target amplitude (default 2); 'off' lifts the whole-face amplitude alone")
    p.add_argument("--magnifier", default="lagrangian", help="magnifier (see `magplus list magnifiers`)")
    p.add_argument("--demagnifier", default=None,
                   help="image-space de-magnifier (default: the magnifier's pair); naming one selects --demagnify image")
    p.add_argument("--demagnify", choices=("auto", "motion", "image"), default="auto",
                   help="where to de-magnify: 'motion' scales the backbone's motion of the magnified clip by 1/alpha "
                        "and renders once; 'image' de-magnifies the generated frames; 'auto' (default): motion "
                        "space when the backbone exposes its motion and no --demagnifier is named")
    p.add_argument("--no-stabilise", action="store_true",
                   help="magnify and de-magnify the head motion with the expression (default: the head's translation "
                        "is taken out before magnifying and put back, unscaled, after de-magnifying)")
    p.add_argument("--no-magplus", action="store_true", help="direct transfer (baseline, no magnification)")
    p.add_argument("--side-by-side", action="store_true",
                   help="also write OUTPUT_side_by_side: driving | magnified | direct | MagPlus")
    p.add_argument("--absolute", action="store_true", help="absolute instead of relative motion")
    p.add_argument("--resolution", type=int, default=None, help="face crop size (default: the backbone's, 256 or 512)")
    p.add_argument("--paste-back", action="store_true", help="paste the result back into the full source image")
    p.add_argument("--lossless", action="store_true", help="lossless output (FFV1 .mkv or H.264 qp 0)")
    p.add_argument("--report", default=None, help="write a JSON summary (alpha, motion peaks, timings) here")
    add_driving_arguments(p)
    add_compute_arguments(p)
    g = p.add_argument_group("backbone inputs (only what the chosen backbone needs)")
    g.add_argument("--checkpoint", help="official checkpoint (fomm: vox-cpk.pth.tar, fsrt: vox256.pt, "
                                       "metaportrait: ckpt_base.pth.tar)")
    g.add_argument("--kp-checkpoint", help="fsrt: kp_detector.pt")
    g.add_argument("--config", help="official YAML config (optional)")
    g.add_argument("--landmarks", help="metaportrait: folder of official dense landmarks")
    g.add_argument("--identity", help="metaportrait: identity embedding file")
    g.add_argument("--connectivity", help="metaportrait: dense_669_connectivity.tsv from your official checkout")
    g.add_argument("--repo", help="emoportraits / metaportrait: path of the official repository")
    g.add_argument("--weights", help="emoportraits: path of the official weights; liveportrait: folder of the "
                                    "official .pth files (or the converted liveportrait.safetensors)")
    g.add_argument("--backbone-python", help="emoportraits: python of the official environment")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..context import clip_context
    from ..io import side_by_side, write_video
    from ..io.grid import pipeline_comparison
    from ..pipeline import MagPipeline
    from ..pipeline_stream import VideoSink

    from ..registry import BACKBONES, MAGNIFIERS

    started = time.perf_counter()
    backbone_factory = BACKBONES.get(args.backbone)  # unknown names fail before anything is read
    device = apply_compute_arguments(args)
    for name in (args.magnifier, args.demagnifier):
        if name is not None:
            MAGNIFIERS.get(name)
    driving_input = open_driving(args)
    inputs = [args.source, *driving_input.paths]
    extra = [sibling_path(args.output, "_side_by_side")] if args.side_by_side else []
    check_outputs(inputs, videos=[args.output, *extra], files=[(args.report, (".json",))], fps=driving_input.fps)
    if args.alpha != "auto" and args.alpha < 1:
        from ..errors import InputError

        raise InputError(f"--alpha must be 'auto' or >= 1 (the result is de-magnified by 1/alpha), got {args.alpha}.")
    backbone_kwargs = {kw: getattr(args, dest) for dest, kw in BACKBONE_FLAGS.items() if getattr(args, dest)}
    backbone_kwargs.update(device_kwargs("backbone", args.backbone, backbone_factory, device))
    source = read_source_image(args.source)
    clip = driving_input.open()  # lazy: frames are read chunk by chunk
    if len(clip) < 2:
        from ..errors import InputError

        raise InputError(f"{driving_input.label} has {len(clip)} frame; reenactment needs at least 2.")
    check_onset_faces(driving_input.label, clip.first(), source, args.source)
    pipeline = MagPipeline(backbone=args.backbone, magnifier=args.magnifier, demagnifier=args.demagnifier,
                           demagnify=args.demagnify, stabilise=not args.no_stabilise,
                           alpha=args.alpha, target_amplitude=args.target_amplitude,
                           **({"max_local_ratio": args.max_local_ratio} if "max_local_ratio" in vars(args) else {}),
                           resolution=args.resolution,
                           magnify=not args.no_magplus, compute_direct=args.side_by_side, relative=False if args.absolute else None,
                           paste_back=args.paste_back, backbone_kwargs=backbone_kwargs)
    refusal = pipeline.streaming_refusal()
    with clip_context(driving_input.label, fps=driving_input.fps):
        if refusal is None:  # memory flat in clip length: read, process and write chunk by chunk
            with VideoSink(args.output, driving_input.fps, args.lossless, extra[0] if extra else None) as sink:
                out = pipeline.stream(source, clip, sink, fps=driving_input.fps)
        else:
            print(f"magplus: note: {refusal}; {driving_input.label} is read and processed whole, so memory grows "
                  "with its length.", file=sys.stderr)
            out = pipeline(source, driving_input.load(), fps=driving_input.fps)
            write_video(args.output, out.pasted if out.pasted is not None else out.result, fps=out.fps,
                        lossless=args.lossless)
            if args.side_by_side:
                write_video(extra[0], side_by_side(*pipeline_comparison(out)), fps=out.fps, lossless=args.lossless)
    summary = {
        "backbone": args.backbone, "magnifier": None if args.no_magplus else args.magnifier, "alpha": out.alpha,
        "demagnify_path": out.demagnify_path,
        "demagnifier": pipeline.demagnifier.name if out.demagnify_path == "image" else None,
        "motion_gain": None if out.motion_gain is None else vars(out.motion_gain),
        "stabilised": out.head_shift is not None,
        "head_shift_peak_px": None if out.head_shift is None else float(np.linalg.norm(out.head_shift, axis=1).max()),
        "driving_peak_px": None if out.amplitude is None else out.amplitude.peak,
        "driving_local_peak_px": None if out.amplitude is None else out.amplitude.local_peak,
        "frames": out.frames, "streamed": refusal is None, "fps": out.fps, "timings_s": out.timings,
        "total_s": time.perf_counter() - started, "outputs": [str(args.output)] + [str(e) for e in extra],
    }
    if args.report:
        write_json(args.report, summary)
    peak = "" if out.amplitude is None else (f", driving peak motion {out.amplitude.peak:.2f} px "
                                             f"(local {out.amplitude.local_peak:.2f} px)")
    path = "" if out.demagnify_path == "none" else f", de-magnified in {out.demagnify_path} space"
    print(f"alpha {out.alpha:.2f}{peak}{path}; wrote {', '.join(summary['outputs'])} in {summary['total_s']:.1f} s")
    return 0
