"""LivePortrait's motion as a :class:`~magplus.backbones.motion.Motion`: per frame, canonical keypoints,
head rotation, expression deltas, scale and translation.

Absolute motion holds what the motion extractor says about each frame. A relative motion (from
:meth:`LivePortraitMotion.relative_to`) holds each frame's change from one reference frame in the
form the official relative composition uses: rotation ``R_i R_0ᵀ``, expression ``δ_i − δ_0``, scale
ratio ``s_i / s_0``, translation ``t_i − t_0`` (and canonical keypoints ``x_c,i − x_c,0``, used only by
absolute rendering). Scaling by ``k`` takes the ``k``-th power of the rotation (same axis, ``k``
times the angle), of the scale ratio, and ``k`` times the differences; ``applied_to`` composes
back: ``R = ΔR R_0``, ``δ = δ_0 + Δδ``, ``s = s_0 · ratio``, ``t = t_0 + Δt``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from ...errors import InputError
from ...types import check_shape
from ..motion import Motion, rotation_power, unit_shift


def rotation_vector(rotations: torch.Tensor) -> torch.Tensor:
    """Axis × angle (radians) of rotations ``(T, 3, 3)`` -> ``(T, 3)`` float64 (angles below π)."""
    r = rotations.double()
    cos = ((r.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)
    angle = torch.arccos(cos)
    skew = (r - r.transpose(-1, -2)) / 2
    axis_sin = torch.stack([skew[..., 2, 1], skew[..., 0, 2], skew[..., 1, 0]], -1)  # sin(θ)·axis
    # angle / sin(angle) -> 1 for tiny angles, where the axis is ill-defined but axis_sin ≈ θ·axis.
    factor = torch.where(angle < 1e-6, torch.ones_like(angle), angle / torch.sin(angle).clamp_min(1e-12))
    return axis_sin * factor[..., None]


@dataclass
class LivePortraitMotion(Motion):
    """Motion of ``T`` frames with ``K`` implicit keypoints.

    Attributes:
        kp: canonical keypoints ``(T, K, 3)``.
        rotation: ``(T, 3, 3)`` in the official (transposed, right-multiplied) convention.
        exp: expression deltas ``(T, K, 3)``.
        scale: ``(T, 1)``.
        translation: ``(T, 3)`` (tz is carried but never rendered).
        relative: True when the fields are changes from a reference (see module docstring).
    """

    kp: torch.Tensor
    rotation: torch.Tensor
    exp: torch.Tensor
    scale: torch.Tensor
    translation: torch.Tensor
    relative: bool = False

    def __post_init__(self) -> None:
        frames = self.kp.shape[0] if isinstance(self.kp, torch.Tensor) else "T"
        check_shape(self.kp, [frames, "K", 3], "motion.kp")
        check_shape(self.rotation, [frames, 3, 3], "motion.rotation")
        check_shape(self.exp, [frames, self.kp.shape[1], 3], "motion.exp")
        check_shape(self.scale, [frames, 1], "motion.scale")
        check_shape(self.translation, [frames, 3], "motion.translation")

    def __len__(self) -> int:
        return int(self.kp.shape[0])

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "relative"}

    def _map(self, fn, relative: bool | None = None) -> "LivePortraitMotion":
        return LivePortraitMotion(**{k: fn(v) for k, v in self._tensors().items()},
                                  relative=self.relative if relative is None else relative)

    def select(self, index) -> "LivePortraitMotion":
        index = [index] if isinstance(index, int) else index
        return self._map(lambda v: v[index])

    def to(self, device: str | torch.device) -> "LivePortraitMotion":
        """The same motion on ``device``."""
        return self._map(lambda v: v.to(device))

    def relative_to(self, reference: "LivePortraitMotion") -> "LivePortraitMotion":
        self._check_reference(reference)
        if self.relative:
            raise InputError("relative_to() needs an absolute motion; this one is already relative.")
        ref = reference.to(self.kp.device)
        return LivePortraitMotion(kp=self.kp - ref.kp, rotation=self.rotation @ ref.rotation.transpose(1, 2),
                                  exp=self.exp - ref.exp, scale=self.scale / ref.scale,
                                  translation=self.translation - ref.translation, relative=True)

    def scaled(self, k: float) -> "LivePortraitMotion":
        if not self.relative:
            raise InputError("scaled() needs a relative motion: call relative_to(reference) first.")
        if k == 1.0:
            return self
        return LivePortraitMotion(kp=self.kp * k, rotation=rotation_power(self.rotation, k), exp=self.exp * k,
                                  scale=self.scale ** k, translation=self.translation * k, relative=True)

    def applied_to(self, reference: "LivePortraitMotion") -> "LivePortraitMotion":
        self._check_reference(reference)
        if not self.relative:
            raise InputError("applied_to() needs a relative motion.")
        ref = reference.to(self.kp.device)
        return LivePortraitMotion(kp=ref.kp + self.kp, rotation=self.rotation @ ref.rotation, exp=ref.exp + self.exp,
                                  scale=ref.scale * self.scale, translation=ref.translation + self.translation,
                                  relative=False)

    def translated(self, shift, size) -> "LivePortraitMotion":
        # The driving keypoints are s (x_c R + exp) + t in [-1, 1] image coordinates: a head moved
        # in the image plane is a change of (tx, ty); tz is not rendered.
        step = torch.zeros_like(self.translation)
        step[:, :2] = torch.as_tensor(unit_shift(shift, len(self), size), dtype=step.dtype)
        return LivePortraitMotion(self.kp, self.rotation, self.exp, self.scale, self.translation + step, self.relative)

    def coordinates(self) -> np.ndarray:
        """``(T, 3 + 1 + 2 + 3K)`` float64: rotation vector (axis × angle), log scale ratio, (tx, ty) and
        the expression change — what relative rendering uses, each linear in ``k`` under :meth:`scaled`
        (canonical keypoints and tz are not rendered in relative mode, so they are left out)."""
        if not self.relative:
            raise InputError("coordinates() needs a relative motion: call relative_to(reference) first.")
        parts = [rotation_vector(self.rotation), torch.log(self.scale.double()), self.translation[:, :2].double(),
                 self.exp.double().reshape(len(self), -1)]
        return torch.cat(parts, dim=1).cpu().numpy()

    @staticmethod
    def concat(parts: list["LivePortraitMotion"]) -> "LivePortraitMotion":
        """Frames of several absolute motions, in order."""
        if not parts:
            raise InputError("concat() needs at least one motion.")
        names = parts[0]._tensors().keys()
        return LivePortraitMotion(**{n: torch.cat([getattr(p, n) for p in parts]) for n in names},
                                  relative=parts[0].relative)
