"""Safe loading of checkpoints and strict state-dict loading with a readable report.

Only two formats are ever read: safetensors, and ``torch.load(..., weights_only=True)``.
A checkpoint that needs unsafe unpickling is refused with an explanation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from .errors import CheckpointMismatchError, WeightsError


@dataclass
class LoadReport:
    """What differs between a state dict and a model.

    Attributes:
        missing: keys the model has and the state dict lacks.
        unexpected: keys the state dict has and the model lacks.
        mismatched: ``(key, checkpoint_shape, model_shape)`` for keys present in both.
    """

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self, limit: int = 8) -> str:
        """One paragraph listing the differences (at most ``limit`` keys per kind)."""

        def head(items: list[Any]) -> str:
            shown = ", ".join(str(i) for i in items[:limit])
            return shown + (f", ... (+{len(items) - limit} more)" if len(items) > limit else "")

        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} missing: {head(self.missing)}")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected: {head(self.unexpected)}")
        if self.mismatched:
            shapes = [f"{k} (checkpoint {list(a)} vs model {list(b)})" for k, a, b in self.mismatched]
            parts.append(f"{len(self.mismatched)} wrong shape: {head(shapes)}")
        return "; ".join(parts) if parts else "all keys match"


def load_checkpoint_file(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> Any:
    """Read a checkpoint file safely.

    Args:
        path: a ``.safetensors`` file (returns a flat ``dict[str, Tensor]``) or a torch pickle
            (``.pth``, ``.pth.tar``, ``.pt``, ...) read with ``weights_only=True``.

    Raises:
        WeightsError: missing file, unreadable file, or a pickle that needs unsafe loading.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"checkpoint {str(path)!r} does not exist or is not a file.")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device=str(map_location))
        except Exception as exc:  # safetensors raises several unrelated types
            raise WeightsError(f"cannot read safetensors file {str(path)!r}: {exc}") from exc
    try:
        return torch.load(str(path), map_location=map_location, weights_only=True)
    except Exception as exc:
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise WeightsError(
                f"checkpoint {str(path)!r} contains Python objects that only unsafe unpickling can load; "
                "magplus loads with weights_only=True only. Re-save its state dict (or use "
                "`magplus convert-weights`) in a trusted environment."
            ) from exc
        raise WeightsError(f"cannot read checkpoint {str(path)!r}: {exc}") from exc


def strip_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Keep the keys that start with ``prefix`` and drop it (e.g. ``"module."`` or ``"state/kp_detector/"``)."""
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def compare_state_dict(module: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> LoadReport:
    """Compare ``state`` with ``module.state_dict()`` without loading anything."""
    own = module.state_dict()
    report = LoadReport()
    report.missing = sorted(k for k in own if k not in state)
    report.unexpected = sorted(k for k in state if k not in own)
    for key in sorted(set(own) & set(state)):
        if tuple(own[key].shape) != tuple(state[key].shape):
            report.mismatched.append((key, tuple(state[key].shape), tuple(own[key].shape)))
    return report


def load_state_dict_strict(
    module: torch.nn.Module, state: Mapping[str, torch.Tensor], what: str = "model", strict: bool = True
) -> LoadReport:
    """Load ``state`` into ``module``; with ``strict`` any difference raises a full report.

    Without ``strict`` missing/unexpected keys are tolerated, but wrong shapes still raise.

    Raises:
        CheckpointMismatchError: listing missing, unexpected and wrong-shape keys.
    """
    report = compare_state_dict(module, state)
    if report.mismatched or (strict and not report.ok):
        raise CheckpointMismatchError(
            f"the checkpoint does not match the {what}: {report.summary()}. "
            "Check that the checkpoint and the config belong together.",
            report,
        )
    module.load_state_dict(dict(state), strict=False)
    return report


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB blocks (provenance of converted checkpoints)."""
    import hashlib

    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_safetensors(state: Mapping[str, torch.Tensor], path: str | os.PathLike[str], metadata: dict[str, str] | None = None) -> None:
    """Write a state dict as safetensors atomically (temporary file, then rename)."""
    from safetensors.torch import save_file

    from .io.atomic import atomic_output

    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    with atomic_output(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata or {})
