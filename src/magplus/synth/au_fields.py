"""Displacement fields of facial action units, anchored to MediaPipe face-mesh landmarks.

Each AU is a sum of isotropic Gaussians (radial basis functions) centred on landmark anchors,
each carrying a displacement vector in the face's own frame: ``out`` (away from the face's
midline) and ``up`` (towards the forehead). For a point ``x``::

    V(x) = sum_k v_k exp(-|x - c_k|^2 / (2 s_k^2))           pixels, (2,)

The vectors are scaled once so that the peak of ``|V|`` over the pixel grid is exactly 1; the
renderer multiplies by the event's amplitude. ``V`` is the *forward* motion: the skin at ``x``
moves to ``x + amplitude * V(x)``. Widths ``s_k`` are stated in units of the outer inter-ocular
distance (landmarks 33-263), so the same program gives the same relative motion on any face.
The widths (0.08-0.15 IOD, 7-13 px at 256²) are a compromise: narrow enough to keep each AU in
its region, wide enough that magnified motion (alpha x amplitude up to ~1.5 widths, i.e. 10-20 px)
does not fold the skin over; beyond that the renderer refuses the program.

Indices are the MediaPipe face mesh's; "left" (L) is the SUBJECT's left, i.e. MediaPipe's
``LEFT_*`` groups, on the image's right in a non-mirrored frontal photo (verified on the
astronaut: landmark 263 lies at larger x than 33).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from ..types import NUM_FACE_LANDMARKS, check_landmarks
from .program import check_au

# Gaussians are cut where they fall below exp(-18) ~ 1.5e-8 of their weight: far below the
# 1e-4 px accuracy asked of the ground truth even at amplitudes of tens of pixels.
_CUTOFF_SIGMAS = 6.0
# A pixel belongs to an AU's region mask when the unit field there is at least this large.
MASK_LEVEL = 0.1


@dataclass(frozen=True)
class AnchorGroup:
    """Anchors that move together: the subject's right / left / midline landmarks.

    ``out`` and ``up`` give the direction in the face frame (normalised internally),
    ``sigma`` the Gaussian width in inter-ocular distances, ``weight`` the relative strength.
    Midline anchors are used only by bilateral (side=None) events.
    """

    right: tuple[int, ...]
    left: tuple[int, ...]
    mid: tuple[int, ...] = ()
    out: float = 0.0
    up: float = 1.0
    sigma: float = 0.1
    weight: float = 1.0


_INNER_BROW = ((107, 66, 55, 65), (336, 296, 285, 295))
_OUTER_BROW = ((70, 63, 46, 53), (300, 293, 276, 283))
_MID_BROW = ((105, 52), (334, 282))
_UPPER_LID = ((160, 159, 158), (387, 386, 385))
_LOWER_LID = ((163, 144, 145, 153, 154), (390, 373, 374, 380, 381))
_LIP_CORNERS = ((61, 78), (291, 308))

#: AU number -> (short description, anchor groups).
AU_SPECS: dict[int, tuple[str, tuple[AnchorGroup, ...]]] = {
    1: ("inner brow raiser", (AnchorGroup(*_INNER_BROW, up=1.0, sigma=0.13),)),
    2: ("outer brow raiser", (AnchorGroup(*_OUTER_BROW, out=0.15, up=1.0, sigma=0.13),)),
    4: ("brow lowerer: brows down and together", (
        AnchorGroup(*_INNER_BROW, out=-0.6, up=-0.8, sigma=0.13),
        AnchorGroup(*_MID_BROW, out=-0.3, up=-0.95, sigma=0.13, weight=0.5),
    )),
    5: ("upper lid raiser", (AnchorGroup(*_UPPER_LID, up=1.0, sigma=0.08),)),
    6: ("cheek raiser", (
        AnchorGroup((117, 118, 101, 50), (346, 347, 330, 280), out=0.1, up=1.0, sigma=0.15),
        AnchorGroup((144, 145, 153), (373, 374, 380), up=1.0, sigma=0.08, weight=0.4),
    )),
    7: ("lid tightener: lower lid up", (AnchorGroup(*_LOWER_LID, up=1.0, sigma=0.08),)),
    9: ("nose wrinkler: nose sides up", (AnchorGroup((129, 49, 64, 98, 48), (358, 279, 294, 327, 278), up=1.0, sigma=0.09),)),
    10: ("upper lip raiser", (AnchorGroup((37, 39, 40), (267, 269, 270), (0,), up=1.0, sigma=0.10),)),
    12: ("lip corner puller: corners up and out", (AnchorGroup(*_LIP_CORNERS, out=0.6, up=0.8, sigma=0.11),)),
    14: ("dimpler: corners in", (AnchorGroup(*_LIP_CORNERS, out=-1.0, up=0.1, sigma=0.10),)),
    15: ("lip corner depressor: corners down", (AnchorGroup(*_LIP_CORNERS, out=0.1, up=-1.0, sigma=0.11),)),
    17: ("chin raiser", (
        AnchorGroup((148, 176), (377, 400), (152, 175, 199, 200), up=1.0, sigma=0.15),
        AnchorGroup((84,), (314,), (17,), up=1.0, sigma=0.10, weight=0.5),
    )),
    # The outer lip contours move towards the lip line, which itself stays: anchoring on the
    # inner contour (13/14) would squeeze closed lips to nothing.
    24: ("lip pressor: lips pressed together", (
        AnchorGroup((37, 39), (267, 269), (0,), up=-1.0, sigma=0.10),
        AnchorGroup((84, 181), (314, 405), (17,), up=1.0, sigma=0.10),
    )),
    43: ("eyes closed: upper lids down", (
        AnchorGroup(*_UPPER_LID, up=-1.0, sigma=0.09),
        AnchorGroup(*_LOWER_LID, up=1.0, sigma=0.08, weight=0.3),
    )),
}
AU_SPECS[45] = ("blink: upper lids down and back", AU_SPECS[43][1])


def face_axes(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The face's own frame from its landmarks.

    Returns:
        ``(centre, lateral, up, iod)``: the mid-point between the outer eye corners, the unit vector
        towards the subject's left, the unit vector towards the forehead (image y is down), and the
        outer inter-ocular distance in pixels.
    """
    right_eye, left_eye = landmarks[33], landmarks[263]
    iod = float(np.linalg.norm(left_eye - right_eye))
    if not np.isfinite(iod) or iod < 4.0:
        raise InputError(f"landmarks give an inter-ocular distance of {iod:.3g} px; the face is too small (need >= 4 px).")
    lateral = (left_eye - right_eye) / iod
    up = np.array([lateral[1], -lateral[0]])  # lateral rotated by -90 degrees: (1, 0) -> (0, -1)
    return (left_eye + right_eye) / 2.0, lateral, up, iod


