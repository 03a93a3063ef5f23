"""Losses of MagPlus / DeMagPlus training.

Terms (weights in :class:`LossWeights`, ablated in ``benchmarks/results/magnification.md``):

* ``supervised``: L1 between the output and the generator's exact α-magnified frame.
* ``field``: L1 between the network's applied displacement ``(α-1)·u`` and the generator's
  ``(α-1)·B`` (first-order exact; it guides the field where the image loss is weak).
* ``flow`` (FlowMag): L1 between ``F(I0, Î)`` and ``α·F(I0, It)`` with a differentiable flow
  estimator ``F`` (gradients reach Î through it).
* ``colour`` (FlowMag): L1 between ``Î`` warped back by its own flow and ``I0``. FlowMag also
  warps ``It`` back by its flow; that term has no gradient w.r.t. the network (``F`` has no
  trainable parameters and ``It`` is data), so it is left out.

The self-supervised terms (``flow``, ``colour``) are the only ones available on users' videos.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ..ops.warp import backward_warp


@dataclass
class LossWeights:
    """Weight of each term; 0 disables it (and skips its cost)."""

    supervised: float = 1.0
    field: float = 0.05
    flow: float = 0.0
    colour: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _masked_l1(diff: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |diff| over samples where ``mask`` (B,) is 1."""
    per_sample = diff.abs().flatten(1).mean(1)
    return (per_sample * mask).sum() / mask.sum().clamp_min(1.0)


def magnification_loss(
    output: torch.Tensor,
    field: torch.Tensor,
    batch: dict[str, torch.Tensor],
    weights: LossWeights,
    flow_estimator=None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum of the terms and their values.

    Args:
        output: network output ``Î`` ``(B, 3, H, W)``.
        field: applied displacement ``(α-1)·u`` ``(B, 2, H, W)``.
        batch: ``ref``, ``frame``, ``target``, ``alpha`` ``(B,)``, ``field``, ``supervised`` ``(B,)``,
            optionally ``field_valid`` ``(B,)`` (0 where the exact field is unknown).
        weights: :class:`LossWeights`.
        flow_estimator: differentiable :class:`magplus.flow.base.FlowEstimator`; needed when the
            ``flow`` or ``colour`` weight is > 0.

    Returns:
        ``(total, {term: value})``.
    """
    terms: dict[str, torch.Tensor] = {}
    sup = batch["supervised"]
    if weights.supervised > 0:
        terms["supervised"] = _masked_l1(output - batch["target"], sup)
    if weights.field > 0:
        terms["field"] = _masked_l1(field - batch["field"], sup * batch.get("field_valid", torch.ones_like(sup)))
    if weights.flow > 0 or weights.colour > 0:
        if flow_estimator is None:
            raise ValueError("the flow and colour loss terms need a differentiable flow estimator")
        ref = batch["ref"]
        alpha = batch["alpha"].view(-1, 1, 1, 1)
        out_flow = flow_estimator(ref, output.clamp(0, 1))
        if weights.flow > 0:
            with torch.no_grad():
                in_flow = flow_estimator(ref, batch["frame"])
            terms["flow"] = (out_flow - alpha * in_flow).abs().mean()
        if weights.colour > 0:
            terms["colour"] = (backward_warp(output, out_flow) - ref).abs().mean()
    total = sum(getattr(weights, name) * value for name, value in terms.items())
    return total, {name: float(value.detach()) for name, value in terms.items()}
