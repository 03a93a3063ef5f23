"""The one definition of rigid motion in the image plane: a least-squares similarity.

A similarity (translation, rotation, uniform scale) moves point ``p`` by
``u = a x − b y + t_x``, ``v = b x + a y + t_y`` with ``(x, y) = p − centre``. Fitted to the
displacements of many points (dense flow pixels, face landmarks) it is the head's motion in the
image plane; the rest is the expression. The Lagrangian magnifier's ``nonrigid_only`` mode fits
it to dense flow (:func:`~magplus.magnify.lagrangian.similarity_flow`); points of any kind go
through the same :func:`fit_similarity`.
"""

from __future__ import annotations

import torch


def fit_similarity(points: torch.Tensor, displacement: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Per frame, the similarity motion closest (weighted least squares) to ``displacement``.

    Args:
        points: ``(N, 2)`` positions (x, y) the displacements start from.
        displacement: ``(T, N, 2)`` displacement of each point in each frame.
        weights: ``(N,)`` or ``(T, N)`` non-negative weights, or None (all 1).

    Returns:
        ``(T, N, 2)``: the fitted similarity's displacement of every point.
    """
    t, n, _ = displacement.shape
    w = torch.ones(t, n, dtype=displacement.dtype, device=displacement.device) if weights is None else \
        weights.to(displacement).reshape(-1, n).expand(t, n)
    total = w.sum(dim=1).clamp_min(1e-8)  # (T,)
    pts = points.to(displacement)
    center = (w[:, :, None] * pts[None]).sum(dim=1) / total[:, None]  # (T, 2)
    x = pts[None, :, 0] - center[:, None, 0]
    y = pts[None, :, 1] - center[:, None, 1]
    u, v = displacement[..., 0], displacement[..., 1]
    mean_u = (u * w).sum(dim=1) / total
    mean_v = (v * w).sum(dim=1) / total
    norm = ((x * x + y * y) * w).sum(dim=1).clamp_min(1e-8)
    a = ((u * x + v * y) * w).sum(dim=1) / norm
    b = ((v * x - u * y) * w).sum(dim=1) / norm
    fit_u = a[:, None] * x - b[:, None] * y + mean_u[:, None]
    fit_v = b[:, None] * x + a[:, None] * y + mean_v[:, None]
    return torch.stack([fit_u, fit_v], dim=-1)
