"""``magplus magnify`` and ``magplus demagnify``: scale the motion of a clip.

By default ALL motion of the whole frame is scaled, as FlowMag and the other standalone
magnifiers do (a translating object moves α times as far). ``--face`` is the face-specific mode
of the MagPlus pipeline: only the face region of frame 0 changes, and (Lagrangian) only the
non-rigid part of its motion: head drift is kept as it is.
"""

from __future__ import annotations

import argparse

from ._common import (add_compute_arguments, apply_compute_arguments, check_outputs, device_kwargs,
                      magnification_factor, positive_float)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="clip (video file or folder of frames)")
    p.add_argument("-o", "--output", required=True, help="output video (.mp4, .mkv, .gif, or a folder for PNGs)")
    p.add_argument("--alpha", type=magnification_factor, required=True, help="factor > 0, at most 100 (magnify: > 1)")
    p.add_argument("--magnifier", default=None, help="see `magplus list magnifiers` (default lagrangian)")
    p.add_argument("--face", action="store_true",
                   help="face only: magnify inside the face of frame 0 (needs a detectable face) and, with the "
                        "Lagrangian magnifier, only the non-rigid face motion (head motion kept as it is); "
                        "default: all motion of the whole frame")
    p.add_argument("--fps", type=positive_float, default=None,
                   help="frame rate of a frame folder without fps.txt (default 30)")
    p.add_argument("--lossless", action="store_true", help="lossless output")
    add_compute_arguments(p)


def register(subparsers: argparse._SubParsersAction) -> None:
    mag = subparsers.add_parser("magnify", help="magnify all motion of a clip by alpha (relative to its first frame)",
                                description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_common(mag)
    mag.add_argument("--tta", type=int, default=0, help="learned magnifier: test-time adaptation steps")
    mag.set_defaults(handler=run, inverse=False)
    demag = subparsers.add_parser("demagnify", help="attenuate the motion of a clip by 1/alpha",
                                  description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_common(demag)
    demag.set_defaults(handler=run, inverse=True, tta=0)


def face_mask_of(frame, label: str):
    """Soft face mask ``(H, W)`` of a clip's frame 0 ``(3, H, W)``; a face-less frame names ``--face``."""
    from ..errors import NoFaceError
    from ..face.landmarks import shared_landmarker
    from ..face.regions import region_masks

    landmarks = shared_landmarker().find(frame)
    if landmarks is None:
        raise NoFaceError(f"no face found in frame 0 of {label}, and --face needs one; drop --face to magnify "
                          "the whole frame.", frame_index=0)
    return region_masks(landmarks, size=tuple(frame.shape[-2:]))["face"]


def make_magnifier(name: str | None, face: bool, device="cpu"):
    """The magnifier: Lagrangian by default; it scales all motion unless ``face`` (non-rigid only)."""
    from ..registry import MAGNIFIERS

    name = name or "lagrangian"
    kwargs = device_kwargs("magnifier", name, MAGNIFIERS.get(name), device)
    if name == "lagrangian":
        kwargs["nonrigid_only"] = face
    return name, MAGNIFIERS.create(name, **kwargs)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..context import clip_context
    from ..errors import InputError
    from ..io import VideoReader, write_video
    from ..registry import MAGNIFIERS

    if args.magnifier is not None:
        MAGNIFIERS.get(args.magnifier)  # unknown names fail before anything is read
    if args.tta < 0:
        raise InputError(f"--tta must be >= 0 steps, got {args.tta}.")
    device = apply_compute_arguments(args)
    with VideoReader(args.input, fps=args.fps) as reader:
        check_outputs([args.input], videos=[args.output], fps=reader.fps)
        clip_fps = reader.fps
        frames = reader.read()
    label = f"clip {Path(args.input).name!r}"
    if len(frames) < 2:
        raise InputError(f"{args.input!r} has {len(frames)} frame; magnification needs at least 2.")
    name, magnifier = make_magnifier(args.magnifier, args.face, device)
    alpha = 1.0 / args.alpha if args.inverse else args.alpha
    mask = face_mask_of(frames[0], label) if args.face else None
    if args.tta:
        from ..train.tta import adapt

        magnifier = adapt(magnifier, frames, args.tta)
    with clip_context(label, fps=clip_fps):
        out = magnifier(frames[0], frames, alpha, mask, fps=clip_fps)
    write_video(args.output, out, fps=clip_fps, lossless=args.lossless)
    scope = "the face (non-rigid motion)" if args.face else "all motion"
    print(f"{'de-magnified' if args.inverse else 'magnified'} {scope} of {len(frames)} frames by x{alpha:.3g} "
          f"with {name}; wrote {args.output}")
    return 0
