"""Lagrangian motion magnification: estimate flow, move pixels along α × flow.

For each frame ``t`` the flow ``F_t`` from the reference to ``t`` says that reference pixel ``p``
is at ``p + F_t(p)`` in frame ``t``. The magnified frame puts it at ``p + α F_t(p)`` instead.
We render by a backward warp of the *current* frame (so its appearance changes and noise are
kept): output pixel ``q`` comes from ``p`` with ``q = p + α F_t(p)`` (solved by fixed-point
iteration), and that pixel is found at ``q - (α - 1) F_t(p)`` in frame ``t``.

Rigid motion: by default only the non-rigid part of the flow is scaled. A similarity motion
(translation, rotation, scale) fitted to the flow inside the mask is kept as it is, so head drift
is neither magnified (which would tear the face from a still background) nor attenuated when
de-magnifying. ``nonrigid_only=False`` scales all motion, as FlowMag does.

Occlusion awareness: where the magnified map would fold over itself (its Jacobian determinant
``det(I + α ∇F)`` falls below a margin) the flow is locally attenuated so that the map stays
one-to-one; this is what removes the tearing/duplication artefacts of naive warping at large α.
"""

from __future__ import annotations

import torch

from ..ops.pyramid import gaussian_blur
from ..ops.warp import backward_warp, pixel_grid
from ..registry import create_flow
from .base import Magnifier


