"""DeMagPlus training pairs made with an animation backbone: shrink the backbone's macro output.

One scene (:func:`demagnify_scene`):

1. an AU program (drift included) is rendered α× on an augmented *driver* face, with sensor noise:
   the magnified driving clip, as an ideal MagPlus would give it;
2. the backbone animates an augmented *source* face with it: the generated macro clip, with the
   backbone's own artefacts (tracker noise, motion spread beyond the face, rigid-looking parts,
   sub-linear gain);
3. the target is the same program at 1× rendered by the synthetic renderer on the source itself,
   with the motion mapped into the source the way relative transfer maps it (the similarity from
   the driver's to the source's landmarks scales the amplitudes and turns the drift).

The input is the backbone's output at α, the target is the renderer's ground truth at 1×, **not**
the backbone's own output on the 1× program: that one carries the backbone's noise floor at
micro scale (the very failure MagPlus exists to avoid) and would teach DeMagPlus to reproduce it.
Against the renderer's ground truth, DeMagPlus learns to shrink all of the macro clip's motion by
1/α, the artefacts included, and to correct the backbone's gain where it is not linear. All motion
is de-magnified, drift included, as all motion was magnified (the symmetry rule of an
unstabilised pipeline); ``stabilised=True`` makes the pairs the default, stabilised pipeline
sees: no drift on either side, since its head translation never goes through the backbone.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import torch

from ..errors import MagplusError
from .face_data import WINDOW, _uniform, augmented_face, draw_alpha, motion_window, render_with_fallback, \
    sample_face_program, to_uint8


def mapped_program(program, scale: float, rotation: np.ndarray):
    """``program`` as relative transfer carries it onto another face: amplitudes × ``scale``, drift
    rotated and scaled (``rotation`` ``(2, 2)`` maps driver to source directions)."""
    events = [dataclasses.replace(e, amplitude_px=e.amplitude_px * scale) for e in program.events]
    blink = dataclasses.replace(program.blink, amplitude_px=program.blink.amplitude_px * scale) if program.blink else None
    drift = scale * rotation @ np.asarray(program.drift_px, dtype=np.float64)
    return dataclasses.replace(program, events=events, blink=blink, drift_px=(float(drift[0]), float(drift[1])))


def _noisy(frames: torch.Tensor, sigma: float, gen: torch.Generator) -> torch.Tensor:
    return ((frames + sigma * torch.randn(frames.shape, generator=gen)).clamp(0, 1) * 255).round() / 255


def _one_scene(seed: int, faces: Sequence[str], alpha_max: float, backbone, pairs: int,
               stabilised: bool) -> dict[str, torch.Tensor]:
    from ..backbones.landmark_warp import similarity_transform
    from ..synth import render_program

    gen = torch.Generator().manual_seed(seed)
    pick = lambda: faces[int(torch.randint(len(faces), (1,), generator=gen))]  # noqa: E731
    driver, driver_lm = augmented_face(pick(), gen)
    source, source_lm = augmented_face(pick(), gen)
    alpha = draw_alpha(gen, alpha_max)
    # The backbone smooths over time: a real frame rate.
    program = sample_face_program(gen, alpha, fps=30.0, drift=not stabilised)
    big, alpha = render_with_fallback(program, driver, driver_lm, alpha)
    driving = _noisy(big.frames, _uniform(gen, 0.0, 3.0 / 255.0), gen)
    with torch.no_grad():
        macro = backbone.animate(source, driving)
    scale, rotation, _ = similarity_transform(driver_lm, source_lm)
    truth = render_program(mapped_program(program, scale, rotation), face=source, landmarks=source_lm, scale_drift=True)
    t = len(truth)
    others = torch.randperm(t - 1, generator=gen)[: pairs - 1] + 1
    chosen = [truth.apex_index] + [int(i) for i in others] + [truth.apex_index] * max(0, pairs - t)
    y, x = motion_window(truth.masks["expression"], gen)
    win = (slice(None), slice(y, y + WINDOW), slice(x, x + WINDOW))
    return {"ref": to_uint8(macro[0][win]), "frames": to_uint8(macro[chosen][(slice(None), *win)]),
            "targets": to_uint8(truth.frames[chosen][(slice(None), *win)]),
            "field": torch.zeros(pairs, 2, WINDOW, WINDOW, dtype=torch.float16),  # the macro clip's motion is unknown
            "alpha": torch.full((pairs,), 1.0 / float(alpha)), "field_valid": torch.zeros(pairs)}


def demagnify_scene(seed: int, faces: Sequence[str], alpha_max: float, backbone, pairs: int = 8,
                    tries: int = 4, stabilised: bool = False) -> dict[str, torch.Tensor]:
    """One DeMagPlus scene (see the module docstring); uint8 windows like
    :func:`magplus.train.face_data.magnify_scene`, ``alpha`` = 1/α_magnify, no field supervision.
    ``stabilised``: programs without head drift, on both sides (the stabilised pipeline takes the
    head's translation out before magnifying and moves the de-magnified frames by it after).

    A scene on which the backbone fails (no face found in a driving frame...) is redrawn with the
    next seed, up to ``tries`` times.
    """
    for attempt in range(tries):
        try:
            return _one_scene(seed + 7919 * attempt, faces, alpha_max, backbone, pairs, stabilised)
        except MagplusError:
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")


def make_backbone(name: str, checkpoint: str | None = None, device: str = "cpu"):
    """The backbone whose output DeMagPlus is trained on (``checkpoint``: the official weights file)."""
    from ..registry import create_backbone

    kwargs = {"checkpoint": checkpoint} if checkpoint else {}
    backbone = create_backbone(name, **kwargs)
    return backbone.to(device) if device != "cpu" and hasattr(backbone, "to") else backbone


__all__ = ["demagnify_scene", "make_backbone", "mapped_program"]
