"""MagPlus: the learned magnifier (α ≥ 1), with shipped weights.

The network (:mod:`magplus.magnify.nets`) warps each frame by ``(α-1)`` times a predicted
displacement, so α = 1 is exact. Weights carry the α range they were trained for (metadata
``alpha_range``; files without it were trained for [1, 32]); larger factors are applied as
``k`` repeated steps of ``α^(1/k)``. :class:`LearnedMagnifier` holds what MagPlus and DeMagPlus
share (weights, padding, chunking, masks, repeated application).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import InputError, WeightsError
from ..weights import load_checkpoint_file, load_state_dict_strict
from .base import Magnifier
from .nets import MagNet, MagNetConfig

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"


def read_weights(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], MagNetConfig]:
    """State dict and network config from an exported ``.safetensors`` or a training ``last.pt``.

    Raises:
        WeightsError: unreadable file, or no network config in it.
    """
    path = Path(path)
    state = load_checkpoint_file(path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
        if "net" not in meta:
            raise WeightsError(f"{str(path)!r} has no 'net' metadata; export it with magplus.train.loop.export_weights.")
        return state, MagNetConfig(**json.loads(meta["net"]))
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise WeightsError(f"{str(path)!r} is neither an exported .safetensors nor a magplus training checkpoint (last.pt).")
    return state["model"], MagNetConfig(**json.loads(state["config"])["net"])


def read_alpha_range(path: str | os.PathLike[str]) -> tuple[float, float] | None:
    """The α range a weights file was trained for (``alpha_range`` metadata of an exported
    ``.safetensors`` or the config of a ``last.pt``), or None when the file does not say."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
        return tuple(json.loads(meta["alpha_range"])) if "alpha_range" in meta else None
    config = json.loads(load_checkpoint_file(path)["config"])
    if "alpha_max" not in config:
        return None
    high = float(config["alpha_max"])
    return (1.0, high) if config.get("kind", "magplus") == "magplus" else (1.0 / high, 1.0)


def _as_alpha_tensor(alpha, frames: int) -> torch.Tensor:
    """α as a ``(T,)`` float tensor (a float is repeated)."""
    if isinstance(alpha, torch.Tensor):
        alpha = alpha.detach().float().flatten().cpu()
        if alpha.numel() == 1:
            return alpha.repeat(frames)
        if alpha.numel() != frames:
            raise InputError(f"alpha must be a float or a (T,) tensor with T={frames}, got {alpha.numel()} values.")
        return alpha
    return torch.full((frames,), float(alpha))


