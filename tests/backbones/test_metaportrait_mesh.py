"""MetaPortrait mesh connectivity: loading the user's official file, validation, sources, palette, contours.

magplus does not ship the official ``dense_669_connectivity.tsv``; every test here builds SYNTHETIC
connectivity files (random edges, or a structured mesh holding the contours the approximation looks
for) in the official text format: one ``"a b"`` line per edge.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from magplus.backbones.metaportrait.approx import contour_plan
from magplus.backbones.metaportrait.lines import (CONNECTIVITY_ENV, CONNECTIVITY_IN_REPO, NUM_EDGES, SPARSE_INDEX,
                                                  edge_palette, load_connectivity, mesh_edges)
from magplus.errors import InputError, ShapeError


def write_connectivity(path: Path, edges: np.ndarray, separator: str = " ") -> Path:
    """Write ``edges`` ``(E, 2)`` in the official format (one edge per line, newline-terminated)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{a}{separator}{b}\n" for a, b in edges))
    return path


def random_edges(seed: int = 0, count: int = NUM_EDGES) -> np.ndarray:
    """``count`` distinct random edges over the 669 vertices (no structure at all)."""
    rng = np.random.default_rng(seed)
    edges: set[tuple[int, int]] = set()
    while len(edges) < count:
        a, b = (int(v) for v in rng.integers(0, 669, size=2))
        if a != b:
            edges.add((min(a, b), max(a, b)))
    return np.array(sorted(edges), dtype=np.int64)


# Synthetic contours: (start, end, vertices that must lie inside, inner length, "high"/"low"/None half).
_STRUCTURED_CHAINS = (
    (505, 338, (398,), 6, None), (505, 338, (347,), 5, None),       # image-left eye: upper, lower lid
    (35, 191, (30,), 6, None), (35, 191, (32,), 5, None),           # image-right eye
    (636, 74, (541,), 10, "high"), (636, 74, (), 10, "low"),        # outer lips (541 = mouth-mask row 14)
    (637, 660, (), 10, "high"), (637, 660, (), 10, "low"),          # inner lips
)
_STRUCTURED_IRISES = ((619, 466, 469, 464), (150, 308, 152, 305))   # gaze rows 29:37, 16-vertex loops


def structured_edges(seed: int = 0) -> tuple[np.ndarray, int]:
    """616 synthetic edges holding the eye, lip and iris contours, padded with random edges elsewhere.

    Returns the edges and the number of contour edges (what the approximation can draw).
    """
    rng = np.random.default_rng(seed)
    reserved = set(SPARSE_INDEX)
    pool = [v for v in rng.permutation(669).tolist() if v not in reserved]
    take = {"high": [v for v in pool if v >= 311], "low": [v for v in pool if v < 311], None: pool}

    def fillers(count: int, half) -> list[int]:
        chosen = take[half][:count]
        for v in chosen:
            for options in take.values():
                if v in options:
                    options.remove(v)
        return chosen

    edges, used = [], set()
    for start, end, inside, length, half in _STRUCTURED_CHAINS:
        path = [start, *inside, *fillers(length - len(inside), half), end]
        edges += list(zip(path[:-1], path[1:]))
        used.update(path)
    for anchors in _STRUCTURED_IRISES:
        loop = [*anchors, *fillers(16 - len(anchors), None)]
        edges += list(zip(loop, loop[1:] + loop[:1]))
        used.update(loop)
    contour_count = len(edges)
    free = [v for v in range(669) if v not in used]
    present = {frozenset(e) for e in edges}
    while len(edges) < NUM_EDGES:  # padding touches no contour vertex, so contour degrees stay 2
        a, b = (int(v) for v in rng.choice(free, size=2, replace=False))
        if frozenset((a, b)) not in present:
            present.add(frozenset((a, b)))
            edges.append((a, b))
    return np.array(edges, dtype=np.int64), contour_count


