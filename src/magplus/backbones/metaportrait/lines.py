"""Inputs of the MetaPortrait generator computed from 669 dense landmarks, as the official dataset does.

Dense landmarks are ``(669, 2)`` ``(x, y)`` normalised to [0, 1] of the 256x256 crop (the format
of the official ``*_ldmk.npy`` files). From them:

* :func:`draw_line_image`: the mesh edges drawn as 1-px anti-aliased lines on black, edge ``i``
  in palette colour ``i`` -> ``(3, 256, 256)`` in [0, 1];
* :func:`select_sparse`: the 58 selected landmarks in [-1, 1] (rows 29:37 feed the gaze heatmaps);
* :func:`mouth_mask`: the padded mouth rectangle that masks the driving line image.

The mesh's 616 edges are NOT shipped with magplus (material of the official repository stays out
of the project): :func:`load_connectivity` reads ``base_model/utils/dense_669_connectivity.tsv``
from the user's own official checkout, found by :func:`mesh_edges` (explicit file, checkout root,
or the ``MAGPLUS_METAPORTRAIT_CONNECTIVITY`` environment variable). Edges are passed explicitly
to every function that draws or maps them; there is no module-level mesh.
"""

from __future__ import annotations

import functools
import os
import random
from pathlib import Path

import numpy as np
import torch

from ...errors import InputError, ShapeError

NUM_DENSE = 669
#: Edge count of the official mesh; the palette (and so the trained colours) depends on it.
NUM_EDGES = 616
#: Where the connectivity lies inside an official MetaPortrait checkout.
CONNECTIVITY_IN_REPO = Path("base_model") / "utils" / "dense_669_connectivity.tsv"
#: Environment variable naming the connectivity file when no argument is given.
CONNECTIVITY_ENV = "MAGPLUS_METAPORTRAIT_CONNECTIVITY"
CONNECTIVITY_HELP = (
    f"MetaPortrait's line images need the mesh connectivity {CONNECTIVITY_IN_REPO.as_posix()} of the official "
    "checkout (github.com/Meta-Portrait/MetaPortrait; magplus does not ship it): pass the file with --connectivity "
    f"(connectivity=), the checkout root with --repo (repo=), or set {CONNECTIVITY_ENV}."
)
#: The 58 selected dense-landmark rows (``dataset.ldmk_idx`` of meta_portrait_256_eval.yaml).
SPARSE_INDEX = (521, 505, 338, 398, 347, 35, 191, 30, 32, 207, 630, 629, 319, 4, 541, 61, 637, 660, 638,
                587, 273, 590, 269, 432, 118, 327, 12, 373, 58, 619, 466, 469, 464, 308, 152, 305, 150, 411,
                635, 634, 564, 250, 443, 129, 364, 322, 49, 7, 361, 105, 434, 120, 500, 186, 575, 261, 636, 74)
#: Sparse rows giving the mouth rectangle: x from rows 14..15, y from rows 56..57; padding in px.
MOUTH_X_ROWS, MOUTH_Y_ROWS, MOUTH_PAD = (14, 15), (56, 57), 5


def _parse_edge_line(line: str, number: int, path: Path) -> tuple[int, int]:
    """One ``"a b"`` line of the official file (two decimal vertex indices) -> ``(a, b)``."""
    fields = line.split()
    if len(fields) != 2 or not all(f.isdigit() for f in fields):
        raise InputError(
            f"connectivity file {str(path)!r} line {number} is {line.strip()!r}, but every line must hold two "
            f"vertex indices separated by a space; pass the official {CONNECTIVITY_IN_REPO.name}."
        )
    return int(fields[0]), int(fields[1])


