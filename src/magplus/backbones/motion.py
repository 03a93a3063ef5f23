"""Motion as a first-class value of the backbone interface.

A backbone whose motion representation is explicit (landmarks, keypoints + Jacobians, head pose +
expression deltas) returns a :class:`Motion` from ``extract_motion``. Motions form a group under
"compose with a reference": ``m.relative_to(r)`` expresses every frame of ``m`` as a change from
the single reference frame ``r``, ``d.scaled(k)`` scales such a change (k = 1/α de-magnifies;
rotations and Jacobians by a matrix power, translations linearly), and ``d.applied_to(r)`` turns a
change back into absolute motion. Hence :func:`scale_motion`: ``r ∘ (k · (m ⊖ r))``, which is the
identity for k = 1 — the invariant that α = 1 in motion space is direct transfer.
``m.translated(shift, size)`` moves each frame's head by a translation measured in image pixels:
how a stabilised run puts the driving clip's head motion back (see ``MagPipeline(stabilise=)``).

Backbones that cannot expose their motion (EmoPortraits runs the user's official code) set
``AnimationBackbone.motion_scalable = False`` and the pipeline falls back to image-space
de-magnification.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError


class Motion(abc.ABC):
    """Per-frame motion of ``T`` driving frames, absolute or relative to one reference frame.

    Attributes:
        relative: True when every frame is a change from a reference (output of :meth:`relative_to`).
    """

    relative: bool = False

    @abc.abstractmethod
    def __len__(self) -> int:
        """Number of frames ``T``."""

    @abc.abstractmethod
    def select(self, index: slice | list[int]) -> "Motion":
        """The frames ``index`` (a slice or list of frame indices) as a motion of the same kind."""

    @abc.abstractmethod
    def relative_to(self, reference: "Motion") -> "Motion":
        """Each frame as a change from ``reference`` (a one-frame absolute motion)."""

    @abc.abstractmethod
    def scaled(self, k: float) -> "Motion":
        """A relative motion whose change is ``k`` times this one's (k = 1 is the identity)."""

    @abc.abstractmethod
    def applied_to(self, reference: "Motion") -> "Motion":
        """Absolute motion: this relative motion composed onto ``reference`` (inverse of relative_to)."""

    @abc.abstractmethod
    def translated(self, shift: np.ndarray, size: int) -> "Motion":
        """The motion with each frame's head moved by ``shift`` ``(T, 2)`` pixels (x, y) of a
        ``size`` × ``size`` driving frame: the whole face translated, nothing else changed."""

    @abc.abstractmethod
    def coordinates(self) -> np.ndarray:
        """A relative motion as ``(T, D)`` float64 linear coordinates (displacements, log-Jacobians, ...).

        Used to compare two relative motions of the same clip, e.g. to measure the backbone's gain
        on magnified motion (:func:`magplus.magnify.motion_space.motion_gain`).
        """

    @classmethod
    def concat(cls, parts: list["Motion"]) -> "Motion":
        """The frames of several motions of one kind, in order (e.g. the chunks of a long clip).

        Fields holding frames (tensors, arrays) are joined along their first axis, the others
        (``relative``) come from the first part; a subclass whose fields differ overrides this.
        """
        if not parts:
            raise InputError("concat() needs at least one motion.")
        if len(parts) == 1:
            return parts[0]
        fields = {}
        for name, value in vars(parts[0]).items():
            values = [getattr(part, name) for part in parts]
            if isinstance(value, torch.Tensor):
                fields[name] = torch.cat(values)
            elif isinstance(value, np.ndarray):
                fields[name] = np.concatenate(values)
            else:
                fields[name] = value
        return type(parts[0])(**fields)

    def reference(self, index: int = 0) -> "Motion":
        """The one-frame absolute motion of frame ``index`` (the usual reference is the onset, 0)."""
        if self.relative:
            raise InputError("reference() needs an absolute motion, got a relative one.")
        return self.select([index])

    def _check_reference(self, reference: "Motion") -> None:
        if type(reference) is not type(self) or reference.relative or len(reference) != 1:
            raise InputError(
                f"reference must be a one-frame absolute {type(self).__name__}, got "
                f"{'relative ' if reference.relative else ''}{type(reference).__name__} of {len(reference)} frames."
            )


def scale_motion(motion: Motion, k: float, reference: Motion | None = None) -> Motion:
    """Absolute motion whose change from ``reference`` (default: frame 0) is ``k`` times ``motion``'s.

    ``k = 1`` returns ``motion`` itself (bit-exact direct transfer).
    """
    if not np.isfinite(k) or k <= 0:
        raise InputError(f"motion scale k must be a finite number > 0, got {k}.")
    if k == 1.0:
        return motion
    reference = motion.reference(0) if reference is None else reference
    return motion.relative_to(reference).scaled(k).applied_to(reference)


