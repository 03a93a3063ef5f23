"""FOMM speed case for ``benchmarks/backbones.py``: official-style inference loop vs magplus's.

Uses the FULL-SIZE vox-256 architecture with RANDOM weights (speed only; no checkpoint is read).
Both paths use the same magplus modules, weights and inputs, so outputs must agree to float32
rounding (the rows report the max abs difference).

- ``official-style``: the demo's ``make_animation``: per frame, keypoints of the frame, then
  ``normalize_kp`` and the full generator forward from the raw source (which re-encodes the
  source and computes the unused full-size ``deformed`` preview), under ``no_grad``.
- ``magplus``: :class:`FOMMBackbone`: source encoded once, batched keypoints and generation,
  ``inference_mode``, inference copies with BatchNorm folded, phase-split up blocks, channels-last.

Stages: ``keypoints`` (driving keypoint extraction) and ``end_to_end`` (``animate`` on the clip:
the exact fast path, the same without the inference copies (``optimise=False``: source caching
and batching only), and the approximate bfloat16 option). Every row of a stage runs interleaved
with the others ``rounds`` times and keeps its fastest run, so all see the same machine load. The
official-style loops run on the first ``baseline_frames`` frames (they are slow); the speed-up
compares frames per second and the difference is measured on those frames.

Run alone: ``python benchmarks/backbone_cases/fomm.py --frames 4 --size 256 --threads 2``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from backbone_cases import make_row, standalone, timed  # noqa: E402

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


def _best_of(rounds: int, device: str, *fns):
    """Run the ``fns`` in turn ``rounds`` times (so each sees the same machine load); per fn the
    result and the fastest ``(seconds, peak_mb)``."""
    best = [None] * len(fns)
    for _ in range(rounds):
        for index, fn in enumerate(fns):
            result, seconds, peak = timed(fn, device)
            if best[index] is None or seconds < best[index][1]:
                best[index] = (result, seconds, peak)
    return best


def run(frames: int = 60, size: int = 256, threads: int = 2, device: str = "cpu",
        baseline_frames: int | None = None, batch_size: int = 4, rounds: int = 2) -> list[dict]:
    """Rows for keypoints and end to end: official-style, magplus (exact) and its variants."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    kp_detector, generator = build_modules(None)
    backbone = FOMMBackbone.from_state_dicts(generator.state_dict(), kp_detector.state_dict(),
                                             device=device, batch_size=batch_size)
    source, driving = _clip(frames, size)
    n_base = min(frames, baseline_frames or frames)
    common = f"vox-256 architecture, RANDOM weights, {size}x{size}, {threads} thread(s), best of {rounds} interleaved"
    base_note = f"{common}; demo make_animation loop, per frame, no_grad, first {n_base} frame(s)"
    fast_note = (f"{common}; source encoded once, batch {batch_size}, inference_mode, BatchNorm folded, "
                 f"phase-split up blocks, channels-last, {frames} frame(s)")
    reference = FOMMBackbone.from_state_dicts(generator.state_dict(), kp_detector.state_dict(), device=device,
                                              batch_size=batch_size, optimise=False)
    backbone.animate(source, driving[:batch_size])  # builds the inference copies; warms the allocator
    rows = []

    def variant(model: FOMMBackbone, precision: str):
        def fn():
            model.precision = precision
            return model.animate(source, driving)
        return fn

    def head(x):
        return {k: v[:n_base] for k, v in x.items()} if isinstance(x, dict) else x[:n_base]

    (slow, slow_s, slow_mem), (fast, fast_s, fast_mem) = _best_of(
        rounds, device, lambda: official_keypoints(backbone, driving[:n_base]), lambda: backbone.detect_keypoints(driving))
    base_fps = n_base / slow_s
    rows.append(make_row("fomm", "keypoints official-style", device, n_base, slow_s, slow_mem, notes=base_note))
    rows.append(make_row("fomm", "keypoints magplus", device, frames, fast_s, fast_mem, base_fps,
                         _diff(head(fast), slow), fast_note))
    results = _best_of(rounds, device, lambda: official_animation(backbone, source, driving[:n_base]),
                       variant(backbone, "float32"), variant(reference, "float32"), variant(backbone, "bfloat16"))
    (slow, slow_s, slow_mem), *others = results
    base_fps = n_base / slow_s
    rows.append(make_row("fomm", "end_to_end official-style", device, n_base, slow_s, slow_mem, notes=base_note))
    names = ("end_to_end magplus", "end_to_end magplus optimise=False", "end_to_end magplus bfloat16")
    notes = (fast_note + "; exact up to float32 rounding",
             f"{common}; source encoded once, batch {batch_size}, inference_mode, reference modules (NCHW, BatchNorm)",
             fast_note + "; APPROXIMATE: dense motion and decoder under bfloat16 autocast (outputs in (0, 1))")
    for name, note, (out, seconds, peak) in zip(names, notes, others):
        rows.append(make_row("fomm", name, device, frames, seconds, peak, base_fps, _diff(head(out), slow), note))
    backbone.precision = "float32"
    return rows


if __name__ == "__main__":
    standalone(run, __doc__.split("\n")[0], size=256)
