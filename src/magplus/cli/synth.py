"""``magplus synth``: render a synthetic micro-expression with exact ground truth.

Writes the clip (``-o clip.mp4``), its metadata ``clip.json`` (program, timings, fps, seed, peak
displacement) and, with ``--save-flow``, the ground-truth flow ``clip_flow.npy`` (float16,
``(T, 2, H, W)``, pixels, from frame 0 to frame t).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth", help="render a synthetic micro-expression (AU program) with its exact ground-truth flow"
    )
    parser.add_argument("-o", "--output", required=True, help="output video (.mp4, .mkv, .gif or a folder)")
    parser.add_argument("--face", default=None, help="face image (default: the public-domain astronaut)")
    parser.add_argument("--no-crop", action="store_true", help="use the face image as it is (no square face crop to 256²)")
    parser.add_argument("--aus", default="random", help="action units, e.g. '4,12', or 'random' (default)")
    parser.add_argument("--amplitude", type=float, default=None, help="peak displacement in pixels at 256² (default: drawn, 0.3-3)")
    parser.add_argument("--side", choices=["L", "R", "both", "random"], default=None,
                        help="subject's side (default: 'both' with --aus, 'random' otherwise)")
    parser.add_argument("--fps", type=float, default=200.0, help="frame rate (default 200)")
    parser.add_argument("--duration-ms", type=float, default=None,
                        help="onset-to-offset duration in ms (split evenly into rise and decay; default: drawn)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling and the noise (default 0)")
    parser.add_argument("--alpha", type=float, default=1.0, help="magnify the rendered motion by this factor (default 1)")
    parser.add_argument("--noise", type=float, default=None, help="sensor noise sigma in [0, 1] units (default: drawn)")
    parser.add_argument("--blink", choices=["random", "yes", "no"], default="random", help="distractor blink")
    parser.add_argument("--save-flow", action="store_true", help="also write <output>_flow.npy (float16)")
    parser.add_argument("--lossless", action="store_true", help="exact codec (FFV1/H.264 RGB) instead of H.264 crf")
    parser.set_defaults(handler=run)


def _parse_aus(text: str) -> list[int] | None:
    from ..errors import InputError
    from ..synth.program import check_au

    if text.strip().lower() == "random":
        return None
    parts = [p for p in text.replace("+", ",").split(",") if p.strip()]
    if not parts:
        raise InputError(f"--aus must list action units like '4,12' or be 'random', got {text!r}.")
    return [check_au(p.strip()) for p in parts]


def _check_args(args: argparse.Namespace) -> None:
    from ..errors import InputError
    from ..types import check_alpha

    if not (math.isfinite(args.fps) and args.fps > 0):
        raise InputError(f"--fps must be a number > 0, got {args.fps}.")
    if args.amplitude is not None and not (math.isfinite(args.amplitude) and args.amplitude > 0):
        raise InputError(f"--amplitude must be > 0 pixels, got {args.amplitude}.")
    if args.duration_ms is not None and not (math.isfinite(args.duration_ms) and args.duration_ms > 2000.0 / args.fps):
        raise InputError(f"--duration-ms must be longer than two frames ({2000.0 / args.fps:.3g} ms), got {args.duration_ms}.")
    if args.noise is not None and not (math.isfinite(args.noise) and 0 <= args.noise <= 1):
        raise InputError(f"--noise must lie in [0, 1], got {args.noise}.")
    check_alpha(args.alpha, "--alpha")


def _load_face(args: argparse.Namespace):
    from ..errors import VideoReadError
    from ..io.images import read_image
    from ..synth import crop_face, default_face

    if args.face is None:
        return default_face()
    if not Path(args.face).is_file():
        raise VideoReadError(f"--face {args.face!r} does not exist or is not a file; give a face image (PNG/JPEG).")
    image = read_image(args.face)
    return image if args.no_crop else crop_face(image)


def _metadata(clip: Any, args: argparse.Namespace, flow_path: Path | None) -> dict[str, Any]:
    program = clip.program
    timings = [
        {"au": e.au, "side": e.side, "label": e.label, "amplitude_px": e.amplitude_px,
         "onset_s": e.onset_s, "apex_s": e.apex_s, "offset_s": e.offset_s,
         "onset_frame": round(e.onset_s * program.fps), "apex_frame": round(e.apex_s * program.fps),
         "offset_frame": round(e.offset_s * program.fps),
         "role": "distractor" if e is program.blink else "expression"}
        for e in program.all_events()
    ]
    return {
        "program": program.to_dict(),
        "description": program.describe(),
        "fps": program.fps,
        "n_frames": len(clip),
        "size": list(clip.frames.shape[-2:]),
        "seed": program.seed,
        "alpha": clip.alpha,
        "face": args.face or "default (scikit-image astronaut)",
        "timings": timings,
        "peak_px": float(clip.peak_px.max()),
        "apex_index": clip.apex_index,
        "peak_curve_px": [round(float(v), 5) for v in clip.peak_px],
        "flow_file": flow_path.name if flow_path else None,
        "flow_convention": "flow[t](p): pixel p of frame 0 is at p + flow[t](p) in frame t; (T, 2, H, W), x then y",
        "meta": clip.meta,
    }


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..io.atomic import atomic_output
    from ._common import check_outputs
    from ..io.video_writer import write_video
    from ..synth import render_program, sample_program

    _check_args(args)
    aus = _parse_aus(args.aus)
    out = Path(args.output).expanduser().absolute()
    json_path = out.with_suffix(".json") if out.suffix else out.with_name(out.name + ".json")
    flow_path = out.with_name(out.stem + "_flow.npy") if args.save_flow else None
    check_outputs([args.face], videos=[out], files=[(json_path, (".json",)), (flow_path, (".npy",))], fps=args.fps)
    side = args.side or ("both" if aus is not None else "random")
    half = None if args.duration_ms is None else args.duration_ms / 2.0
    program = sample_program(
        args.seed, fps=args.fps, aus=aus, side=None if side == "both" else side, amplitude_px=args.amplitude,
        onset_apex_ms=half, apex_offset_ms=half, noise_sigma=args.noise,
        blink={"random": None, "yes": True, "no": False}[args.blink],
    )
    clip = render_program(program, face=_load_face(args), alpha=args.alpha)
    write_video(out, clip.frames, fps=clip.fps, lossless=args.lossless, crf=10)
    if flow_path is not None:
        with atomic_output(flow_path) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, clip.flow.numpy().astype(np.float16))
    with atomic_output(json_path) as tmp:
        tmp.write_text(json.dumps(_metadata(clip, args, flow_path), indent=2, default=float) + "\n")
    print(f"wrote {out} ({program.describe()}, peak {clip.peak_px.max():.2f} px, alpha {clip.alpha:g}) and {json_path.name}")
    return 0