def matrix_power_2x2(matrices: torch.Tensor, k: float) -> torch.Tensor:
    """``M^k`` for a batch of real 2×2 (or n×n) matrices near the identity, through the matrix logarithm.

    Jacobians of relative motion are close to I, so the principal logarithm exists; eigenvalues are
    computed in complex128 and the real part kept (the imaginary part is round-off for such
    matrices). Shape ``(..., n, n)`` → same shape.
    """
    if k == 1.0:
        return matrices
    values, vectors = torch.linalg.eig(matrices.double())
    powered = vectors @ torch.diag_embed(values ** k) @ torch.linalg.inv(vectors)
    return powered.real.to(matrices.dtype)


def matrix_log(matrices: torch.Tensor) -> torch.Tensor:
    """Principal logarithm of a batch of real matrices near the identity ``(..., n, n)``.

    The log-linear coordinate of a Jacobian ratio: ``log(M^k) = k log(M)``, so scaled motions
    compare linearly.
    """
    values, vectors = torch.linalg.eig(matrices.double())
    return (vectors @ torch.diag_embed(torch.log(values)) @ torch.linalg.inv(vectors)).real.to(matrices.dtype)


def rotation_power(rotations: torch.Tensor, k: float) -> torch.Tensor:
    """``R^k`` for a batch of 3×3 rotations ``(..., 3, 3)``: the same axis, ``k`` times the angle."""
    if k == 1.0:
        return rotations
    r = rotations.double()
    cos = ((r.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)
    angle = torch.arccos(cos)
    skew = (r - r.transpose(-1, -2)) / 2
    axis_sin = torch.stack([skew[..., 2, 1], skew[..., 0, 2], skew[..., 1, 0]], -1)  # sin(θ)·axis
    sin = torch.sin(angle).clamp_min(1e-12)
    axis = axis_sin / sin[..., None]
    new = angle * k
    kx = torch.zeros_like(r)
    kx[..., 0, 1], kx[..., 0, 2] = -axis[..., 2], axis[..., 1]
    kx[..., 1, 0], kx[..., 1, 2] = axis[..., 2], -axis[..., 0]
    kx[..., 2, 0], kx[..., 2, 1] = -axis[..., 1], axis[..., 0]
    eye = torch.eye(3, dtype=r.dtype, device=r.device).expand_as(r)
    rodrigues = eye + torch.sin(new)[..., None, None] * kx + (1 - torch.cos(new))[..., None, None] * (kx @ kx)
    # Tiny angles: the axis is ill-defined; first order k·(R − I) + I is exact to O(θ²).
    small = (angle < 1e-6)[..., None, None]
    return torch.where(small, eye + k * (r - eye), rodrigues).to(rotations.dtype)


def shift_array(shift: np.ndarray, frames: int) -> np.ndarray:
    """``shift`` as a checked ``(T, 2)`` float64 array of per-frame pixel translations."""
    array = np.asarray(shift, dtype=np.float64)
    if array.shape != (frames, 2) or not np.isfinite(array).all():
        raise InputError(f"shift must be ({frames}, 2) finite pixel translations, got shape {array.shape}.")
    return array


def unit_shift(shift: np.ndarray, frames: int, size: int) -> np.ndarray:
    """Pixel translations ``(T, 2)`` of a ``size``-pixel frame in the [-1, 1] units of keypoints
    (pixel centres at the ends, as FOMM's coordinate grid and grid_sample's align_corners=True)."""
    return shift_array(shift, frames) * (2.0 / (float(size) - 1.0))


@dataclass
class LandmarkMotion(Motion):
    """Landmark tracks ``points`` ``(T, N, 2)`` (x then y); relative tracks hold displacements.

    Attributes:
        frame_units: the side of the frame in the points' units (1.0 for coordinates in [0, 1]);
            None for pixel coordinates.
    """

    points: np.ndarray
    relative: bool = False
    frame_units: float | None = None

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def _like(self, points: np.ndarray, relative: bool) -> "LandmarkMotion":
        return LandmarkMotion(points, relative, self.frame_units)

    def select(self, index):
        return self._like(self.points[index], self.relative)

    def relative_to(self, reference):
        self._check_reference(reference)
        return self._like(self.points - reference.points, True)

    def scaled(self, k):
        if not self.relative:
            raise InputError("scaled() needs a relative motion: call relative_to(reference) first.")
        return self._like((self.points * k).astype(self.points.dtype), True)

    def applied_to(self, reference):
        self._check_reference(reference)
        if not self.relative:
            raise InputError("applied_to() needs a relative motion.")
        return self._like(reference.points + self.points, False)

    def translated(self, shift, size):
        per_pixel = 1.0 if self.frame_units is None else self.frame_units / float(size)
        moved = self.points + (shift_array(shift, len(self)) * per_pixel)[:, None, :]
        return self._like(moved.astype(self.points.dtype), self.relative)

    def coordinates(self):
        if not self.relative:
            raise InputError("coordinates() needs a relative motion: call relative_to(reference) first.")
        return self.points.reshape(len(self), -1).astype(np.float64)
