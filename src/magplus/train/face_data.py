"""Face training data: AU programs of :mod:`magplus.synth` rendered on augmented bundled faces.

MagPlus scenes (:func:`magnify_scene`): one sampled AU program (drift and blink included) rendered
on an augmented face at 1× and at α× by the synthetic renderer, whose flow is *defined* to be
exactly linear in α, so the α× clip is the exact ground truth of a magnifier. All motion is
scaled, head drift included (``scale_drift=True``): the symmetry rule of the pipeline leaves the
treatment of head motion to the pipeline, the magnifier scales everything (FlowMag).

DeMagPlus scenes (:mod:`magplus.train.backbone_pairs`) hold a backbone's output instead.

Rendering at 256² costs about 0.5 s per clip, so a deterministic *bank* of scenes is built once
per run (cached in the run folder, so a resumed run reuses it) and :class:`FaceBank` draws
training items from it: a random crop of a stored window, flips, and fresh input noise.
Every item is a pure function of ``(seed, index)`` and the bank, which is a pure function of
its own seed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError, NoFaceError

#: Bundled faces (public domain, see :mod:`magplus.synth.faces`).
FACE_NAMES = ("astronaut", "grace_hopper")
#: Faces the shipped weights were trained on; the other one is held out for evaluation (with only
#: two bundled faces, a figure measured on a trained face could not reveal over-fitting to it).
TRAIN_FACES = ("astronaut",)
HELD_OUT_FACES = ("grace_hopper",)
#: Side of the stored window around the motion; training crops are taken inside it.
WINDOW = 128


def bundled_face(name: str, size: int = 256) -> torch.Tensor:
    """A bundled face crop ``(3, size, size)`` by name (see :data:`FACE_NAMES`)."""
    from ..synth import default_face, second_face

    if name not in FACE_NAMES:
        raise InputError(f"unknown face {name!r}; bundled faces: {', '.join(FACE_NAMES)}.")
    return default_face(size) if name == "astronaut" else second_face(size)


def _uniform(gen: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand(1, generator=gen))


def photometric(image: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random gain, offset, gamma, white balance, saturation and blur of ``(3, H, W)`` (one per scene)."""
    out = image.clamp(1e-4, 1) ** _uniform(gen, 0.7, 1.4)
    grey = out.mean(0, keepdim=True)
    out = grey + (out - grey) * _uniform(gen, 0.4, 1.3)
    out = out * torch.empty(3, 1, 1).uniform_(0.88, 1.12, generator=gen)
    out = (out - 0.5) * _uniform(gen, 0.7, 1.25) + 0.5 + _uniform(gen, -0.08, 0.08)
    sigma = _uniform(gen, 0.0, 1.2) if float(torch.rand(1, generator=gen)) < 0.4 else 0.0
    if sigma > 0.3:  # soft video: a separable Gaussian
        radius = int(math.ceil(2.5 * sigma))
        x = torch.arange(-radius, radius + 1, dtype=torch.float32)
        kernel = torch.exp(-0.5 * (x / sigma) ** 2)
        kernel = kernel / kernel.sum()
        padded = F.pad(out[None], (radius, radius, radius, radius), mode="reflect")
        padded = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(3, 1, 1, -1), groups=3)
        out = F.conv2d(padded, kernel.view(1, 1, -1, 1).expand(3, 1, -1, 1), groups=3)[0]
    return out.clamp(0, 1)


