"""Soft masks of the facial regions that Action Units move, from 478 MediaPipe landmarks.

Regions (suffix ``_L``/``_R``: the SUBJECT's left/right, as in FACS L/R codes):

=============== ============================================== =======================
name            area                                           AUs
=============== ============================================== =======================
brows           both brows, the forehead strip above, glabella 1, 2, 4
eyes            eyes, upper lids up to the fold, lower lids    5, 6, 7, 43, 45, 46
nose            nose bridge, sides and wings                   9
upper_lip       between the nose base and the upper lip        10, 11
lip_corners     discs round the mouth corners                  12, 13, 14, 15, 20
chin_lips       both lips and the chin boss                    16, 17, 18, 23, 24, 25, 26
face            the face oval (forehead top to chin)
background      1 - face
=============== ============================================== =======================

Side variants: ``brows_L/R``, ``eyes_L/R``, ``lip_corners_L/R``.

Each mask is rasterised as a hard polygon/hull at image resolution, grown by ``grow`` times the
face height (so masks scale with the face, not the image), then blurred with a Gaussian of sigma
``soften`` times the face height: values are 1 well inside, 0 well outside, in (0, 1) across a soft
edge a few pixels wide. "Up" is the face's own axis (chin to forehead), so head roll is followed.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable

import cv2
import numpy as np
import torch

from ..errors import InputError
from ..types import NUM_FACE_LANDMARKS, check_landmarks
from .crop import check_image_size
from .mesh import CHIN_TIP, FOREHEAD_TOP, NOSE_TIP, mesh_groups

#: AU number -> region name. Beyond the AUs of the micro-expression datasets (DOMAIN.md §1) a few
#: neighbours are mapped to the region whose skin they move.
AU_REGIONS: dict[int, str] = {
    1: "brows", 2: "brows", 4: "brows",
    5: "eyes", 6: "eyes", 7: "eyes", 43: "eyes", 45: "eyes", 46: "eyes",
    9: "nose",
    10: "upper_lip", 11: "upper_lip",
    12: "lip_corners", 13: "lip_corners", 14: "lip_corners", 15: "lip_corners", 20: "lip_corners",
    16: "chin_lips", 17: "chin_lips", 18: "chin_lips", 23: "chin_lips", 24: "chin_lips", 25: "chin_lips", 26: "chin_lips",
}  # fmt: skip
SIDED_REGIONS = ("brows", "eyes", "lip_corners")
REGION_NAMES = (
    "brows", "eyes", "nose", "upper_lip", "lip_corners", "chin_lips", "face", "background",
    *(f"{name}_{side}" for name in SIDED_REGIONS for side in "LR"),
)  # fmt: skip

DEFAULT_GROW = 0.02
DEFAULT_SOFTEN = 0.025
# Region shapes, as fractions of the distances they are named after.
_FOREHEAD_STRIP = 0.6  # brows: strip above the brows, x brow-to-eye distance
_LID_FOLD = 0.35  # eyes: upward reach of the upper lid region, x eye width
_LOWER_LID = 0.3  # eyes: downward reach (lower lid, top of the cheek for AU6), x eye width
_CORNER_RADIUS = 0.22  # lip_corners: disc radius, x mouth width
_SUBPIXEL_BITS = 4  # cv2 polygon fill with 1/16-pixel vertex precision


class _Face:
    """Landmarks with the face's own axes and scale."""

    def __init__(self, landmarks: np.ndarray):
        self.points = landmarks
        axis = landmarks[CHIN_TIP] - landmarks[FOREHEAD_TOP]
        self.height = float(np.linalg.norm(axis))
        if not self.height > 1e-3:
            raise InputError("landmarks have the forehead top on the chin; pass landmarks of a detected face.")
        self.down = axis / self.height

    def group(self, name: str) -> np.ndarray:
        return self.points[list(mesh_groups()[name])]

    def below(self, points: np.ndarray, anchor: np.ndarray) -> np.ndarray:
        """The points lying at or below ``anchor`` along the face's down axis."""
        return points[(points - anchor) @ self.down >= 0]