@dataclass
class AUField:
    """One AU's unit-peak displacement field on one face.

    Attributes:
        au, side: what it is.
        centers: ``(K, 2)`` anchor positions (pixels, x y), float64.
        vectors: ``(K, 2)`` displacement carried by each Gaussian, scaled so the grid peak is 1.
        inv_two_sigma2: ``(K,)`` the ``1 / (2 s_k^2)`` of each Gaussian.
        grid: ``(2, H, W)`` the field on the pixel grid (peak ``|V|`` exactly 1).
        mask: ``(H, W)`` bool, where ``|V| >= MASK_LEVEL``.
    """

    au: int
    side: str | None
    centers: torch.Tensor
    vectors: torch.Tensor
    inv_two_sigma2: torch.Tensor
    grid: torch.Tensor
    mask: torch.Tensor

    @property
    def reach(self) -> float:
        """Distance from the anchors beyond which the field is negligible (pixels)."""
        return float(_CUTOFF_SIGMAS / torch.sqrt(2.0 * self.inv_two_sigma2.min()))


def gaussian_field(points: torch.Tensor, centers: torch.Tensor, vectors: torch.Tensor, inv_two_sigma2: torch.Tensor,
                   jacobian: bool = False):
    """Evaluate ``V(x) = sum_k v_k exp(-|x - c_k|^2 inv_two_sigma2_k)`` at ``points`` ``(N, 2)``.

    Returns:
        ``(N, 2)`` values; with ``jacobian=True`` also ``(N, 2)`` ``dV/dx`` and ``(N, 2)`` ``dV/dy``.
    """
    # N x K matrices and matrix products: much faster than (N, K, 2) tensors reduced over the last axis.
    dx = points[:, :1] - centers[None, :, 0]
    dy = points[:, 1:] - centers[None, :, 1]
    weights = torch.exp(-(dx * dx + dy * dy) * inv_two_sigma2)
    values = weights @ vectors
    if not jacobian:
        return values
    # d/dx of exp(-|x-c|^2 a) = -2 a (x - c) exp(...), and the same for y.
    slope = weights * (-2.0 * inv_two_sigma2)
    return values, (slope * dx) @ vectors, (slope * dy) @ vectors


