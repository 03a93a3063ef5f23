"""Exact inversion of the synthetic deformation: from the ground-truth flow to the rendering map.

The ground truth is defined forwards, on frame 0's pixel grid ``p``::

    flow_t(p) = d_t + M_t(p),     M_t(p) = sum_a c_a(t) V_a(p)      (analytic Gaussian sums)

(the skin at ``p`` in frame 0 is at ``p + flow_t(p)`` in frame t). Rendering needs the backward
map ``G_t`` with ``frame_t(q) = face(q + G_t(q))``, i.e. the source point ``p = q + G_t(q)`` that
lands on ``q``: ``p + flow_t(p) = q``. Two stages solve it for every pixel ``q``:

1. a few fixed-point iterations ``G <- -d - M(q + G)`` with ``M`` sampled bilinearly from its grid
   (cheap, all frames at once, float32; it only has to bring ``p`` near the solution);
2. Newton steps on the residual ``R(p) = p + d + M(p) - q`` with ``M`` and its Jacobian evaluated
   analytically, until ``max |R| < tol`` (default 1e-5 px; two or three steps in practice). A
   Jacobian determinant ``det(I + grad M) <= 0.05`` means the map folds over and is refused.
   Pixels where ``|M| < 1e-4`` px keep the stage-1 answer (its error there is a fraction of that).

The reported residual is the largest ``|p + flow_t(p) - q|`` over all pixels and frames: how far
the rendered frame can be from the ground truth, before image interpolation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..ops.warp import pixel_grid, pixels_to_normalized
from .au_fields import gaussian_field

FIXED_POINT_STEPS = 6
NEGLIGIBLE_PX = 1e-4


class FoldOverError(InputError):
    """The forward map of a frame is not one-to-one; ``frame`` names it."""

    def __init__(self, message: str, frame: int):
        super().__init__(message)
        self.frame = frame
MAX_NEWTON_STEPS = 8
# The forward map p -> p + flow(p) must stay one-to-one; a Jacobian determinant this close to 0
# means skin is squeezed to nothing (and beyond 0 it folds over).
_MIN_JACOBIAN_DET = 0.05


def _support_box(centers: torch.Tensor, reach: float, margin: float, height: int, width: int) -> tuple[int, int, int, int]:
    """Pixel box ``(x0, x1, y0, y1)`` (end-exclusive) outside which ``M`` is negligible for every frame."""
    low = centers.min(dim=0).values - reach - margin
    high = centers.max(dim=0).values + reach + margin
    x0, y0 = max(0, int(low[0].floor())), max(0, int(low[1].floor()))
    x1, y1 = min(width, int(high[0].ceil()) + 1), min(height, int(high[1].ceil()) + 1)
    return x0, x1, y0, y1


def _fixed_point(points: torch.Tensor, drift: torch.Tensor, field_grid: torch.Tensor) -> torch.Tensor:
    """Stage 1: ``p`` ``(T, N, 2)`` with ``p ≈ q - d - M(p)``, ``M`` sampled bilinearly from ``field_grid`` (T, 2, H, W)."""
    t, _, height, width = field_grid.shape
    # float32 is enough here: this stage only has to land within Newton's basin (~0.1 px).
    field_grid = field_grid.float()
    base = (points[None] - drift[:, None, :]).float()  # T x N x 2
    source = base.clone()
    for step in range(FIXED_POINT_STEPS):
        grid = pixels_to_normalized(source.permute(0, 2, 1)[..., None], height, width)  # T x N x 1 x 2
        mode = "bicubic" if step == FIXED_POINT_STEPS - 1 else "bilinear"  # last step: closer start for Newton
        sampled = F.grid_sample(field_grid, grid, mode=mode, padding_mode="zeros", align_corners=True)
        source = base - sampled[..., 0].permute(0, 2, 1)
    return source.double()


def _newton(source: torch.Tensor, target: torch.Tensor, drift: torch.Tensor, centers: torch.Tensor,
            vectors: torch.Tensor, inv_two_sigma2: torch.Tensor, tol: float) -> tuple[torch.Tensor, float]:
    """Stage 2 for one frame: refine ``source`` ``(N, 2)`` so that ``source + d + M(source) = target``.

    Returns the refined points and the largest residual ``|source + d + M(source) - target|``
    (infinite when the map folds over).
    """
    residual_max = float("inf")
    for _ in range(MAX_NEWTON_STEPS + 1):
        values, d_dx, d_dy = gaussian_field(source, centers, vectors, inv_two_sigma2, jacobian=True)
        residual = source + drift + values - target
        residual_max = float((residual * residual).sum(dim=1).max().sqrt())
        # Jacobian of p -> p + M(p): [[a, b], [c, d]].
        a, b = 1.0 + d_dx[:, 0], d_dy[:, 0]
        c, d = d_dx[:, 1], 1.0 + d_dy[:, 1]
        det = a * d - b * c
        if float(det.min()) <= _MIN_JACOBIAN_DET:
            return source, float("inf")  # the forward map folds over: no unique inverse
        if residual_max < tol:
            break
        step_x = (d * residual[:, 0] - b * residual[:, 1]) / det
        step_y = (-c * residual[:, 0] + a * residual[:, 1]) / det
        source = source - torch.stack([step_x, step_y], dim=1)
    return source, residual_max


def invert_flow(drift: torch.Tensor, coefficients: torch.Tensor, fields: list, nonrigid_grid: torch.Tensor,
                tol: float = 1e-5) -> tuple[torch.Tensor, float]:
    """Backward rendering maps ``G`` ``(T, 2, H, W)`` (float64) of the flows ``d_t + sum_a c_a(t) V_a``.

    Args:
        drift: ``(T, 2)`` rigid translation per frame, pixels.
        coefficients: ``(T, A)`` scale of each field per frame (amplitude x envelope x alpha).
        fields: the ``A`` :class:`~magplus.synth.au_fields.AUField` objects.
        nonrigid_grid: ``(T, 2, H, W)`` float64, ``M_t`` on the pixel grid.
        tol: stop when the largest residual ``|p + flow(p) - q|`` is below this (pixels).

    Returns:
        ``(G, residual)``: the maps and the largest residual reached.

    Raises:
        InputError: the inverse did not converge (the deformation folds over: lower alpha or amplitude).
    """
    t, _, height, width = nonrigid_grid.shape
    maps = (-drift)[:, :, None, None].expand(t, 2, height, width).clone()
    active = [i for i in range(t) if bool((coefficients[i] != 0).any())]
    if not active or not fields:
        return maps, 0.0
    centers = torch.cat([f.centers for f in fields])
    reach = max(f.reach for f in fields)
    margin = float(drift.abs().max()) + float(nonrigid_grid.abs().amax()) + 2.0
    x0, x1, y0, y1 = _support_box(centers, reach, margin, height, width)
    target = pixel_grid(y1 - y0, x1 - x0, dtype=torch.float64)
    target = (target + torch.tensor([x0, y0], dtype=torch.float64)[:, None, None]).reshape(2, -1).T  # N x 2
    index = torch.tensor(active)
    source = _fixed_point(target, drift[index], nonrigid_grid[index])
    worst = 0.0
    for row, frame in enumerate(active):
        # Only the Gaussians of events active in this frame: a blink is off in most frames.
        on = [(c, f) for c, f in zip(coefficients[frame].tolist(), fields) if c != 0]
        vectors = torch.cat([c * f.vectors for c, f in on])
        frame_centers = torch.cat([f.centers for _, f in on])
        alphas = torch.cat([f.inv_two_sigma2 for _, f in on])
        # Newton only where the motion is not negligible: elsewhere the fixed-point answer is off
        # by the interpolation error of a field below 1e-4 px, i.e. by far less than tol.
        refined = source[row]
        moving = ((refined - (target - drift[frame])) ** 2).sum(dim=1) >= NEGLIGIBLE_PX**2
        if bool(moving.any()):  # else the envelope is within 1e-4 px of rest: nothing to refine
            refined[moving], residual = _newton(refined[moving], target[moving], drift[frame], frame_centers, vectors, alphas, tol)
            if not residual < max(tol, 1e-4):
                raise FoldOverError(
                    f"alpha x amplitude is too large: the deformation folds over or cannot be inverted at frame {frame} "
                    f"(residual {residual:.3g} px); lower alpha or the AU amplitudes.",
                    frame,
                )
            worst = max(worst, residual)
        maps[frame, :, y0:y1, x0:x1] = (refined - target).T.reshape(2, y1 - y0, x1 - x0)
    return maps, worst
