"""Training configuration: one dataclass, read from YAML/JSON and overridable from the CLI."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..magnify.nets import MagNetConfig
from .losses import LossWeights

KINDS = ("magplus", "demagplus")


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved in every checkpoint and model card).

    Attributes:
        kind: "magplus" (α in [1, 32]) or "demagplus" (α in [1/32, 1]).
        out: output folder (checkpoints, ``log.jsonl``, exported ``.safetensors``).
        steps: optimiser steps in total.
        batch: samples per step and process.
        size: crop side in pixels (multiple of 8).
        lr: peak learning rate (linear warm-up over ``warmup`` steps, cosine decay to 5%).
        seed: seed of the data and the initial weights.
        net: network size (:class:`MagNetConfig`; ``invert_code`` follows ``kind``).
        loss: :class:`LossWeights`.
        flow: registry name of the differentiable flow estimator for the flow/colour terms.
        images: optional folder of extra source images (synthetic warps with exact ground truth).
        videos: optional folder of videos (consecutive-frame pairs, self-supervised terms only).
        texture_fraction: share of samples on procedural textures.
        translation_fraction: share of generic samples moved by a pure translation.
        amp_max: override of the largest drawn displacement in pixels (of the output for the
            magnifier, of the input for the de-magnifier); None keeps the built-in range.
        max_noise: largest input noise σ.
        checkpoint_every: steps between checkpoints (``last.pt``); also written at the end.
        log_every: steps between JSON-lines log records.
        time_limit: stop (and checkpoint) after this many seconds; 0 = no limit.
        threads: torch CPU threads per process (0 = torch's default).
        alpha_max: the trained range is α ∈ [1, alpha_max] (magplus) or [1/alpha_max, 1]
            (demagplus); saved with the weights, larger factors run as repeated steps.
        faces: bundled faces (``magplus.train.face_data.FACE_NAMES``) on which AU programs are
            rendered (half of the samples); None or [] for generic photos/textures only.
        face_clips: scenes in the face bank (built once per run, cached in ``out``).
        backbone: demagplus only: registry name of the backbone whose output the face pairs
            hold (e.g. "landmark-warp", "fomm"); None: the renderer's exact 1/α pairs.
        checkpoint: the backbone's official weights file (backbones that need weights).
        stabilised: demagplus backbone pairs without head drift, as the stabilised pipeline
            (its default) gives them to the de-magnifier; False: drift magnified and de-magnified.
        init: start from these weights instead of random ones ("shipped" = the installed
            weights of ``kind``, or a .safetensors / last.pt path); ignored when resuming.
        device: "cpu" or "cuda" (also "cuda:N"); the data is made on the CPU either way.
    """

    kind: str = "magplus"
    out: str = "runs/magplus"
    steps: int = 3000
    batch: int = 12
    size: int = 96
    lr: float = 2e-3
    warmup: int = 100
    seed: int = 0
    net: MagNetConfig = field(default_factory=MagNetConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    flow: str = "lucas-kanade"
    images: str | None = None
    videos: str | None = None
    texture_fraction: float = 0.25
    translation_fraction: float = 0.0
    amp_max: float | None = None
    max_noise: float = 0.01
    checkpoint_every: int = 100
    log_every: int = 10
    time_limit: float = 0.0
    threads: int = 0
    alpha_max: float = 32.0
    faces: list[str] | None = None
    face_clips: int = 160
    backbone: str | None = None
    checkpoint: str | None = None
    stabilised: bool = False
    init: str | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        if isinstance(self.net, dict):
            self.net = MagNetConfig(**self.net)
        if isinstance(self.loss, dict):
            self.loss = LossWeights(**self.loss)
        if self.kind not in KINDS:
            raise InputError(f"kind must be one of {KINDS}, got {self.kind!r}.")
        if self.size % 8 or self.size < 16:
            raise InputError(f"size must be a multiple of 8 and >= 16, got {self.size}.")
        for name in ("steps", "batch"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}.")
        self.net.invert_code = self.kind == "demagplus"
        if not self.alpha_max > 1:
            raise InputError(f"alpha_max must be > 1, got {self.alpha_max}.")
        if isinstance(self.faces, str):
            self.faces = [name.strip() for name in self.faces.split(",") if name.strip()]
        from .face_data import FACE_NAMES

        unknown = sorted(set(self.faces or []) - set(FACE_NAMES))
        if unknown:
            raise InputError(f"unknown faces {unknown}; bundled faces: {list(FACE_NAMES)}.")
        if self.backbone and (self.kind != "demagplus" or not self.faces):
            raise InputError("backbone pairs are DeMagPlus data rendered on faces: use kind demagplus and give faces.")
        if self.stabilised and not self.backbone:
            raise InputError("stabilised applies to DeMagPlus backbone pairs: give a backbone, or drop stabilised.")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise InputError(f"device must be 'cpu' or 'cuda[:N]', got {self.device!r}.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_file(cls, path: str | Path | None, **overrides: Any) -> "TrainConfig":
        """Read a YAML or JSON file (its keys are this class's fields), then apply ``overrides``.

        Overrides with value ``None`` are ignored; dotted keys (``"loss.flow"``) reach nested fields.
        """
        data: dict[str, Any] = {}
        if path is not None:
            path = Path(path)
            if not path.is_file():
                raise InputError(f"--config {str(path)!r} does not exist; give a YAML or JSON file.")
            text = path.read_text()
            if path.suffix in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text) or {}
            else:
                data = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown config keys {unknown}; known keys: {sorted(known)}.")
        for key, value in overrides.items():
            if value is None:
                continue
            head, _, tail = key.partition(".")
            if tail:
                data.setdefault(head, {})[tail] = value
            else:
                data[key] = value
        return cls(**data)
