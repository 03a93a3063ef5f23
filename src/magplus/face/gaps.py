"""Face-less frames in a clip: bridge short gaps in landmark tracks, refuse long ones.

Real micro-expression clips have the odd frame where the detector finds no face (a blink with a
head turn, a hand crossing the face, a dropped frame). One such frame must not abort a run, but
landmarks invented over a long stretch would invent (or erase) the expression itself. The rule,
used by every stage that detects landmarks on a clip (:func:`~magplus.face.landmarks.detect_landmarks_batch`,
:func:`~magplus.face.landmarks.track_landmarks`, hence landmark-warp, MetaPortrait, FSRT's
reference search and the evaluation):

- frame 0 is the onset / reference frame: without a face there the clip is refused;
- a run of face-less frames of at most :func:`max_gap_frames` frames (:data:`MAX_GAP_SECONDS`,
  at least one frame) is bridged: landmarks are interpolated linearly between the good frames on
  either side, or held from the last good frame when the run reaches the clip's end; a
  :class:`~magplus.errors.FaceGapWarning` lists the frames;
- a longer run, or more than :data:`MAX_MISSING_FRACTION` of the clip face-less, is refused with a
  :class:`~magplus.errors.NoFaceError` naming the clip and the frames.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..context import clip_fps, clip_label
from ..errors import FaceGapWarning, NoFaceError

#: Longest face-less run that is bridged, in seconds. 150 ms is the median onset→apex time of
#: micro-expressions (DOMAIN.md §1); a longer gap could hide a whole rise, so it is refused.
MAX_GAP_SECONDS = 0.15
#: Largest share of face-less frames bridged in one clip (many short gaps add up to guesswork).
MAX_MISSING_FRACTION = 0.5


def max_gap_frames(fps: float | None = None, max_gap_seconds: float = MAX_GAP_SECONDS) -> int:
    """Frames in the longest bridged gap at ``fps`` (default: the clip context's, else 30): at least 1.

    30 fps -> 4 frames, 100 fps -> 15, 200 fps -> 30.
    """
    rate, _ = clip_fps(fps)
    return max(1, int(math.floor(max_gap_seconds * rate + 1e-9)))


def missing_runs(found: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` (inclusive) of each run of False in ``found`` ``(T,)``."""
    runs, start = [], None
    for index, ok in enumerate(np.asarray(found, dtype=bool)):
        if not ok and start is None:
            start = index
        elif ok and start is not None:
            runs.append((start, index - 1))
            start = None
    if start is not None:
        runs.append((start, len(found) - 1))
    return runs


def format_runs(runs: list[tuple[int, int]], limit: int = 8) -> str:
    """``"frames 3-6, 9"`` (the first ``limit`` runs, then a count)."""
    parts = [f"{a}" if a == b else f"{a}-{b}" for a, b in runs[:limit]]
    if len(runs) > limit:
        parts.append(f"and {len(runs) - limit} more gap(s)")
    single = len(runs) == 1 and runs[0][0] == runs[0][1]
    return ("frame " if single else "frames ") + ", ".join(parts)


def bridge_gaps(points: np.ndarray, found: np.ndarray, what: str | None = None, fps: float | None = None,
                max_gap_seconds: float = MAX_GAP_SECONDS) -> np.ndarray:
    """Fill the landmarks of face-less frames, or refuse the clip (see the module docstring).

    Args:
        points: ``(T, N, 2)`` landmarks; rows where ``found`` is False are ignored and overwritten.
        found: ``(T,)`` bool, True where a face was detected.
        what: how messages name the clip (default: the :func:`~magplus.context.clip_context` label).
        fps: frame rate for the gap limit (default: the context's, else 30 fps).
        max_gap_seconds: longest bridged run in seconds.

    Returns:
        ``(T, N, 2)`` float32 with every row filled (``points`` itself when nothing was missing).

    Raises:
        NoFaceError: frame 0 has no face, a run is too long, or too much of the clip is face-less;
            ``frames`` lists every face-less frame.
    """
    found = np.asarray(found, dtype=bool)
    if found.all():
        return points
    label = clip_label(what)
    missing = [int(i) for i in np.flatnonzero(~found)]
    runs = missing_runs(found)
    total = len(found)
    if not found[0]:
        raise NoFaceError(
            f"no face found in frame 0 (the onset/reference frame) of {label} "
            f"({format_runs(runs)} of {total} have none); start the clip on a frame with a visible, roughly frontal face.",
            frame_index=0, frames=missing,
        )
    rate, known = clip_fps(fps)
    limit = max_gap_frames(rate, max_gap_seconds)
    longest = max(b - a + 1 for a, b in runs)
    if longest > limit or len(missing) > MAX_MISSING_FRACTION * total:
        rule = (f"gaps longer than {limit} frame(s) ({max_gap_seconds * 1000:.0f} ms at {rate:g} fps"
                f"{'' if known else ', assumed'})" if longest > limit
                else f"more than {MAX_MISSING_FRACTION:.0%} of a clip")
        raise NoFaceError(
            f"no face found in {format_runs(runs)} of {label} ({len(missing)} of {total} frames); {rule} are not "
            "bridged: trim the clip to the part that shows the face.",
            frame_index=missing[0], frames=missing,
        )
    filled = np.array(points, dtype=np.float32, copy=True)
    for first, last in runs:
        before = filled[first - 1]
        if last + 1 >= total:  # the clip ends face-less: hold the last good frame
            filled[first:] = before
            continue
        after = filled[last + 1]
        weights = (np.arange(first, last + 1) - (first - 1)) / float(last + 2 - first)
        filled[first:last + 1] = before[None] + weights[:, None, None] * (after - before)[None]
    warnings.warn(
        f"no face found in {format_runs(runs)} of {label} ({len(missing)} of {total}); their landmarks were "
        "interpolated from the neighbouring frames (held at the clip's end).",
        FaceGapWarning, stacklevel=3,
    )
    return filled
