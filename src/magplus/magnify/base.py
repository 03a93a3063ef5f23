"""The :class:`Magnifier` interface (magnifiers with α > 1, de-magnifiers with α < 1)."""

from __future__ import annotations

import abc

import torch

from ..types import check_alpha, check_frames, check_image


def alpha_map(alpha, mask: torch.Tensor | None, frames: int, height: int, width: int, device=None) -> torch.Tensor:
    """Per-pixel magnification ``(T, 1, H, W)``: α inside the mask, 1 outside, blended between.

    Args:
        alpha: float or ``(T,)`` tensor.
        mask: ``None``, ``(H, W)`` or ``(T, H, W)`` in [0, 1].
    """
    a = torch.as_tensor(alpha, dtype=torch.float32, device=device).reshape(-1, 1, 1, 1)
    a = a.expand(frames, 1, height, width) if a.shape[0] in (1, frames) else a
    if mask is None:
        return a.expand(frames, 1, height, width).clone()
    m = mask.to(device=device, dtype=torch.float32)
    m = m.reshape(-1, 1, height, width).expand(frames, 1, height, width)
    return 1.0 + (a - 1.0) * m


class Magnifier(abc.ABC):
    """Scales the motion of ``frames`` relative to ``ref`` by ``alpha``.

    α > 1 magnifies, α < 1 attenuates, α = 1 returns the frames unchanged (within quantisation).
    """

    name: str = "magnifier"
    #: True when each output frame depends only on the reference, that frame and its flow, so a
    #: long clip may be magnified chunk by chunk with the same result (``MagPipeline.stream``);
    #: False for filters over time.
    frame_by_frame: bool = False

    def __call__(self, ref: torch.Tensor, frames: torch.Tensor, alpha, mask: torch.Tensor | None = None,
                 fps: float | None = None, flows: torch.Tensor | None = None,
                 head_shift: torch.Tensor | None = None) -> torch.Tensor:
        """Magnify (see :meth:`forward`); with ``head_shift`` ``(T, 2)``, the head's translation in
        each frame relative to ``ref`` (pixels), the output is stabilised: that translation is taken
        out, and only the rest of the motion is scaled (:meth:`stabilised`)."""
        if head_shift is None:
            return self.forward(ref, frames, alpha, mask, fps=fps, flows=flows)
        if not isinstance(head_shift, torch.Tensor) or head_shift.shape != (frames.shape[0], 2):
            from ..errors import ShapeError

            raise ShapeError(f"head_shift must be (T, 2) = ({frames.shape[0]}, 2) pixel translations, got "
                             f"{tuple(getattr(head_shift, 'shape', ()))}.")
        return self.stabilised(ref, frames, alpha, mask, fps, flows, head_shift.float())

    def stabilised(self, ref: torch.Tensor, frames: torch.Tensor, alpha, mask: torch.Tensor | None,
                   fps: float | None, flows: torch.Tensor | None, head_shift: torch.Tensor) -> torch.Tensor:
        """Frames whose motion from ``ref`` is α × (motion − ``head_shift``): the head held where it
        is in ``ref``, the expression magnified.

        This default moves each frame back by its shift (one bilinear resampling) and magnifies the
        result; flow-based magnifiers override it to do both in one warp.
        """
        from ..ops.warp import shift_frames

        steady_flows = None if flows is None else flows - head_shift[:, :, None, None].to(flows)
        return self.forward(ref, shift_frames(frames, -head_shift), alpha, mask, fps=fps, flows=steady_flows)

    def clip_flows(self, ref: torch.Tensor, frames: torch.Tensor) -> torch.Tensor | None:
        """The flows ``(T, 2, H, W)`` (``ref`` -> each frame) this magnifier would estimate for itself.

        Flow-based magnifiers return them so that a caller measuring the clip's motion (automatic
        α) computes them once and hands them back through ``forward(..., flows=)``; magnifiers
        that use no flow return None.
        """
        return None

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

    def pixel_alpha(self, ref: torch.Tensor, frames: torch.Tensor, alpha, mask: torch.Tensor | None) -> torch.Tensor | None:
        """Validate the inputs and return the per-pixel α ``(T, 1, H, W)``, or None when it is 1 everywhere."""
        self.validate(ref, frames, alpha, mask)
        t, _, h, w = frames.shape
        alpha_px = alpha_map(alpha, mask, t, h, w, device=frames.device)
        return None if torch.all(alpha_px == 1) else alpha_px

    @abc.abstractmethod
    def forward(self, ref: torch.Tensor, frames: torch.Tensor, alpha, mask: torch.Tensor | None = None,
                fps: float | None = None, flows: torch.Tensor | None = None) -> torch.Tensor:
        """Magnify.

        Args:
            ref: reference frame ``(3, H, W)`` in [0, 1] (usually the onset frame).
            frames: ``(T, 3, H, W)`` in [0, 1].
            alpha: float > 0, or a per-frame tensor ``(T,)``.
            mask: optional ``(H, W)`` or ``(T, H, W)`` in [0, 1]: α applies where mask is 1,
                identity where it is 0, blended in between.
            fps: frame rate of ``frames`` (temporal filters and regularisation need it; None: unknown).
            flows: ``(T, 2, H, W)`` from :meth:`clip_flows` on the same inputs, to skip re-estimating
                them (ignored by magnifiers that use no flow).

        Returns:
            ``(T, 3, H, W)`` in [0, 1].
        """