def _fill_hull(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Hard uint8 mask of the convex hull of ``points`` (landmark convention, pixel k centred at k + 0.5)."""
    return _fill_polygon(cv2.convexHull(points.astype(np.float32))[:, 0], size)


def _fill_polygon(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(size, np.uint8)
    fixed = np.round((points - 0.5) * (1 << _SUBPIXEL_BITS)).astype(np.int32)  # to cv2's pixel-centre grid
    cv2.fillPoly(mask, [fixed], 1, lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)
    return mask


def _brows(face: _Face, size: tuple[int, int], sides: str) -> np.ndarray:
    parts = []
    for side in sides:
        brow, eye = face.group(f"BROW_{side}"), face.group(f"EYE_{side}")
        lift = float((eye.mean(0) - brow.mean(0)) @ face.down) * _FOREHEAD_STRIP
        parts += [brow, brow - face.down * lift]
    # One hull over both sides also covers the glabella between the brows (AU4's wrinkles).
    return _fill_hull(np.concatenate(parts), size)


def _eyes(face: _Face, size: tuple[int, int], sides: str) -> np.ndarray:
    mask = np.zeros(size, np.uint8)
    for side in sides:
        eye = face.group(f"EYE_{side}")
        outer, inner = face.group(f"EYE_CORNERS_{side}")
        width = float(np.linalg.norm(outer - inner))
        shifted = [eye, eye - face.down * width * _LID_FOLD, eye + face.down * width * _LOWER_LID]
        mask |= _fill_hull(np.concatenate(shifted), size)
    return mask


def _nose(face: _Face, size: tuple[int, int]) -> np.ndarray:
    return _fill_hull(face.group("NOSE"), size)


def _upper_lip(face: _Face, size: tuple[int, int]) -> np.ndarray:
    # The nose points at or below the tip trace the nose base; with the upper lip they bound the
    # skin AU10 lifts (philtrum and the upper lip).
    base = face.below(face.group("NOSE"), face.points[NOSE_TIP])
    return _fill_hull(np.concatenate([base, face.group("UPPER_LIP_OUTER")]), size)


def _lip_corners(face: _Face, size: tuple[int, int], sides: str) -> np.ndarray:
    right, left = face.group("LIP_CORNERS")
    radius = float(np.linalg.norm(left - right)) * _CORNER_RADIUS
    angles = np.linspace(0.0, 2.0 * np.pi, 32, endpoint=False)
    disc = np.stack([np.cos(angles), np.sin(angles)], axis=1) * radius
    mask = np.zeros(size, np.uint8)
    for side in sides:
        centre = left if side == "L" else right
        mask |= _fill_polygon(centre + disc, size)
    return mask


def _chin_lips(face: _Face, size: tuple[int, int]) -> np.ndarray:
    return _fill_hull(np.concatenate([face.group("LIPS_OUTER"), face.group("CHIN")]), size)


def _face(face: _Face, size: tuple[int, int]) -> np.ndarray:
    return _fill_polygon(face.group("FACE_OVAL"), size)


_BUILDERS: dict[str, Callable[[_Face, tuple[int, int]], np.ndarray]] = {
    "brows": lambda f, s: _brows(f, s, "LR"),
    "eyes": lambda f, s: _eyes(f, s, "LR"),
    "nose": _nose,
    "upper_lip": _upper_lip,
    "lip_corners": lambda f, s: _lip_corners(f, s, "LR"),
    "chin_lips": _chin_lips,
    "face": _face,
}
for _side in "LR":
    _BUILDERS[f"brows_{_side}"] = lambda f, s, side=_side: _brows(f, s, side)
    _BUILDERS[f"eyes_{_side}"] = lambda f, s, side=_side: _eyes(f, s, side)
    _BUILDERS[f"lip_corners_{_side}"] = lambda f, s, side=_side: _lip_corners(f, s, side)


def _soften(hard: np.ndarray, grow_px: float, sigma_px: float) -> np.ndarray:
    """Grow a hard mask by ``grow_px`` (elliptic dilation) and blur it (Gaussian, ``sigma_px``)."""
    mask = hard.astype(np.float32)
    radius = int(round(grow_px))
    if radius > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        mask = cv2.dilate(mask, kernel)
    if sigma_px > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=sigma_px, sigmaY=sigma_px, borderType=cv2.BORDER_REPLICATE)
    return np.clip(mask, 0.0, 1.0)


def _check_inputs(landmarks: Any, size: Any, soften: float, grow: float) -> tuple[np.ndarray, tuple[int, int]]:
    check_landmarks(landmarks, "landmarks", count=NUM_FACE_LANDMARKS)
    points = landmarks.detach().cpu().numpy() if isinstance(landmarks, torch.Tensor) else np.asarray(landmarks)
    points = points.astype(np.float64)
    if not np.isfinite(points).all():
        raise InputError("landmarks contain NaN or infinite values; pass the landmarks of a detected face.")
    height, width = check_image_size(size, "size")
    for name, value in (("soften", soften), ("grow", grow)):
        if not 0.0 <= float(value) <= 0.5:
            raise InputError(f"{name} must lie in [0, 0.5] (fraction of the face height), got {value}.")
    return points, (height, width)


def region_masks(
    landmarks: Any,
    size: tuple[int, int],
    soften: float = DEFAULT_SOFTEN,
    grow: float = DEFAULT_GROW,
    names: Iterable[str] | None = None,
) -> dict[str, torch.Tensor]:
    """Soft masks of the AU regions of one face.

    Args:
        landmarks: ``(478, 2)`` pixel (x, y) in the image the masks are for (e.g. crop
            coordinates from :func:`magplus.face.crop.crop_landmarks` for a 256² crop).
        size: ``(H, W)`` of that image.
        soften: Gaussian sigma of the soft edge, as a fraction of the face height (0 = hard).
        grow: dilation before blurring, as a fraction of the face height.
        names: the regions to build (default: all of :data:`REGION_NAMES`).

    Returns:
        name -> float32 tensor ``(H, W)`` in [0, 1]. ``background`` is exactly ``1 - face``.
    """
    points, hw = _check_inputs(landmarks, size, soften, grow)
    wanted = list(REGION_NAMES if names is None else names)
    unknown = [n for n in wanted if n not in REGION_NAMES]
    if unknown:
        raise InputError(f"unknown region name(s) {unknown}; choose from {list(REGION_NAMES)}.")
    face = _Face(points)
    grow_px, sigma_px = grow * face.height, soften * face.height
    out: dict[str, torch.Tensor] = {}
    for name in wanted:
        source = "face" if name == "background" else name
        if source not in out:
            out[source] = torch.from_numpy(_soften(_BUILDERS[source](face, hw), grow_px, sigma_px))
        if name == "background":
            out["background"] = 1.0 - out["face"]
    return {name: out[name] for name in wanted}


def region_mask(name: str, landmarks: Any, size: tuple[int, int], soften: float = DEFAULT_SOFTEN, grow: float = DEFAULT_GROW) -> torch.Tensor:
    """One soft mask ``(H, W)``; see :func:`region_masks`."""
    return region_masks(landmarks, size, soften=soften, grow=grow, names=[name])[name]


_AU_CODE = re.compile(r"^\s*([LR]?)\s*(?:AU)?\s*(\d+)\s*[A-E]?\s*$", re.IGNORECASE)


def _parse_au(code: Any, side: str | None) -> tuple[int, str | None]:
    """An AU given as an int or a dataset string ("12", "AU12", "L12", "R4B") -> (number, side)."""
    if isinstance(code, (int, np.integer)) and not isinstance(code, bool):
        return int(code), side
    match = _AU_CODE.match(str(code))
    if not match:
        raise InputError(f"AU code {code!r} is not understood; use a number such as 12, or 'L12' / 'R4' for one side.")
    prefix = match.group(1).upper()
    return int(match.group(2)), (prefix or side)


def au_mask(au_numbers: Any, landmarks: Any, size: tuple[int, int], side: str | None = None, soften: float = DEFAULT_SOFTEN) -> torch.Tensor:
    """Union (pixel maximum) of the regions that the given Action Units move.

    Args:
        au_numbers: one AU or a list: ints (12) or dataset strings ("AU12", "L12", "R4").
        landmarks: ``(478, 2)`` pixel (x, y); size: ``(H, W)``.
        side: "L" or "R" (subject's side) to restrict sided regions (brows, eyes, lip corners);
            an L/R prefix on a code overrides it. Unsided regions (nose, lips) are whole.

    Returns:
        float32 ``(H, W)`` in [0, 1].
    """
    if side is not None and side not in ("L", "R"):
        raise InputError(f"side must be 'L', 'R' (subject's side) or None, got {side!r}.")
    codes = [au_numbers] if isinstance(au_numbers, (int, str, np.integer)) else list(au_numbers)
    if not codes:
        raise InputError("au_numbers is empty; pass at least one Action Unit number, e.g. [4] or [12].")
    names = []
    for code in codes:
        number, code_side = _parse_au(code, side)
        if number not in AU_REGIONS:
            raise InputError(f"AU {number} has no region; known AUs: {sorted(AU_REGIONS)}.")
        region = AU_REGIONS[number]
        names.append(f"{region}_{code_side}" if code_side and region in SIDED_REGIONS else region)
    masks = region_masks(landmarks, size, soften=soften, names=sorted(set(names)))
    return torch.stack(list(masks.values())).amax(dim=0)