class LearnedMagnifier(Magnifier):
    """Shared machinery of :class:`MagPlus` and :class:`DeMagPlus`.

    Args:
        weights: ``None`` for the shipped weights, or a path to ``.safetensors`` / ``last.pt``.
        device: torch device for inference.
        net: an in-memory :class:`MagNet` instead of a file (training, tests).
        chunk: frames per forward pass.
        progress: show a progress bar on clips longer than 64 frames.
    """

    name = "learned"
    frame_by_frame = True  # (reference, frame) pairs
    weights_file = ""
    alpha_low, alpha_high = 1.0, 32.0

    def __init__(self, weights: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu",
                 net: MagNet | None = None, chunk: int = 8, progress: bool = True):
        self.device = torch.device(device)
        if net is None:
            path = Path(weights) if weights is not None else WEIGHTS_DIR / self.weights_file
            if weights is None and not path.is_file():
                raise WeightsError(f"shipped weights {str(path)!r} are missing; reinstall magplus or train them with "
                                   f"`magplus train {self.name}` and pass weights=<out>/{self.name}.safetensors.")
            state, config = read_weights(path)
            net = MagNet(config)
            load_state_dict_strict(net, state, what=f"{self.name} network")
            # Weights say which α range they were trained for; older files (no metadata) keep the class's.
            trained = read_alpha_range(path)
            if trained is not None:
                self.alpha_low, self.alpha_high = float(trained[0]), float(trained[1])
        if chunk < 1:
            raise InputError(f"chunk must be >= 1, got {chunk}.")
        self.net = net.to(self.device).eval()
        self.chunk, self.progress = chunk, progress

    def _steps(self, alpha: torch.Tensor) -> int:
        """How many repeated applications keep each step inside the trained α range."""
        worst = float(alpha.log().abs().max())
        return max(1, math.ceil(worst / math.log(max(self.alpha_high, 1.0 / self.alpha_low)) - 1e-4))

    def _check_range(self, alpha: torch.Tensor) -> None:
        raise NotImplementedError

    def forward(self, ref: torch.Tensor, frames: torch.Tensor, alpha, mask: torch.Tensor | None = None,
                fps: float | None = None, flows: torch.Tensor | None = None) -> torch.Tensor:
        """Scale the motion of ``frames`` ``(T, 3, H, W)`` relative to ``ref`` ``(3, H, W)`` by ``alpha``.

        The network works frame by frame on (reference, frame) pairs: ``fps`` and ``flows`` are
        not used.

        ``alpha`` is a float or a ``(T,)`` tensor; ``mask`` ``(H, W)`` or ``(T, H, W)`` in [0, 1]
        gives α inside and 1 outside (per-pixel α). Returns ``(T, 3, H, W)`` in [0, 1].
        """
        self.validate(ref, frames, alpha, mask)
        t, _, h, w = frames.shape
        alphas = _as_alpha_tensor(alpha, t)
        self._check_range(alphas)
        if bool((alphas == 1).all()) or (mask is not None and float(mask.abs().max()) == 0):
            return frames.clone()
        steps = self._steps(alphas)
        pad_h, pad_w = (-h) % 8, (-w) % 8
        dev = self.device
        ref_in = F.pad(ref[None].to(dev), (0, pad_w, 0, pad_h), mode="replicate")
        outputs = []
        indices = range(0, t, self.chunk)
        if self.progress and t > 64:
            from tqdm import tqdm

            indices = tqdm(indices, desc=self.name, unit="chunk")
        with torch.no_grad():
            ref_feats = self.net.encode(ref_in)
            for start in indices:
                stop = min(start + self.chunk, t)
                batch = F.pad(frames[start:stop].to(dev), (0, pad_w, 0, pad_h), mode="replicate")
                alpha_map = alphas[start:stop].to(dev).view(-1, 1, 1, 1) ** (1.0 / steps)
                if mask is not None:
                    weight = mask if mask.ndim == 2 else mask[start:stop]
                    weight = F.pad(weight.to(dev).float().clamp(0, 1).expand(stop - start, h, w)[:, None],
                                   (0, pad_w, 0, pad_h), mode="replicate")
                    # Per-pixel α = α_step^mask: α inside, 1 outside, and the repeated steps multiply up to α^mask.
                    alpha_map = torch.exp(weight * alpha_map.log())
                for _ in range(steps):
                    batch = self.net(ref_in, batch, alpha_map, ref_feats=ref_feats).clamp(0, 1)
                outputs.append(batch[..., :h, :w].to(frames.device))
        return torch.cat(outputs)


class MagPlus(LearnedMagnifier):
    """Learned motion magnifier (α ≥ 1; trained for α ≤ 32, larger α by repeated steps).

    Example:
        >>> mag = MagPlus()                     # shipped weights
        >>> out = mag(frames[0], frames, 10.0)  # doctest: +SKIP
    """

    name = "magplus"
    weights_file = "magplus.safetensors"
    alpha_low, alpha_high = 1.0, 32.0

    def _check_range(self, alpha: torch.Tensor) -> None:
        if bool((alpha < 1).any()):
            raise InputError(f"MagPlus magnifies (alpha >= 1), got alpha min {float(alpha.min()):.3g}; "
                             "use DeMagPlus (registry name 'demagplus') for alpha < 1.")