def geometric(image: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random flip, rotation (±15°), zoom (crop margins ≈1.45–2.0 like the pipeline's 1.7) and shift.

    Resampled bicubically from the ``(3, H, W)`` face crop (reflected beyond its border).
    """
    _, h, w = image.shape
    angle = math.radians(_uniform(gen, -15.0, 15.0))
    zoom = math.exp(_uniform(gen, math.log(0.85), math.log(1.17)))
    flip = -1.0 if float(torch.rand(1, generator=gen)) < 0.5 else 1.0
    shift = torch.empty(2).uniform_(-0.06, 0.06, generator=gen)
    cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
    theta = torch.tensor([[flip * cos, -sin, float(shift[0])], [flip * sin, cos, float(shift[1])]], dtype=torch.float32)
    grid = F.affine_grid(theta[None], [1, 3, h, w], align_corners=False)
    return F.grid_sample(image[None], grid, mode="bicubic", padding_mode="reflection", align_corners=False)[0].clamp(0, 1)


def augmented_face(name: str, gen: torch.Generator, tries: int = 4) -> tuple[torch.Tensor, np.ndarray]:
    """An augmented bundled face and its MediaPipe landmarks (re-detected: flips swap the sides).

    Raises:
        NoFaceError: no face found after ``tries`` augmentations (should not happen with these ranges).
    """
    from ..face.landmarks import detect_landmarks

    base = bundled_face(name)
    for _ in range(tries):
        face = photometric(geometric(base, gen), gen)
        try:
            return face, np.asarray(detect_landmarks(face), dtype=np.float64)
        except NoFaceError:
            continue
    raise NoFaceError(f"no face found on {tries} augmentations of {name!r}.")


def draw_alpha(gen: torch.Generator, alpha_max: float) -> float:
    """α for a face scene, shaped like automatic α (benchmarks/results/auto_alpha.md): log-uniform in
    [1.5, alpha_max] with 25% of the draws in [alpha_max/2, alpha_max], where small motions clamp."""
    if float(torch.rand(1, generator=gen)) < 0.25:
        return math.exp(_uniform(gen, math.log(alpha_max / 2), math.log(alpha_max)))
    return math.exp(_uniform(gen, math.log(1.5), math.log(alpha_max)))


def sample_face_program(gen: torch.Generator, alpha: float, fps: float = 30.0, frames: int | None = None,
                        drift: bool = True):
    """An AU program whose α-magnified peak lands in 3–28 px (auto α aims at 8 px at the 95th
    percentile of the face, so the true peak is often 2-3 times that), noise-free (added per item).

    ``frames``: sample the program's whole course with this many frames instead of at ``fps``
    (a two-frame magnifier needs the envelope's values, not the frame rate; 4× cheaper to render).
    ``drift``: False gives the program no head drift (what a stabilised pipeline's magnifier and
    de-magnifier see: the head's translation is taken out before and put back after); the same
    draws are made, so the rest of the program is the one ``drift=True`` gives.
    """
    import dataclasses

    from ..synth import sample_program

    magnified_peak = math.exp(_uniform(gen, math.log(3.0), math.log(28.0)))
    amplitude = float(np.clip(magnified_peak / alpha, 0.15, 3.5))
    drift_px = _uniform(gen, 0.0, 1.5) if float(torch.rand(1, generator=gen)) < 0.6 else 0.0
    drift_px = drift_px if drift else 0.0
    angle = _uniform(gen, 0.0, 2 * math.pi)
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    program = sample_program(seed, fps=fps, amplitude_px=amplitude, noise_sigma=0.0, quantise=False,
                             drift_px=(drift_px * math.cos(angle), drift_px * math.sin(angle)))
    if frames is not None:
        # Frames at random fractions of the course: spacing jittered so the apex is not always hit.
        span = program.duration_s * _uniform(gen, 0.75, 1.0)
        program = dataclasses.replace(program, fps=(frames - 1) / span, n_frames=int(frames))
    return program


def render_with_fallback(program, face, landmarks, alpha: float, tries: int = 4):
    """``render_program`` at α, capped where the skin would fold over (:func:`~magplus.synth.max_alpha`,
    then 0.8× per failure); returns ``(clip, α)``."""
    from ..synth import max_alpha, render_program

    alpha = max(1.0, min(alpha, max_alpha(program, face, landmarks)))
    for _ in range(tries):
        try:
            return render_program(program, face=face, alpha=alpha, landmarks=landmarks, scale_drift=True), alpha
        except InputError:
            alpha = max(1.0, 0.8 * alpha)
    return render_program(program, face=face, alpha=1.0, landmarks=landmarks), 1.0


def motion_window(mask: torch.Tensor, gen: torch.Generator, size: int = WINDOW) -> tuple[int, int]:
    """Top-left corner of a ``size``² window, centred on a pixel of ``mask`` 75% of the time."""
    h, w = mask.shape
    points = torch.nonzero(mask)
    if len(points) and float(torch.rand(1, generator=gen)) < 0.75:
        y, x = (int(v) for v in points[int(torch.randint(len(points), (1,), generator=gen))])
    else:
        y, x = int(torch.randint(h, (1,), generator=gen)), int(torch.randint(w, (1,), generator=gen))
    return int(np.clip(y - size // 2, 0, h - size)), int(np.clip(x - size // 2, 0, w - size))


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def magnify_scene(seed: int, faces: Sequence[str], alpha_max: float, pairs: int = 6) -> dict[str, torch.Tensor]:
    """One MagPlus scene: ``pairs`` frames of a program on an augmented face, at 1× and α×.

    Returns uint8 windows ``ref`` ``(3, W, W)``, ``frames`` / ``targets`` ``(P, 3, W, W)``, the
    first-order field ``(P, 2, W, W)`` (float16) and ``alpha`` ``(P,)``.
    """
    gen = torch.Generator().manual_seed(seed)
    face, landmarks = augmented_face(faces[int(torch.randint(len(faces), (1,), generator=gen))], gen)
    alpha = draw_alpha(gen, alpha_max)
    program = sample_face_program(gen, alpha, frames=pairs + 1)
    big, alpha = render_with_fallback(program, face, landmarks, alpha)
    from ..synth import render_program

    small = render_program(program, face=face, landmarks=landmarks, scale_drift=True)
    chosen = list(range(1, pairs + 1))
    y, x = motion_window(small.masks["expression"], gen)
    win = (slice(None), slice(y, y + WINDOW), slice(x, x + WINDOW))
    # Backward map of the applied field (magplus.train.data): Î(q) = It(q + f(q)), f ≈ -(α - 1)·flow_t(q).
    field = -(alpha - 1.0) * small.flow[chosen][(slice(None), *win)] if alpha > 1 else torch.zeros(pairs, 2, WINDOW, WINDOW)
    return {"ref": to_uint8(small.frames[0][win]), "frames": to_uint8(small.frames[chosen][(slice(None), *win)]),
            "targets": to_uint8(big.frames[chosen][(slice(None), *win)]), "field": field.half(),
            "alpha": torch.full((pairs,), float(alpha)), "field_valid": torch.ones(pairs)}


def exact_demagnify_scene(seed: int, faces: Sequence[str], alpha_max: float, pairs: int = 4) -> dict[str, torch.Tensor]:
    """A DeMagPlus scene without a backbone: the α× render is the input, the 1× render the target."""
    scene = magnify_scene(seed, faces, alpha_max, pairs)
    # De-magnifying by 1/α applies the opposite field: f ≈ -(1/α - 1)·α·flow_t = -(magnifier's field).
    return {**scene, "frames": scene["targets"], "targets": scene["frames"], "field": -scene["field"],
            "alpha": 1.0 / scene["alpha"]}


def build_bank(make_scene: Callable[[int], dict], count: int, seed: int, key: str = "", cache: Path | None = None,
               log: Callable[[str], None] | None = None, save_every: int = 8) -> list[dict]:
    """``count`` scenes ``make_scene(seed·1_000_003 + i)``, kept in ``cache`` (torch file) as they are made.

    ``key`` describes everything that defines the scenes; a cache with another key is rebuilt. An
    interrupted build resumes from the scenes already saved (every ``save_every`` scenes).
    """
    scenes: list[dict] = []
    if cache is not None and cache.is_file():
        bank = torch.load(cache, weights_only=True)
        if bank.get("key") == key:
            scenes = list(bank["scenes"][:count])

    def save() -> None:
        from ..io.atomic import atomic_output

        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(cache) as tmp:
            torch.save({"key": key, "scenes": scenes}, tmp)

    log = log or (lambda text: print(text, flush=True))
    started = len(scenes)
    for index in range(started, count):
        scenes.append(make_scene(seed * 1_000_003 + index))
        done = index + 1
        if done % 10 == 0 or done == count:
            log(f"face bank: {done}/{count} scenes")
        if cache is not None and (done % save_every == 0 or done == count):
            save()
    return scenes


class FaceBank(torch.utils.data.Dataset):
    """Training items drawn from a bank of scenes: random crop, flips, fresh input noise.

    Args:
        scenes: from :func:`build_bank`.
        size: crop side (multiple of 8, at most the stored window).
        seed: item ``i`` depends only on ``(seed, i)`` and the bank.
        max_noise: input noise σ uniform in ``[0, max_noise]`` (the targets stay clean).

    Items have the keys of :class:`magplus.train.data.SyntheticPairs`.
    """

    def __init__(self, scenes: list[dict], size: int, seed: int = 0, max_noise: float = 0.012, length: int = 10**7):
        if not scenes:
            raise InputError("the face bank is empty; give face_clips > 0.")
        if size > scenes[0]["ref"].shape[-1]:
            raise InputError(f"size {size} exceeds the stored window {scenes[0]['ref'].shape[-1]}.")
        self.scenes, self.size, self.seed, self.max_noise, self.length = scenes, size, seed, max_noise, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + int(index) + 11)
        scene = self.scenes[int(torch.randint(len(self.scenes), (1,), generator=gen))]
        k = int(torch.randint(scene["frames"].shape[0], (1,), generator=gen))
        full = scene["ref"].shape[-1]
        y, x = (int(v) for v in torch.randint(0, full - self.size + 1, (2,), generator=gen))
        crop = (..., slice(y, y + self.size), slice(x, x + self.size))
        images = torch.stack([scene["ref"], scene["frames"][k], scene["targets"][k]])[crop].float() / 255
        field = scene["field"][k][crop].float()
        for dim, component in ((-1, 0), (-2, 1)):  # flips keep the target exact; the field's sign follows
            if float(torch.rand(1, generator=gen)) < 0.5:
                images, field = images.flip(dim), field.flip(dim)
                field[component] = -field[component]
        sigma = float(torch.rand(1, generator=gen)) * self.max_noise
        noisy = ((images[:2] + sigma * torch.randn(images[:2].shape, generator=gen)).clamp(0, 1) * 255).round() / 255
        return {"ref": noisy[0], "frame": noisy[1], "target": images[2], "alpha": scene["alpha"][k].float(),
                "field": field, "supervised": torch.tensor(1.0), "field_valid": scene["field_valid"][k].float()}
