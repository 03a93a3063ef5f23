"""The :class:`Magnifier` interface (magnifiers with α > 1, de-magnifiers with α < 1)."""

from __future__ import annotations

import abc

import torch

from ..types import check_alpha, check_frames, check_image


class Magnifier(abc.ABC):
    """Scales the motion of ``frames`` relative to ``ref`` by ``alpha``.

    α > 1 magnifies, α < 1 attenuates, α = 1 returns the frames unchanged (within quantisation).
    """

    name: str = "magnifier"

    def __call__(self, ref: torch.Tensor, frames: torch.Tensor, alpha, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward(ref, frames, alpha, mask)

    def validate(self, ref: torch.Tensor, frames: torch.Tensor, alpha, mask: torch.Tensor | None) -> None:
        """Shared input checks (shapes, value range, α > 0, mask size)."""
        check_image(ref, "ref")
        check_frames(frames, "frames")
        check_alpha(alpha)
        if ref.shape[-2:] != frames.shape[-2:]:
            from ..errors import ShapeError

            raise ShapeError(f"ref {tuple(ref.shape)} and frames {tuple(frames.shape)} must have the same H, W.")
        if mask is not None:
            from ..errors import ShapeError

            if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3) or mask.shape[-2:] != frames.shape[-2:]:
                raise ShapeError(
                    f"mask must be (H, W) or (T, H, W) matching frames {tuple(frames.shape[-2:])}, got "
                    f"{tuple(getattr(mask, 'shape', ()))}."
                )

    @abc.abstractmethod
    def forward(self, ref: torch.Tensor, frames: torch.Tensor, alpha, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Magnify.

        Args:
            ref: reference frame ``(3, H, W)`` in [0, 1] (usually the onset frame).
            frames: ``(T, 3, H, W)`` in [0, 1].
            alpha: float > 0, or a per-frame tensor ``(T,)``.
            mask: optional ``(H, W)`` or ``(T, H, W)`` in [0, 1]: α applies where mask is 1,
                identity where it is 0, blended in between.

        Returns:
            ``(T, 3, H, W)`` in [0, 1].
        """
