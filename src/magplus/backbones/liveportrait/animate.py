"""Driving keypoints for a source, as the official pipeline composes them (image source, driving video).

Relative mode (the official default, ``animation_region="all"``):
``R = ΔR R_s``, ``δ = δ_s + Δδ``, ``s = s_s · ratio``, ``t = t_s + Δt`` with ``tz = 0``, then
``x_d = s (x_c,s R + δ) + t``, where ``Δ`` is the driving frame's change from the reference frame
(:meth:`LivePortraitMotion.relative_to`). The expression-friendly option then rescales the change
from the reference: ``x_d ← x_s + m (x_d − x_d,ref)`` with ``m = sqrt(vol x_s / vol x_d,ref)``; stitching
corrects the result; ``driving_multiplier`` finally scales ``x_d − x_s``.

Absolute mode: the driving rotation and translation, the source scale, and the source expression
with the official subset of driving expression entries copied in.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .kinematics import motion_multiplier, transform_keypoints
from .motion import LivePortraitMotion
from .stitching import stitch

#: Expression entries the official absolute mode takes from the driving frame: (keypoint, axes).
ABSOLUTE_EXP_ENTRIES = ([(k, slice(0, 3)) for k in (1, 2, 6, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20)]
                        + [(3, slice(1, 2)), (4, slice(1, 2)), (5, slice(2, 3)), (8, slice(2, 3)), (9, slice(1, 3))])


@dataclass
class SourceKeypoints:
    """What the composition needs of the source (batch 1): ``kp``/``exp`` ``(1, K, 3)``,
    ``rotation`` ``(1, 3, 3)``, ``scale`` ``(1, 1)``, ``translation`` ``(1, 3)`` and ``x_s`` ``(1, K, 3)``."""

    kp: torch.Tensor
    exp: torch.Tensor
    rotation: torch.Tensor
    scale: torch.Tensor
    translation: torch.Tensor
    x_s: torch.Tensor


def compose_relative(source: SourceKeypoints, change: LivePortraitMotion) -> torch.Tensor:
    """``(T, K, 3)`` keypoints: the source moved by a relative motion (before multiplier and stitching)."""
    rotation = change.rotation @ source.rotation
    exp = source.exp + change.exp
    scale = source.scale * change.scale
    translation = source.translation + change.translation
    translation = torch.cat([translation[:, :2], torch.zeros_like(translation[:, 2:])], dim=1)
    return transform_keypoints(source.kp.expand_as(exp), rotation, exp, scale, translation)


def compose_absolute(source: SourceKeypoints, motion: LivePortraitMotion) -> torch.Tensor:
    """``(T, K, 3)`` keypoints of the official absolute mode (before stitching)."""
    exp = source.exp.expand_as(motion.exp).clone()
    for index, axes in ABSOLUTE_EXP_ENTRIES:
        exp[:, index, axes] = motion.exp[:, index, axes]
    translation = torch.cat([motion.translation[:, :2], torch.zeros_like(motion.translation[:, 2:])], dim=1)
    scale = source.scale.expand(len(motion), 1)
    return transform_keypoints(source.kp.expand_as(exp), motion.rotation, exp, scale, translation)


def driving_keypoints(source: SourceKeypoints, motion: LivePortraitMotion, reference: LivePortraitMotion | None,
                      relative: bool = True, expression_friendly: bool = True, stitching: torch.nn.Module | None = None,
                      driving_multiplier: float = 1.0) -> torch.Tensor:
    """Keypoints ``(T, K, 3)`` to render the source with.

    Args:
        source: the source's keypoint info.
        motion: absolute driving motion, or a relative one (then ``reference`` is only used for the
            expression-friendly multiplier, and may be None: the multiplier is then 1).
        reference: one-frame absolute motion of the reference driving frame (relative mode).
        relative: relative (official default) or absolute composition.
        expression_friendly: apply the hull-volume multiplier (relative mode only, as upstream).
        stitching: the stitching MLP, or None to skip stitching.
        driving_multiplier: the official plain motion scale ``x_s + k (x_d − x_s)``, applied last.
    """
    if relative:
        change = motion if motion.relative else motion.relative_to(reference)
        keypoints = compose_relative(source, change)
        if expression_friendly and reference is not None:
            at_reference = compose_relative(source, reference.relative_to(reference))
            factor = motion_multiplier(source.x_s[0], at_reference[0])
            keypoints = (keypoints - at_reference) * factor + source.x_s
    else:
        keypoints = compose_absolute(source, motion)
    if stitching is not None:
        keypoints = stitch(stitching, source.x_s, keypoints)
    # Applied even at 1, as upstream does: (x_d - x_s) + x_s differs from x_d in the last bit.
    return source.x_s + (keypoints - source.x_s) * driving_multiplier
