"""``magplus magnify`` and ``magplus demagnify``: scale the motion of a clip."""

from __future__ import annotations

import argparse

from ._common import positive_float


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="clip (video file or folder of frames)")
    p.add_argument("-o", "--output", required=True, help="output video")
    p.add_argument("--alpha", type=positive_float, required=True, help="factor > 0")
    p.add_argument("--magnifier", default=None, help="see `magplus list magnifiers`")
    p.add_argument("--mask", choices=["face", "none"], default="face",
                   help="limit to the face region (needs a detectable face) or the whole frame")
    p.add_argument("--fps", type=positive_float, default=None, help="frame rate of a frame folder")
    p.add_argument("--lossless", action="store_true", help="lossless output")


def register(subparsers: argparse._SubParsersAction) -> None:
    mag = subparsers.add_parser("magnify", help="magnify the motion of a clip by alpha (relative to its first frame)")
    _add_common(mag)
    mag.add_argument("--tta", type=int, default=0, help="learned magnifier: test-time adaptation steps")
    mag.set_defaults(handler=run, inverse=False)
    demag = subparsers.add_parser("demagnify", help="attenuate the motion of a clip by 1/alpha")
    _add_common(demag)
    demag.set_defaults(handler=run, inverse=True, tta=0)


def face_mask_of(frame):
    """Soft face mask ``(H, W)`` of a frame ``(3, H, W)``."""
    from ..face.landmarks import detect_landmarks
    from ..face.regions import region_masks

    return region_masks(detect_landmarks(frame), size=tuple(frame.shape[-2:]))["face"]


def run(args: argparse.Namespace) -> int:
    from ..io import read_video, write_video
    from ..io.atomic import check_output_path
    from ..registry import create_magnifier

    check_output_path(args.output, [args.input])
    clip = read_video(args.input, fps=args.fps)
    if len(clip) < 2:
        from ..errors import InputError

        raise InputError(f"{args.input!r} has {len(clip)} frame; magnification needs at least 2.")
    name = args.magnifier or "lagrangian"
    magnifier = create_magnifier(name)
    alpha = 1.0 / args.alpha if args.inverse else args.alpha
    mask = face_mask_of(clip.frames[0]) if args.mask == "face" else None
    if args.tta:
        from ..train.tta import adapt

        magnifier = adapt(magnifier, clip.frames, args.tta)
    out = magnifier(clip.frames[0], clip.frames, alpha, mask)
    write_video(args.output, out, fps=clip.fps, lossless=args.lossless)
    print(f"{'de-magnified' if args.inverse else 'magnified'} {len(clip)} frames by x{alpha:.3g} with {name}; "
          f"wrote {args.output}")
    return 0
