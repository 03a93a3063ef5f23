"""MetaPortrait speed case for ``benchmarks/backbones.py``.

Uses the FULL-SIZE meta_portrait_256_eval generator (130 M parameters) with RANDOM weights (speed
only; no checkpoint is read), random face-like dense landmarks and SYNTHETIC mesh connectivity
(616 random edges: magplus does not ship the official ``dense_669_connectivity.tsv``, and drawing
speed depends on the edge count, not on which vertices an edge joins). The model always works at
256x256 (its SPADE decoder renders 256 px), so ``size`` only sets the driving frames' size.

Stages:
- ``line_images``: drawing the 669-point mesh of each driving frame (cv2, CPU);
- ``generation``: :meth:`MetaPortraitBackbone.render` from known landmarks (line images, mouth
  mask, gaze heatmaps and the full generator forward per frame, batch 1 as the official inference).
There is no separate official-style path: magplus's forward is the official computation
re-implemented (golden parity), so no speed-up is claimed.

Run alone: ``python benchmarks/backbone_cases/metaportrait.py --frames 2 --threads 2``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from backbone_cases import make_row, timed  # noqa: E402

from magplus.backbones.metaportrait import MetaPortraitBackbone, MetaPortraitConfig, MetaPortraitGenerator  # noqa: E402
from magplus.backbones.metaportrait.backbone import MetaPortraitSource  # noqa: E402
from magplus.backbones.metaportrait.lines import NUM_DENSE, NUM_EDGES, draw_line_image  # noqa: E402


def _synthetic_edges() -> np.ndarray:
    """616 random edges over the 669 vertices (a stand-in for the official connectivity, speed only)."""
    rng = np.random.default_rng(1)
    starts = rng.integers(0, NUM_DENSE, size=NUM_EDGES)
    return np.stack([starts, (starts + rng.integers(1, NUM_DENSE, size=NUM_EDGES)) % NUM_DENSE], axis=1)


def _random_backbone(device: str) -> MetaPortraitBackbone:
    """A backbone around a random full-size generator (bypasses checkpoint loading on purpose)."""
    backbone = MetaPortraitBackbone.__new__(MetaPortraitBackbone)
    backbone.config = MetaPortraitConfig()
    backbone.device = torch.device(device)
    backbone.generator = MetaPortraitGenerator(backbone.config).eval().to(device)
    backbone.official, backbone.approximate = None, True
    backbone.edges, backbone.plan = _synthetic_edges(), None
    backbone.identity = torch.randn(1, backbone.config.id_dim)
    return backbone


def _landmarks(frames: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.uniform(0.3, 0.7, size=(669, 2))
    return np.stack([base + rng.normal(0, 0.003, size=base.shape) for _ in range(frames + 1)]).astype(np.float32)


def run(frames: int = 4, size: int = 256, threads: int = 2, device: str = "cpu") -> list[dict]:
    """Rows for ``line_images`` and ``generation`` on ``frames`` frames."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    backbone = _random_backbone(device)
    dense = _landmarks(frames)
    source_image = torch.rand(3, size, size)
    _, line_s, line_mb = timed(lambda: [draw_line_image(d, backbone.edges) for d in dense[1:]])
    rows = [make_row("metaportrait", "line_images", device, frames, line_s, line_mb,
                     notes="669-point mesh drawn with cv2 LINE_AA, 616 synthetic edges per frame")]
    # The source is prepared by hand from known landmarks (prepare_source would run MediaPipe).
    prepared = MetaPortraitSource(image=torch.nn.functional.interpolate(source_image[None], size=(256, 256)),
                                  dense=dense[0], line=draw_line_image(dense[0], backbone.edges)[None])
    # ~8 CPU-seconds per frame at full size: at most 2 frames keep the case under 2 minutes.
    count = min(frames, 2) if device == "cpu" else frames
    out, gen_s, gen_mb = timed(lambda: backbone.render(prepared, dense[1:count + 1], relative=False), device)
    assert out.shape == (count, 3, 256, 256)
    rows.append(make_row("metaportrait", "generation", device, count, gen_s, gen_mb,
                         notes=f"full-size random weights (130 M params), batch 1 per frame as the official "
                               f"inference; {count} frame(s)"))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=2)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(json.dumps(run(args.frames, args.size, args.threads, args.device), indent=1))