def similarity_flow(flow: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Least-squares similarity motion (translation, rotation, uniform scale) of each flow.

    Args:
        flow: ``(T, 2, H, W)`` pixels.
        weights: ``(H, W)`` or ``(T, 1, H, W)`` non-negative weights (e.g. the face mask), or None.

    Returns:
        ``(T, 2, H, W)``: the flow of the fitted motion ``u = a x − b y + tx``, ``v = b x + a y + ty``.
    """
    t, _, h, w = flow.shape
    grid = pixel_grid(h, w, device=flow.device, dtype=flow.dtype)
    wts = torch.ones(t, 1, h, w, dtype=flow.dtype, device=flow.device) if weights is None else \
        weights.to(flow).reshape(-1, 1, h, w).expand(t, 1, h, w)
    total = wts.sum(dim=(1, 2, 3)).clamp_min(1e-8)
    center = (grid[None] * wts).sum(dim=(2, 3)) / total[:, None]  # (T, 2)
    x = grid[0][None] - center[:, 0, None, None]
    y = grid[1][None] - center[:, 1, None, None]
    u, v, wt = flow[:, 0], flow[:, 1], wts[:, 0]
    mean_u = (u * wt).sum(dim=(1, 2)) / total
    mean_v = (v * wt).sum(dim=(1, 2)) / total
    norm = ((x * x + y * y) * wt).sum(dim=(1, 2)).clamp_min(1e-8)
    a = ((u * x + v * y) * wt).sum(dim=(1, 2)) / norm
    b = ((v * x - u * y) * wt).sum(dim=(1, 2)) / norm
    fit_u = a[:, None, None] * x - b[:, None, None] * y + mean_u[:, None, None]
    fit_v = b[:, None, None] * x + a[:, None, None] * y + mean_v[:, None, None]
    return torch.stack([fit_u, fit_v], dim=1)


def fold_safe_scale(flow: torch.Tensor, alpha_px: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """Per-pixel factor in (0, 1] that keeps ``p -> p + alpha * s * flow(p)`` one-to-one.

    The map folds where ``det(I + α ∇F) <= 0``. We find, per pixel, the largest ``s`` with
    ``det(I + s (α - 1) ∇F) >= margin`` (the current frame already carries one unit of flow)
    and smooth it so the attenuation has no edges.

    Args:
        flow: ``(T, 2, H, W)`` pixels.
        alpha_px: ``(T, 1, H, W)`` per-pixel α.
    Returns:
        ``(T, 1, H, W)`` scale in (0, 1].
    """
    gx = torch.gradient(flow, dim=3)[0]  # d/dx of (u, v)
    gy = torch.gradient(flow, dim=2)[0]  # d/dy
    k = alpha_px - 1.0
    # det(I + s k J) = 1 + s k tr(J) + (s k)^2 det(J): test a few s values, keep the largest valid.
    trace = gx[:, :1] + gy[:, 1:]
    det = gx[:, :1] * gy[:, 1:] - gx[:, 1:] * gy[:, :1]
    scale = torch.zeros_like(k)
    for s in torch.linspace(1.0, 0.0, 11):
        sk = s * k
        ok = (1 + sk * trace + sk * sk * det) >= margin
        scale = torch.where((scale == 0) & ok, torch.full_like(scale, float(s)), scale)
    scale = torch.where(scale == 0, torch.full_like(scale, 0.0), scale)
    return gaussian_blur(scale, 2.0).clamp(0.0, 1.0)


class LagrangianMagnifier(Magnifier):
    """Classical Lagrangian magnifier: flow from the reference to each frame, warp by α·flow.

    Args:
        flow: name of a registered flow estimator (``"dis"`` by default: fast and accurate to
            ~0.1 px), or an estimator instance.
        flow_smoothing: Gaussian sigma (pixels) applied to the flow before magnifying; flow noise
            is magnified by α too, so a little smoothing keeps flat regions still.
        occlusion_aware: attenuate the flow where the magnified map would fold.
        inverse_iterations: fixed-point iterations for inverting ``p -> p + α F(p)``.
        nonrigid_only: scale only the motion left after removing a similarity motion fitted
            inside the mask (head drift is kept as it is).
    """

    name = "lagrangian"

    def __init__(self, flow="dis", flow_smoothing: float = 1.5, occlusion_aware: bool = True,
                 inverse_iterations: int = 6, nonrigid_only: bool = True, device: str | torch.device = "cpu"):
        self.flow = create_flow(flow) if isinstance(flow, str) else flow
        self.flow_smoothing = float(flow_smoothing)
        self.occlusion_aware = bool(occlusion_aware)
        self.inverse_iterations = int(inverse_iterations)
        self.nonrigid_only = bool(nonrigid_only)
        self.device = torch.device(device)

    def estimate_flows(self, ref: torch.Tensor, frames: torch.Tensor, batch: int = 16) -> torch.Tensor:
        """Flow from ``ref`` ``(3, H, W)`` to every frame of ``frames`` ``(T, 3, H, W)`` -> ``(T, 2, H, W)``."""
        out = []
        for start in range(0, frames.shape[0], batch):
            chunk = frames[start:start + batch]
            out.append(self.flow(ref[None].expand_as(chunk), chunk).float())
        return torch.cat(out)

    @torch.no_grad()
    def magnify_with_flow(self, frames: torch.Tensor, flow: torch.Tensor, alpha_px: torch.Tensor,
                          rigid: torch.Tensor | None = None) -> torch.Tensor:
        """Render frames ``(T, 3, H, W)`` whose motion from the reference is ``rigid + α (flow − rigid)``.

        Args:
            frames: current frames.
            flow: ``(T, 2, H, W)`` flow reference -> frame.
            alpha_px: ``(T, 1, H, W)`` per-pixel α.
            rigid: ``(T, 2, H, W)`` part of the flow kept unscaled (None: scale all of it).
        """
        if self.flow_smoothing > 0:
            flow = gaussian_blur(flow, self.flow_smoothing)
        rigid = torch.zeros_like(flow) if rigid is None else rigid
        scaled = flow - rigid
        if self.occlusion_aware:
            scaled = scaled * fold_safe_scale(scaled, alpha_px)
        magnified = rigid + alpha_px * scaled
        # Solve p = q - M(p) for the source position p of each output pixel q.
        displacement = -magnified
        for _ in range(self.inverse_iterations):
            displacement = -backward_warp(magnified, displacement)
        flow_at_p = backward_warp(flow, displacement)
        # Sample the current frame where reference pixel p sits: p + F(p) = q + displacement + F(p).
        return backward_warp(frames, displacement + flow_at_p).clamp(0, 1)

    def forward(self, ref, frames, alpha, mask=None):
        alpha_px = self.pixel_alpha(ref, frames, alpha, mask)
        if alpha_px is None:
            return frames.clone()
        flow = self.estimate_flows(ref, frames)
        rigid = similarity_flow(flow, mask) if self.nonrigid_only else None
        return self.magnify_with_flow(frames, flow, alpha_px, rigid)