def load_connectivity(path: str | Path) -> np.ndarray:
    """Read and validate the official mesh connectivity file.

    Format (as the official dataset reads it): one edge per line, two vertex indices separated by
    white space; line order is drawing order (edge ``i`` gets palette colour ``i``). Blank lines are
    ignored.

    Returns:
        ``(616, 2)`` int64 edges, indices in ``[0, 669)``.

    Raises:
        InputError: missing/unreadable file, a malformed line, a wrong edge count or an index out of range.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"connectivity file {str(path)!r} does not exist. {CONNECTIVITY_HELP}")
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"connectivity file {str(path)!r} cannot be read as text ({error}); "
                         f"pass the official {CONNECTIVITY_IN_REPO.name}.") from error
    rows = [_parse_edge_line(line, n, path) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    edges = np.asarray(rows, dtype=np.int64).reshape(-1, 2)
    if len(edges) != NUM_EDGES:
        raise InputError(f"connectivity file {str(path)!r} has {len(edges)} edges, but the official 669-point "
                         f"mesh has {NUM_EDGES}; pass the official {CONNECTIVITY_IN_REPO.name}.")
    return check_edges(edges, f"connectivity file {str(path)!r}")


def check_edges(edges: np.ndarray, name: str = "edges") -> np.ndarray:
    """Validate an edge array: integer ``(E, 2)`` with ``E >= 1`` and indices in ``[0, 669)`` -> int64 copy."""
    array = np.asarray(edges)
    if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0 or not np.issubdtype(array.dtype, np.integer):
        raise ShapeError(f"{name} must be a non-empty integer (E, 2) edge array, got {array.dtype} {array.shape}; "
                         "load it with load_connectivity.")
    if array.min() < 0 or array.max() >= NUM_DENSE:
        raise InputError(f"{name} holds vertex indices in [{array.min()}, {array.max()}], but the mesh has "
                         f"{NUM_DENSE} vertices (0..{NUM_DENSE - 1}); pass the official {CONNECTIVITY_IN_REPO.name}.")
    return array.astype(np.int64)


def resolve_connectivity(connectivity: str | Path | None = None, repo: str | Path | None = None) -> Path | None:
    """The connectivity file to read: ``connectivity``, else ``repo``/base_model/utils/..., else the env var, else None."""
    if connectivity:
        return Path(connectivity)
    if repo:
        return Path(repo) / CONNECTIVITY_IN_REPO
    from_env = os.environ.get(CONNECTIVITY_ENV)
    return Path(from_env) if from_env else None


def mesh_edges(connectivity: str | Path | None = None, repo: str | Path | None = None) -> np.ndarray:
    """``(616, 2)`` int64 mesh edges from the source :func:`resolve_connectivity` picks.

    Raises:
        InputError: no source given (names the file, ``--connectivity`` and the env var), or a bad file.
    """
    path = resolve_connectivity(connectivity, repo)
    if path is None:
        raise InputError(CONNECTIVITY_HELP)
    return load_connectivity(path)


@functools.lru_cache(maxsize=4)
def edge_palette(count: int = NUM_EDGES) -> tuple[tuple[int, int, int], ...]:
    """One colour per edge for ``count`` edges, built by the official procedure (so the network sees its colours).

    A cubic grid of levels ``range(0, 255, int(255 / count ** (1/3)))``, the last ``count`` entries,
    shuffled by Python's ``random`` seeded with 0.
    """
    if not isinstance(count, int) or count < 1:
        raise InputError(f"edge count must be a positive integer, got {count!r}; pass len(edges).")
    step = int(255 / count ** (1.0 / 3))
    levels = range(0, 255, step)
    colours = [(r, g, b) for r in levels for g in levels for b in levels][-count:]
    random.Random(0).shuffle(colours)
    return tuple(colours)


def check_dense(landmarks: np.ndarray, name: str = "landmarks", allow_missing: bool = False) -> np.ndarray:
    """Validate dense landmarks: finite ``(669, 2)`` (or ``(T, 669, 2)``) normalised coordinates.

    ``allow_missing`` accepts NaN rows (vertices the approximate MediaPipe mode does not place).
    """
    array = np.asarray(landmarks, dtype=np.float32)
    if array.ndim not in (2, 3) or array.shape[-2:] != (NUM_DENSE, 2):
        raise ShapeError(f"{name} must have shape (669, 2) or (T, 669, 2) of (x, y) in [0, 1], got {array.shape}.")
    if np.isinf(array).any() or (not allow_missing and np.isnan(array).any()):
        raise ShapeError(f"{name} contains NaN or infinite values; re-run the landmark extraction.")
    low, high = (np.nanmin(array), np.nanmax(array)) if np.isfinite(array).any() else (0.0, 1.0)
    if low < -0.5 or high > 1.5:
        raise ShapeError(
            f"{name} values span [{low:.3g}, {high:.3g}], but MetaPortrait landmarks are normalised "
            "to [0, 1] of the 256x256 crop; divide pixel coordinates by the crop size."
        )
    return array


def draw_line_image(landmarks: np.ndarray, edges: np.ndarray, size: int = 256) -> torch.Tensor:
    """Draw the mesh edges of one face: ``(669, 2)`` in [0, 1] -> ``(3, size, size)`` float32 in [0, 1].

    ``edges`` ``(E, 2)`` (from :func:`mesh_edges`) are drawn in order, edge ``i`` in colour
    ``edge_palette(E)[i]``.

    Points are truncated to integer pixels (``int(x * size)``) and joined by 1-px ``cv2.LINE_AA``
    lines, as in the official dataset. Edges with an endpoint marked NaN are skipped (used by the
    approximate MediaPipe mode for vertices it cannot place).
    """
    import cv2

    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (NUM_DENSE, 2):
        raise ShapeError(f"landmarks must have shape (669, 2), got {points.shape}.")
    edges = check_edges(edges)
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    valid = np.isfinite(points).all(axis=1)
    pixels = np.trunc(np.nan_to_num(points) * size).astype(np.int64)
    for (start, end), colour in zip(edges, edge_palette(len(edges))):
        if valid[start] and valid[end]:
            cv2.line(canvas, tuple(int(v) for v in pixels[start]), tuple(int(v) for v in pixels[end]),
                     colour, 1, cv2.LINE_AA)
    return torch.from_numpy(canvas).permute(2, 0, 1).float() / 255.0


def select_sparse(landmarks: np.ndarray) -> np.ndarray:
    """The 58 selected landmarks ``(58, 2)`` in [-1, 1] (``ldmk * 2 - 1``, rows ``SPARSE_INDEX``)."""
    points = np.asarray(landmarks, dtype=np.float32)
    return (points * 2 - 1)[list(SPARSE_INDEX)]


def mouth_mask(sparse: np.ndarray, size: int = 256) -> torch.Tensor:
    """Binary mouth rectangle ``(1, size, size)`` from the 58 sparse landmarks in [-1, 1].

    Bounds are truncated ``(v + 1) * size / 2`` of rows 14/15 (x) and 56/57 (y), padded by 5 px.
    """
    sparse = np.asarray(sparse, dtype=np.float32)

    def to_pixel(value: np.float32) -> int:
        return int((value + 1) * size / 2)  # float32 arithmetic, as the official numpy code

    left, right = (to_pixel(sparse[row, 0]) for row in MOUTH_X_ROWS)
    top, bottom = (to_pixel(sparse[row, 1]) for row in MOUTH_Y_ROWS)
    mask = torch.zeros(1, size, size)
    mask[0, max(0, top - MOUTH_PAD):min(size, bottom + MOUTH_PAD + 1),
         max(0, left - MOUTH_PAD):min(size, right + MOUTH_PAD + 1)] = 1
    return mask
