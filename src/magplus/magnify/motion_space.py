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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backbones.motion import Motion, scale_motion

#: Bounds of the measured gain. Outside them the fit says more about noise than about the
#: extractor (a still clip has no motion to fit), and the nominal response is closer to the truth.
GAIN_BOUNDS = (0.5, 2.0)


@dataclass
class MotionDemagnification:
    """How a motion-space de-magnification was done.

    Attributes:
        alpha: magnification of the driving clip.
        gain: measured ratio of direct to (magnified / α) motion, clipped to :data:`GAIN_BOUNDS`
            (1.0 when not calibrated); of the expression alone when the motion separates head
            and expression (:meth:`~magplus.backbones.motion.Motion.split_head`).
        raw_gain: the fitted value before clipping (nan when there was no motion to fit).
        scale: the factor applied to the magnified motion's (expression's) change, ``gain / alpha``.
        head_gain, raw_head_gain: the same for the head motion, when it was calibrated apart
            (None otherwise).
    """

    alpha: float
    gain: float
    raw_gain: float
    scale: float
    head_gain: float | None = None
    raw_head_gain: float | None = None


def _slope(direct: Motion, magnified: Motion, alpha: float) -> float:
    """Least-squares slope of relative ``direct`` on relative ``magnified / α``; nan if no motion."""
    d = direct.coordinates().ravel()
    m = magnified.coordinates().ravel() / float(alpha)
    energy = float(m @ m)
    return float(d @ m / energy) if energy > 1e-12 else float("nan")


def _clipped(raw: float) -> float:
    return float(np.clip(raw, *GAIN_BOUNDS)) if np.isfinite(raw) else 1.0


def motion_gain(direct: Motion, magnified: Motion, alpha: float) -> float:
    """Least-squares slope of ``direct`` on ``magnified / α`` (both relative to their frame 0); nan if no motion."""
    return _slope(direct.relative_to(direct.reference(0)), magnified.relative_to(magnified.reference(0)), alpha)


def demagnify_motion(magnified: Motion, alpha: float, direct: Motion | None = None) -> tuple[Motion, MotionDemagnification]:
    """Scale the change of ``magnified`` from its frame 0 by ``gain / alpha``.

    Where the motion separates head and expression (:meth:`~magplus.backbones.motion.Motion.split_head`)
    and ``direct`` is given, each part gets its own measured gain: the head's is about 1, the
    expression's is larger (the extractor responds sub-linearly to the magnified expression), and
    a single fit over both would be dominated by head drift.

    Args:
        magnified: motion extracted from the magnified driving clip (absolute, ``T`` frames).
        alpha: the magnification used (> 0).
        direct: motion extracted from the unmagnified driving clip; when given, the backbone's
            gain on this clip is measured and corrected for.

    Returns:
        ``(motion, info)``: absolute motion to render, and what was done.
    """
    reference = magnified.reference(0)
    parts = magnified.split_head(reference) if direct is not None else None
    if parts is None:
        raw = motion_gain(direct, magnified, alpha) if direct is not None else float("nan")
        gain = _clipped(raw)
        scale = gain / float(alpha)
        return scale_motion(magnified, scale), MotionDemagnification(float(alpha), gain, raw, scale)
    head, expression = parts
    direct_head, direct_expression = direct.split_head(direct.reference(0))
    raw_head, raw = _slope(direct_head, head, alpha), _slope(direct_expression, expression, alpha)
    head_gain, gain = _clipped(raw_head), _clipped(raw)
    info = MotionDemagnification(float(alpha), gain, raw, gain / float(alpha), head_gain, raw_head)
    if head_gain / float(alpha) == 1.0 and info.scale == 1.0:
        return magnified, info  # α = 1 and nothing to correct: direct transfer, bit for bit
    change = head.scaled(head_gain / float(alpha)).plus(expression.scaled(info.scale))
    return change.applied_to(reference), info
