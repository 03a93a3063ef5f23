"""The :class:`FlowEstimator` interface."""

from __future__ import annotations

import abc

import torch

from ..errors import ShapeError


class FlowEstimator(abc.ABC):
    """Estimates the flow from ``src`` to ``tgt`` (see :mod:`magplus.types` for the convention).

    Attributes:
        name: registry name.
        differentiable: True if gradients flow from the returned flow to both inputs.
    """

    name: str = "flow"
    differentiable: bool = False

    def __call__(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        return self.forward(src, tgt)

    @staticmethod
    def validate(src: torch.Tensor, tgt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """Accept ``(3, H, W)`` or ``(B, 3, H, W)`` pairs; return batched tensors and whether to unbatch."""
        single = isinstance(src, torch.Tensor) and src.ndim == 3
        if single:
            src, tgt = src[None], tgt[None] if isinstance(tgt, torch.Tensor) else tgt
        for name, x in (("src", src), ("tgt", tgt)):
            if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] not in (1, 3):
                raise ShapeError(f"{name} must be (B, 3, H, W) or (3, H, W), got {tuple(getattr(x, 'shape', ()))}.")
        if src.shape != tgt.shape:
            raise ShapeError(f"src {tuple(src.shape)} and tgt {tuple(tgt.shape)} must have the same shape.")
        return src, tgt, single

    @abc.abstractmethod
    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Flow ``(B, 2, H, W)`` in pixels (``(2, H, W)`` for unbatched input) from src to tgt.

        ``backward_warp(tgt, flow) ≈ src``.
        """
