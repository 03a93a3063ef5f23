"""FOMM speed case for ``benchmarks/backbones.py``: official-style inference loop vs magplus's.

Uses the FULL-SIZE vox-256 architecture with RANDOM weights (speed only; no checkpoint is read).
Both paths use the same magplus modules, weights and inputs, so outputs must agree to float32
rounding (the rows report the max abs difference).

- ``official-style``: the demo's ``make_animation``: per frame, keypoints of the frame, then
  ``normalize_kp`` and the full generator forward from the raw source (which re-encodes the
  source and computes the unused full-size ``deformed`` preview), under ``no_grad``.
- ``magplus``: :class:`FOMMBackbone`: source encoded once, batched keypoints and generation,
  ``inference_mode``.

Stages: ``keypoints`` (driving keypoint extraction), ``generation`` (rendering from known
keypoints, source preparation included) and ``end_to_end`` (``animate`` on the clip). The
official-style loops run on the first ``baseline_frames`` frames (they are slow); the speed-up
compares frames per second and the difference is measured on those frames.

Run alone: ``python benchmarks/backbone_cases/fomm.py --frames 4 --size 256 --threads 2``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from backbone_cases import make_row, timed  # noqa: E402

from magplus.backbones.fomm import FOMMBackbone  # noqa: E402
from magplus.backbones.fomm.animate import normalize_kp  # noqa: E402
from magplus.backbones.fomm.config import build_modules  # noqa: E402


def _clip(frames: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth random source ``(3, S, S)`` and driving clip ``(T, 3, S, S)`` in [0, 1]."""
    gen = torch.Generator().manual_seed(0)
    coarse = torch.rand(frames + 1, 3, 8, 8, generator=gen)
    images = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    return images[0], images[1:]


def official_keypoints(backbone: FOMMBackbone, driving: torch.Tensor) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        outs = [backbone.kp_detector(frame[None].to(backbone.device)) for frame in driving]
    return {k: torch.cat([o[k] for o in outs]) for k in outs[0]}


def official_generation(backbone: FOMMBackbone, source: torch.Tensor, motion: dict, adapt: bool = True) -> torch.Tensor:
    """Per frame: normalize_kp + full generator forward from the raw source (demo make_animation)."""
    with torch.no_grad():
        image = source[None].to(backbone.device)
        kp_source = backbone.kp_detector(image)
        initial = {k: v[:1] for k, v in motion.items()}
        out = []
        for index in range(motion["value"].shape[0]):
            kp_norm = normalize_kp(kp_source, {k: v[index:index + 1] for k, v in motion.items()}, initial,
                                   adapt, True, True)
            out.append(backbone.generator(image, kp_driving=kp_norm, kp_source=kp_source)["prediction"].cpu())
    return torch.cat(out)


def official_animation(backbone: FOMMBackbone, source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
    return official_generation(backbone, source, official_keypoints(backbone, driving))


def _diff(a: torch.Tensor | dict, b: torch.Tensor | dict) -> float:
    if isinstance(a, dict):
        return max(_diff(a[k].cpu(), b[k].cpu()) for k in a)
    return float((a.cpu() - b.cpu()).abs().max())


def run(frames: int = 60, size: int = 256, threads: int = 2, device: str = "cpu",
        baseline_frames: int | None = None, batch_size: int = 4) -> list[dict]:
    """Rows for the three stages, official-style and magplus, on ``frames`` random frames."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    kp_detector, generator = build_modules(None)
    backbone = FOMMBackbone.from_state_dicts(generator.state_dict(), kp_detector.state_dict(),
                                             device=device, batch_size=batch_size)
    source, driving = _clip(frames, size)
    n_base = min(frames, baseline_frames or frames)
    common = f"vox-256 architecture, RANDOM weights, {size}x{size}, {threads} thread(s)"
    base_note = f"{common}; demo make_animation loop, per frame, no_grad, first {n_base} frame(s)"
    fast_note = f"{common}; source encoded once, batch {batch_size}, inference_mode, {frames} frame(s)"
    rows = []

    def add(stage, slow_fn, fast_fn):
        slow, slow_s, slow_mem = timed(slow_fn, device)
        fast, fast_s, fast_mem = timed(fast_fn, device)
        base_fps = n_base / slow_s
        fast_head = {k: v[:n_base] for k, v in fast.items()} if isinstance(fast, dict) else fast[:n_base]
        rows.append(make_row("fomm", f"{stage} official-style", device, n_base, slow_s, slow_mem, notes=base_note))
        rows.append(make_row("fomm", f"{stage} magplus", device, frames, fast_s, fast_mem, base_fps,
                             _diff(fast_head, slow), fast_note))
        return fast

    motion = add("keypoints", lambda: official_keypoints(backbone, driving[:n_base]),
                 lambda: backbone.extract_motion(driving))
    add("generation", lambda: official_generation(backbone, source, {k: v[:n_base] for k, v in motion.items()}),
        lambda: backbone.render(backbone.prepare_source(source), motion))
    add("end_to_end", lambda: official_animation(backbone, source, driving[:n_base]),
        lambda: backbone.animate(source, driving))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--baseline-frames", type=int, default=None)
    args = parser.parse_args()
    for row in run(args.frames, args.size, args.threads, args.device, args.baseline_frames):
        print(json.dumps(row))
