"""Test-time adaptation: fine-tune a learned (de-)magnifier on the input clip's own frame pairs.

Only the self-supervised FlowMag terms are available on a user's clip (no ground truth): the flow
of the output, measured by the differentiable Lucas-Kanade estimator, should be α times the
input's, and the output warped back by its own flow should match the reference.
"""

from __future__ import annotations

import copy
import math

import torch

from ..errors import InputError
from ..magnify.nets import MagNet
from ..types import check_frames
from .losses import LossWeights, magnification_loss


def _network(model) -> MagNet:
    net = getattr(model, "net", model)
    if not isinstance(net, MagNet):
        raise InputError(f"adapt needs a MagPlus/DeMagPlus or a MagNet, got {type(model).__name__}.")
    return net


def adapt(model, frames: torch.Tensor, steps: int, lr: float = 2e-4, batch: int = 4, seed: int = 0,
          flow_weight: float = 1.0, colour_weight: float = 10.0, crop: int = 96, copy_model: bool = True,
          flow_estimator=None):
    """Fine-tune ``model`` on pairs of ``frames`` and return it (a copy unless ``copy_model`` is False).

    Args:
        model: a :class:`~magplus.magnify.learned.MagPlus` / ``DeMagPlus`` (its ``net`` is tuned)
            or a bare :class:`~magplus.magnify.nets.MagNet`.
        frames: the clip ``(T, 3, H, W)`` in [0, 1], T >= 2. Pairs are (frame 0, frame t) and
            consecutive frames, as in FlowMag.
        steps: optimiser steps (0 returns the model unchanged).
        lr: Adam learning rate (small: the shipped weights are a good start).
        batch: pairs per step; crop: random square crop side (multiple of 8, clipped to the frame).
        flow_weight, colour_weight: weights of the FlowMag terms (FlowMag uses 1 and 10).
        flow_estimator: differentiable flow for the losses; default ``LucasKanadeFlow()``.

    Returns:
        The adapted model, in eval mode.
    """
    check_frames(frames, "frames", min_frames=2)
    if not isinstance(steps, int) or steps < 0:
        raise InputError(f"steps must be an int >= 0, got {steps!r}.")
    if steps == 0:
        return model
    from ..flow.lucas_kanade import LucasKanadeFlow

    model = copy.deepcopy(model) if copy_model else model
    net = _network(model)
    low, high = getattr(model, "alpha_low", 1.0), getattr(model, "alpha_high", 32.0)
    if net.config.invert_code:
        low, high = getattr(model, "alpha_low", 1.0 / 32.0), 1.0
    weights = LossWeights(supervised=0.0, field=0.0, flow=flow_weight, colour=colour_weight)
    estimator = flow_estimator or LucasKanadeFlow()
    gen = torch.Generator().manual_seed(seed)
    t, _, h, w = frames.shape
    side = max(8, min(crop, h, w) // 8 * 8)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    for _ in range(steps):
        firsts = torch.randint(0, t - 1, (batch,), generator=gen)
        consecutive = torch.rand(batch, generator=gen) < 0.5
        refs = torch.where(consecutive, firsts, torch.zeros_like(firsts))
        y = int(torch.randint(0, h - side + 1, (1,), generator=gen))
        x = int(torch.randint(0, w - side + 1, (1,), generator=gen))
        ref, frame = frames[refs, :, y:y + side, x:x + side], frames[firsts + 1, :, y:y + side, x:x + side]
        u = torch.rand(batch, generator=gen)
        alpha = torch.exp(math.log(low) + u * (math.log(high) - math.log(low)))
        output, field = net(ref, frame, alpha.view(-1, 1, 1, 1), return_field=True)
        sample = {"ref": ref, "frame": frame, "alpha": alpha, "supervised": torch.zeros(batch)}
        loss, _ = magnification_loss(output, field, sample, weights, estimator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()
    net.eval()
    return model
