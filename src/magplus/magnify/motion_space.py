"""De-magnification in a backbone's motion space.

For a backbone whose motion is explicit (``AnimationBackbone.motion_scalable``), MagPlus does not
need a second, image-space warp on the way out: the motion extracted from the *magnified* driving
clip is scaled back by 1/α and rendered once. The backbone's motion extractor then sees motion well
above its noise floor (the reason MagPlus magnifies), and its noise shrinks by α on the way back.

Extractors are not linear in the motion they see: MediaPipe's mesh, for example, responds
sub-linearly to magnified motion (landmark gain 20–27 at α = 35.5). Dividing by the nominal α then
under-transfers. :func:`motion_gain` measures the clip's own gain by regressing the direct pass's
motion on the magnified pass's motion divided by α; the regressor carries only 1/α of the
extractor's noise, so the least-squares slope is nearly unbiased even when the direct motion is
noisy.

The gain is one number per clip, so the direct pass that measures it needs only a sample of the
frames: :func:`gain_stride` takes every k-th frame, at least :data:`GAIN_SAMPLE_HZ` per second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backbones.motion import Motion, scale_motion
from ..errors import InputError

#: Bounds of the measured gain. Outside them the fit says more about noise than about the
#: extractor (a still clip has no motion to fit), and the nominal response is closer to the truth.
GAIN_BOUNDS = (0.5, 2.0)
#: Frames per second of the clip the gain is fitted on at least: a 150-ms micro-expression still
#: gives it 4 samples, and a 200-fps clip pays for an eighth of a direct extraction, not a whole one.
GAIN_SAMPLE_HZ = 25.0


def gain_stride(fps: float) -> int:
    """Every how many frames the gain's direct pass looks at a clip of ``fps`` (1 up to 50 fps)."""
    return max(1, int(float(fps) // GAIN_SAMPLE_HZ))


@dataclass
class MotionDemagnification:
    """How a motion-space de-magnification was done.

    Attributes:
        alpha: magnification of the driving clip.
        gain: measured ratio of direct to (magnified / α) motion, clipped to :data:`GAIN_BOUNDS`
            (1.0 when not calibrated).
        raw_gain: the fitted value before clipping (nan when there was no motion to fit).
        scale: the factor applied to the magnified motion's change, ``gain / alpha``.
        gain_frames: how many frames the gain was fitted on (every ``gain_stride``-th; 0 when not
            calibrated).
        gain_stride: the spacing of those frames.
    """

    alpha: float
    gain: float
    raw_gain: float
    scale: float
    gain_frames: int = 0
    gain_stride: int = 1


def motion_gain(direct: Motion, magnified: Motion, alpha: float, stride: int = 1) -> float:
    """Least-squares slope of ``direct`` on ``magnified / α`` over frames 1.., each coordinate's mean taken out; nan if no motion.

    ``direct`` may hold every ``stride``-th frame of the clip only (frames 0, stride, 2·stride, ...).
    """
    magnified = magnified.select(slice(0, None, stride)) if stride > 1 else magnified
    if len(direct) != len(magnified):
        raise InputError(f"the direct motion has {len(direct)} frames, but one frame in {stride} of the magnified "
                         f"motion is {len(magnified)}; extract both from the same clip.")
    # Both passes see the same onset image (its flow to itself is zero), so the extractor's error
    # on frame 0 is a constant in every later frame of both, and its product would bias the slope
    # upward (by more when frame 0 is not smoothed with its neighbours, as in a sampled pass).
    # Frame 0 itself carries no motion; without it, each coordinate's mean removes the constant.
    d = direct.relative_to(direct.reference(0)).coordinates()[1:]
    m = magnified.relative_to(magnified.reference(0)).coordinates()[1:] / float(alpha)
    d = (d - d.mean(axis=0)).ravel() if len(d) else d.ravel()
    m = (m - m.mean(axis=0)).ravel() if len(m) else m.ravel()
    energy = float(m @ m)
    return float(d @ m / energy) if energy > 1e-12 else float("nan")


def demagnify_motion(magnified: Motion, alpha: float, direct: Motion | None = None,
                     stride: int = 1, head_shift: np.ndarray | None = None,
                     size: int | None = None) -> tuple[Motion, MotionDemagnification]:
    """Scale the change of ``magnified`` from its frame 0 by ``gain / alpha`` (and put the head motion back).

    Args:
        magnified: motion extracted from the magnified driving clip (absolute, ``T`` frames).
        alpha: the magnification used (> 0).
        direct: motion extracted from the unmagnified driving clip; when given (and α ≠ 1), the
            backbone's gain on this clip is measured (:func:`motion_gain`) and corrected for. At
            α = 1 nothing was magnified, the gain is 1 by definition, and the result is the direct
            motion itself.
        stride: ``direct`` holds every ``stride``-th frame only (see :func:`gain_stride`).
        head_shift: ``(T, 2)`` pixels: the head translation taken out of the magnified clip
            (a stabilised run, :meth:`~magplus.magnify.base.Magnifier.stabilised`); it is taken out
            of ``direct`` before the gain is fitted and added, unscaled, to the result. None: the
            magnified clip carries all of the motion.
        size: side of the (square) frames ``head_shift`` is measured on, pixels (needed with it).

    Returns:
        ``(motion, info)``: absolute motion to render, and what was done.
    """
    if head_shift is not None:
        head_shift = np.asarray(head_shift, dtype=np.float64)
        if head_shift.shape != (len(magnified), 2) or size is None:
            raise InputError(f"head_shift must be ({len(magnified)}, 2) pixel translations with the frame size, got "
                             f"shape {head_shift.shape} and size {size}.")
    calibrate = direct is not None and float(alpha) != 1.0
    if calibrate and head_shift is not None:  # compare like with like: the head held still in both
        direct = direct.translated(-head_shift[::stride], size)
    raw = motion_gain(direct, magnified, alpha, stride) if calibrate else float("nan")
    gain = float(np.clip(raw, *GAIN_BOUNDS)) if np.isfinite(raw) else 1.0
    scale = gain / float(alpha)
    fitted = (len(direct), int(stride)) if calibrate else (0, 1)
    result = scale_motion(magnified, scale)
    if head_shift is not None:
        result = result.translated(head_shift, size)
    return result, MotionDemagnification(float(alpha), gain, raw, scale, *fitted)
