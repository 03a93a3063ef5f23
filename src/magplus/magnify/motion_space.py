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
            (1.0 when not calibrated).
        raw_gain: the fitted value before clipping (nan when there was no motion to fit).
        scale: the factor applied to the magnified motion's change, ``gain / alpha``.
    """

    alpha: float
    gain: float
    raw_gain: float
    scale: float


def motion_gain(direct: Motion, magnified: Motion, alpha: float) -> float:
    """Least-squares slope of ``direct`` on ``magnified / α`` (both relative to their frame 0); nan if no motion."""
    d = direct.relative_to(direct.reference(0)).coordinates().ravel()
    m = magnified.relative_to(magnified.reference(0)).coordinates().ravel() / float(alpha)
    energy = float(m @ m)
    return float(d @ m / energy) if energy > 1e-12 else float("nan")


def demagnify_motion(magnified: Motion, alpha: float, direct: Motion | None = None) -> tuple[Motion, MotionDemagnification]:
    """Scale the change of ``magnified`` from its frame 0 by ``gain / alpha``.

    Args:
        magnified: motion extracted from the magnified driving clip (absolute, ``T`` frames).
        alpha: the magnification used (> 0).
        direct: motion extracted from the unmagnified driving clip; when given, the backbone's
            gain on this clip is measured (:func:`motion_gain`) and corrected for.

    Returns:
        ``(motion, info)``: absolute motion to render, and what was done.
    """
    raw = motion_gain(direct, magnified, alpha) if direct is not None else float("nan")
    gain = float(np.clip(raw, *GAIN_BOUNDS)) if np.isfinite(raw) else 1.0
    scale = gain / float(alpha)
    return scale_motion(magnified, scale), MotionDemagnification(float(alpha), gain, raw, scale)