def _anchor_vectors(groups: tuple[AnchorGroup, ...], side: str | None, landmarks: np.ndarray):
    centre, lateral, up, iod = face_axes(landmarks)
    centers, vectors, sigmas = [], [], []
    for group in groups:
        indices = {"R": group.right, "L": group.left, None: group.right + group.left + group.mid}[side]
        direction = np.array([group.out, group.up], dtype=np.float64)
        direction /= np.linalg.norm(direction)
        for index in indices:
            anchor = landmarks[index]
            offset = float(np.dot(anchor - centre, lateral))
            # "out" points away from the midline; anchors on the midline get no lateral part.
            out_sign = np.sign(offset) if abs(offset) > 0.05 * iod else 0.0
            vectors.append(group.weight * (direction[0] * out_sign * lateral + direction[1] * up))
            centers.append(anchor)
            sigmas.append(group.sigma * iod)
    return np.array(centers), np.array(vectors), np.array(sigmas)


def build_au_field(au: int, side: str | None, landmarks: np.ndarray, height: int, width: int) -> AUField:
    """The unit-peak field of ``au`` on a face with ``landmarks`` in an ``height x width`` frame.

    Args:
        au: action-unit number (see :data:`AU_SPECS`).
        side: "L", "R" (subject's side) or None (both sides and the midline anchors).
        landmarks: ``(478, 2)`` pixel (x, y) of the face in that frame.

    Raises:
        InputError: unknown AU or side, or a degenerate face.
    """
    au = check_au(au)
    if side not in ("L", "R", None):
        raise InputError(f"side must be 'L', 'R' or None, got {side!r}.")
    check_landmarks(landmarks, "landmarks", NUM_FACE_LANDMARKS)
    landmarks = np.asarray(landmarks, dtype=np.float64)
    centers, vectors, sigmas = _anchor_vectors(AU_SPECS[au][1], side, landmarks)
    c = torch.from_numpy(centers)
    v = torch.from_numpy(vectors)
    a = torch.from_numpy(1.0 / (2.0 * sigmas**2))
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64), indexing="ij")
    grid_points = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)
    values = torch.cat([gaussian_field(chunk, c, v, a) for chunk in grid_points.split(16384)])
    peak = float(values.norm(dim=1).max())
    if peak <= 1e-12:
        raise InputError(f"AU{au} has no motion inside the {width}x{height} frame; is the face inside the image?")
    v = v / peak
    grid = (values / peak).T.reshape(2, height, width).contiguous()
    return AUField(au, side, c, v, a, grid, grid.norm(dim=0) >= MASK_LEVEL)
