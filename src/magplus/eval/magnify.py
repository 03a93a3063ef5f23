"""The magnification protocol: textures moved by a known sub-pixel shift, with ground truth.

Each sample follows the Oh et al. (2018) synthetic set-up: a textured foreground disc (textures
from :func:`magplus.train.data.procedural_texture`) over a different, still background texture.
``I0`` has the disc in place, ``I1`` has it moved by ``δ`` (pixels, random direction), and the ground
truth ``Î*`` has it moved by ``α·δ``; all three are composed from the same bicubic resampling of
larger textures and of a soft matte, so the truth is exact up to that interpolation. The motion
is local (the background stays still), so magnifiers that leave global head motion alone (e.g. the
Lagrangian one, which removes a fitted similarity motion) are tested on what they magnify. The
magnifier gets ``ref = I0, frames = [I0, I1]`` and its output for ``I1`` is scored
(:mod:`.magnification`): SSIM / RMSE / PSNR against ``Î*`` after an 8-px border crop, the FlowMag
motion error inside the same border and the magnification error on the moving disc (on the still
background the ratio |F(I0, Î)| / (|F(I0, I1)| + 1e-4) is flow noise over 1e-4 and means nothing).

Protocols (``quick`` keeps two settings each, 64² textures, 2 textures per setting):

* ``delta``: δ ∈ {0.04, 0.1, 0.25, 0.5, 1} px with α = 10/δ (the magnified motion is always 10 px);
* ``alpha``: δ = 0.25 px, α ∈ {2, 5, 10, 20, 40};
* ``noise``: δ = 0.25 px, α = 20, Gaussian noise σ ∈ {0.001, 0.01, 0.03, 0.1} added to I0 and I1
  (intensity units; the truth stays clean).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch

from ..errors import InputError, MagplusError
from ..ops.warp import backward_warp
from .magnification import BORDER_PX, frame_fidelity, magnification_error, motion_error

#: protocol -> list of (δ px, α, noise σ).
FULL_SETTINGS: dict[str, list[tuple[float, float, float]]] = {
    "delta": [(d, 10.0 / d, 0.0) for d in (0.04, 0.1, 0.25, 0.5, 1.0)],
    "alpha": [(0.25, a, 0.0) for a in (2.0, 5.0, 10.0, 20.0, 40.0)],
    "noise": [(0.25, 20.0, s) for s in (0.001, 0.01, 0.03, 0.1)],
}
QUICK_SETTINGS: dict[str, list[tuple[float, float, float]]] = {
    "delta": [(0.1, 100.0, 0.0), (0.5, 20.0, 0.0)],
    "alpha": [(0.25, 5.0, 0.0), (0.25, 20.0, 0.0)],
    "noise": [(0.25, 20.0, 0.01), (0.25, 20.0, 0.1)],
}
METRICS: dict[str, tuple[str, str]] = {
    "ssim": ("↑", "SSIM vs the ground-truth magnified frame (8-px border crop)"),
    "rmse": ("↓", "RMSE vs the ground-truth magnified frame (intensity ×255)"),
    "psnr": ("↑", "PSNR vs the ground-truth magnified frame (dB, capped at 100)"),
    "motion_error": ("↓", "FlowMag motion error L1(F(I0, Î), α·F(I0, I1)) (px)"),
    "magnification_error": ("↓", "FlowMag magnification error L1(|F(I0, Î)| / (|F(I0, I1)| + 1e-4), α) on the moving object"),
}


@dataclass
class MagnifySample:
    """One protocol sample: frames ``(2, 3, S, S)`` = [I0, I1], the truth ``(3, S, S)``, its settings and
    ``moving``: ``(S, S)`` mask of the moving object in I0 (where the magnification error is measured)."""

    name: str
    protocol: str
    delta: float
    alpha: float
    noise: float
    frames: torch.Tensor
    truth: torch.Tensor
    moving: torch.Tensor | None = None


def _translate(texture: torch.Tensor, shift: torch.Tensor, size: int, pad: int) -> torch.Tensor:
    """The central ``size``² of ``texture`` ``(C, S, S)`` with its content moved by ``shift`` (x, y) pixels."""
    flow = (-shift).view(2, 1, 1).expand(2, *texture.shape[-2:])  # out(p) = T(p − shift)
    moved = backward_warp(texture[None], flow[None], mode="bicubic")[0]
    return moved[:, pad:pad + size, pad:pad + size].clamp(0, 1)


def _matte(side: int, radius: float) -> torch.Tensor:
    """Soft disc ``(1, side, side)`` centred in the square, with a 1-pixel anti-aliased edge."""
    coords = torch.arange(side, dtype=torch.float32) - (side - 1) / 2.0
    distance = torch.sqrt(coords[None, :] ** 2 + coords[:, None] ** 2)
    return torch.sigmoid((radius - distance) * 2.0)[None]


def _scene(foreground: torch.Tensor, background: torch.Tensor, matte: torch.Tensor, shift: torch.Tensor,
           size: int, pad: int) -> torch.Tensor:
    """Foreground (with its matte) moved by ``shift`` over the still background -> ``(3, size, size)``."""
    alpha = _translate(matte, shift, size, pad)
    return alpha * _translate(foreground, shift, size, pad) + (1.0 - alpha) * background[:, pad:pad + size, pad:pad + size]


def protocol_samples(quick: bool = False, seed: int = 0, size: int | None = None,
                     textures: int | None = None) -> Iterator[MagnifySample]:
    """All samples of the three protocols, deterministic in ``seed``."""
    from ..train.data import procedural_texture

    settings = QUICK_SETTINGS if quick else FULL_SETTINGS
    size = int(size or (64 if quick else 128))
    textures = int(textures or (2 if quick else 8))
    if size < 2 * BORDER_PX + 16 or textures < 1:
        raise InputError(f"size must be >= {2 * BORDER_PX + 16} pixels and textures >= 1, got {size} and {textures}.")
    generator = torch.Generator().manual_seed(int(seed))
    for protocol, entries in settings.items():
        for delta, alpha, noise in entries:
            pad = int(math.ceil(alpha * delta)) + 4  # room for the magnified shift without border effects
            matte = _matte(size + 2 * pad, 0.3 * size)
            for index in range(textures):
                foreground = procedural_texture(generator, size + 2 * pad)
                background = procedural_texture(generator, size + 2 * pad)
                angle = float(torch.rand(1, generator=generator)) * 2 * math.pi
                direction = torch.tensor([math.cos(angle), math.sin(angle)])
                frames = torch.stack([_scene(foreground, background, matte, s * direction, size, pad)
                                      for s in (0.0, delta)])
                if noise > 0:
                    frames = (frames + noise * torch.randn(frames.shape, generator=generator)).clamp(0, 1)
                truth = _scene(foreground, background, matte, alpha * delta * direction, size, pad)
                moving = (matte[0, pad:pad + size, pad:pad + size] > 0.5).float()
                yield MagnifySample(f"{protocol}-d{delta:g}-a{alpha:g}-n{noise:g}-{index}", protocol, delta, alpha,
                                    noise, frames, truth, moving)


def score_sample(magnifier, sample: MagnifySample, flow: Any = "dis") -> dict[str, float]:
    """Magnify one sample and compute :data:`METRICS`."""
    from ..flow.clip import get_flow

    output = magnifier(sample.frames[0], sample.frames, sample.alpha)[1].clamp(0, 1)
    fidelity = frame_fidelity(output, sample.truth)
    estimator = get_flow(flow)
    pair = torch.stack([sample.frames[0], sample.frames[0]])
    flows = estimator(pair, torch.stack([sample.frames[1], output])).float()
    interior = torch.zeros(sample.frames.shape[-2:])
    interior[BORDER_PX:-BORDER_PX, BORDER_PX:-BORDER_PX] = 1.0
    return {"ssim": fidelity.ssim, "rmse": fidelity.rmse, "psnr": fidelity.psnr,
            "motion_error": motion_error(flows[1:], flows[:1], sample.alpha, interior),
            "magnification_error": magnification_error(flows[1:], flows[:1], sample.alpha,
                                                       interior if sample.moving is None else interior * sample.moving)}


def _setting_table(rows: list[dict[str, Any]], metric: str = "ssim") -> list[str]:
    """Markdown lines: mean ``metric`` per protocol setting and magnifier."""
    magnifiers = list(dict.fromkeys(r["condition"] for r in rows))
    settings = list(dict.fromkeys((r["protocol"], r["delta"], r["alpha"], r["noise"]) for r in rows))
    lines = [f"Mean {metric} per setting:", "", "| protocol | δ (px) | α | noise σ | " + " | ".join(magnifiers) + " |",
             "|---|---|---|---|" + "---|" * len(magnifiers)]
    for setting in settings:
        cells = []
        for name in magnifiers:
            values = [r[metric] for r in rows if r["condition"] == name and (r["protocol"], r["delta"], r["alpha"],
                                                                             r["noise"]) == setting]
            cells.append(f"{sum(values) / len(values):.3g}" if values else "–")
        lines.append(f"| {setting[0]} | {setting[1]:g} | {setting[2]:g} | {setting[3]:g} | " + " | ".join(cells) + " |")
    return lines


def run_magnify(magnifiers: Sequence[str], output: str, quick: bool = False, flow: Any = "dis", seed: int = 0,
                progress: bool = True, size: int | None = None, textures: int | None = None,
                command: str | None = None):
    """Run the protocols on each magnifier and write a report folder.

    Returns:
        ``(report folder, summary dict)``.
    """
    from tqdm.auto import tqdm

    from ..registry import create_magnifier
    from .plots import plot_settings
    from .report import provenance, summarize_rows, write_report

    if not magnifiers:
        raise InputError("give at least one magnifier name, e.g. --magnifier lagrangian.")
    samples = list(protocol_samples(quick, seed, size, textures))
    rows: list[dict[str, Any]] = []
    for name in magnifiers:
        magnifier = create_magnifier(name)
        for sample in tqdm(samples, desc=f"eval magnify ({name})", unit="sample", disable=not progress):
            base = {"clip": sample.name, "condition": name, "protocol": sample.protocol, "delta": sample.delta,
                    "alpha": sample.alpha, "noise": sample.noise}
            try:
                rows.append({**base, **score_sample(magnifier, sample, flow)})
            except MagplusError as exc:
                rows.append({**base, "condition": "error", "error": f"{name}: {exc}"})
    scored = [r for r in rows if r["condition"] != "error"]
    info = {**provenance(seed, command), "config": {"magnifiers": list(magnifiers), "quick": bool(quick), "flow": str(flow),
                                           "settings": QUICK_SETTINGS if quick else FULL_SETTINGS}}
    notes = _setting_table(scored) if scored else ["Every sample failed; see per_clip.csv."]
    folder = write_report(output, "magplus eval magnify", rows, METRICS, info, notes=notes,
                          extras=lambda tmp: plot_settings(tmp, scored, list(METRICS)))
    return folder, summarize_rows(scored, list(METRICS), seed)
