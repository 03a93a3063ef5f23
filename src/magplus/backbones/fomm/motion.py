"""FOMM's motion as a :class:`~magplus.backbones.motion.Motion`: keypoints and their Jacobians.

A frame's motion is ``value (K, 2)`` (keypoints in [-1, 1]) and ``jacobian (K, 2, 2)``. The change
from a reference frame is the keypoint displacement and the Jacobian ratio ``J J_ref⁻¹`` — exactly
what FOMM's relative mode composes onto the source (``kp_s + (kp_d − kp_d0)``,
``J_d J_d0⁻¹ J_s``). Scaling a change by ``k`` scales the displacement linearly and raises the
Jacobian ratio to the power ``k`` (a matrix power, so ``k = 1/α`` after ``α`` undoes it).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from ...errors import InputError
from ..motion import Motion, matrix_log, matrix_power_2x2, unit_shift


class FOMMMotion(Motion, Mapping):
    """Keypoints ``value (T, K, 2)`` and ``jacobian (T, K, 2, 2)``; also a read-only mapping with
    those two keys, so code written for FOMM's keypoint dicts takes it as it is."""

    def __init__(self, value: torch.Tensor, jacobian: torch.Tensor, relative: bool = False):
        if value.ndim != 3 or jacobian.shape != (*value.shape, 2):
            raise InputError(f"FOMM motion needs value (T, K, 2) and jacobian (T, K, 2, 2), got "
                             f"{tuple(value.shape)} and {tuple(jacobian.shape)}.")
        self.value, self.jacobian, self.relative = value, jacobian, relative

    @classmethod
    def from_keypoints(cls, kp: Mapping[str, torch.Tensor]) -> "FOMMMotion":
        """From a keypoint dict ``{"value", "jacobian"}`` as FOMM's detector returns it."""
        return cls(kp["value"], kp["jacobian"])

    # Mapping protocol (keys "value" and "jacobian").
    def __getitem__(self, key: str) -> torch.Tensor:
        if key not in ("value", "jacobian"):
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self):
        return iter(("value", "jacobian"))

    def __len__(self) -> int:
        return int(self.value.shape[0])

    def select(self, index):
        return FOMMMotion(self.value[index], self.jacobian[index], self.relative)

    def relative_to(self, reference):
        self._check_reference(reference)
        return FOMMMotion(self.value - reference.value, self.jacobian @ torch.linalg.inv(reference.jacobian),
                          relative=True)

    def scaled(self, k):
        if not self.relative:
            raise InputError("scaled() needs a relative motion: call relative_to(reference) first.")
        return FOMMMotion(self.value * k, matrix_power_2x2(self.jacobian, k), relative=True)

    def applied_to(self, reference):
        self._check_reference(reference)
        if not self.relative:
            raise InputError("applied_to() needs a relative motion.")
        return FOMMMotion(reference.value + self.value, self.jacobian @ reference.jacobian, relative=False)

    def translated(self, shift, size):
        step = torch.as_tensor(unit_shift(shift, len(self), size), dtype=self.value.dtype)  # keypoints in [-1, 1]
        return FOMMMotion(self.value + step.to(self.value.device)[:, None, :], self.jacobian, self.relative)

    def coordinates(self):
        if not self.relative:
            raise InputError("coordinates() needs a relative motion: call relative_to(reference) first.")
        # log J: the coordinate in which a Jacobian ratio scales linearly (log J^k = k log J).
        parts = [self.value.reshape(len(self), -1), matrix_log(self.jacobian).reshape(len(self), -1)]
        return torch.cat(parts, 1).detach().cpu().double().numpy().astype(np.float64)