def test_loader_round_trip(tmp_path):
    edges = random_edges(1)
    loaded = load_connectivity(write_connectivity(tmp_path / "mesh.tsv", edges))
    assert loaded.shape == (616, 2) and loaded.dtype == np.int64
    np.testing.assert_array_equal(loaded, edges)  # order kept: it decides the colours
    tabbed = write_connectivity(tmp_path / "tabbed.tsv", edges[::-1], separator="\t")
    np.testing.assert_array_equal(load_connectivity(tabbed), edges[::-1])


def test_loader_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(InputError, match=r"does not exist.*--connectivity"):
        load_connectivity(tmp_path / "missing.tsv")
    bad = tmp_path / "bad.tsv"
    bad.write_text("1 2\n3 4\n5,6\n")
    with pytest.raises(InputError, match=r"line 3 is '5,6'"):
        load_connectivity(bad)
    bad.write_text("1 2 3\n")
    with pytest.raises(InputError, match=r"line 1 .*two vertex indices"):
        load_connectivity(bad)
    with pytest.raises(InputError, match="has 615 edges, but the official 669-point mesh has 616"):
        load_connectivity(write_connectivity(tmp_path / "short.tsv", random_edges(0)[:615]))
    out_of_range = random_edges(0)
    out_of_range[7] = (3, 669)
    with pytest.raises(InputError, match=r"\[0, 669\].*669 vertices"):
        load_connectivity(write_connectivity(tmp_path / "range.tsv", out_of_range))
    (tmp_path / "binary.tsv").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputError, match="cannot be read as text"):
        load_connectivity(tmp_path / "binary.tsv")


def test_connectivity_sources_in_order(tmp_path, monkeypatch):
    monkeypatch.delenv(CONNECTIVITY_ENV, raising=False)
    with pytest.raises(InputError, match=rf"dense_669_connectivity\.tsv.*--connectivity.*{CONNECTIVITY_ENV}"):
        mesh_edges()
    explicit = write_connectivity(tmp_path / "explicit.tsv", random_edges(1))
    write_connectivity(tmp_path / "checkout" / CONNECTIVITY_IN_REPO, random_edges(2))
    from_env = write_connectivity(tmp_path / "env.tsv", random_edges(3))
    monkeypatch.setenv(CONNECTIVITY_ENV, str(from_env))
    np.testing.assert_array_equal(mesh_edges(), random_edges(3))
    np.testing.assert_array_equal(mesh_edges(repo=tmp_path / "checkout"), random_edges(2))
    np.testing.assert_array_equal(mesh_edges(explicit, repo=tmp_path / "checkout"), random_edges(1))
    with pytest.raises(InputError, match="does not exist"):
        mesh_edges(repo=tmp_path)  # a folder that is not an official checkout


def test_palette_follows_the_official_procedure():
    palette = edge_palette(616)
    assert len(palette) == 616 and len(set(palette)) == 616
    # 616 edges: levels of the cubic grid are multiples of int(255 / 616 ** (1/3)) = 29 below 255.
    assert {c for colour in palette for c in colour} <= set(range(0, 255, 29))
    assert palette[0] != (0, 0, 0)  # the last 616 of the 729 grid colours: black is never used
    small = edge_palette(8)  # the step depends on the edge count: int(255 / 2) = 127
    assert len(small) == 8 and {c for colour in small for c in colour} <= {0, 127, 254}
    with pytest.raises(InputError, match="positive integer"):
        edge_palette(0)


def test_contour_plan_on_structured_and_random_meshes():
    edges, _ = structured_edges()
    plan = contour_plan(edges)
    lengths = [len(chain) for chain, _ in plan.chains]
    assert lengths == [8, 7, 8, 7, 12, 12, 12, 12]
    assert 541 in plan.chains[4][0] and plan.chains[4][1] == "outer_lips_image_left"
    assert [len(loop) for loop, *_ in plan.irises] == [16, 16]
    assert {619, 466, 469, 464} <= set(plan.irises[0][0])
    with pytest.raises(InputError, match=r"not the official 669-point topology.*--connectivity"):
        contour_plan(random_edges(0))
    with pytest.raises(ShapeError, match=r"\(E, 2\)"):
        contour_plan(np.zeros((616, 3), dtype=np.int64))
