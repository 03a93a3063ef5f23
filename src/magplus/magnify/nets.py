"""The network behind MagPlus and DeMagPlus: a small motion-field predictor with a warp head.

Design (see ``src/magplus/weights/magplus.md`` for the reasoning and the ablation):

* A shared encoder maps a frame to features at 1/2 and 1/4 resolution. The reference frame is
  encoded once per clip and reused for every frame (the costliest part is not repeated).
* A fusion trunk at 1/4 resolution sees ``[feat(I0), feat(It), feat(It) - feat(I0), code(α)]``;
  a decoder brings it to 1/2 resolution with a skip connection.
* The head predicts a unit displacement field ``u`` (pixels, full resolution after bilinear
  up-sampling) and a colour residual ``r``. The output is

      Î = backward_warp(It, (α - 1) · u) + tanh(log α) · r

  so α = 1 is the identity *by construction* (both scales vanish), and the motion grows
  linearly with α to first order, as magnification requires. Warping the current frame keeps
  its texture sharp; a network that re-synthesises RGB through a sigmoid (FlowMag) blurs fine
  detail. The α code still enters the trunk so that the field can adapt to α (occlusions,
  saturation of large motions).

α code: ``sin(2π·a/λ_k)`` for 32 wavelengths log-spaced in ``[2^-3, 2^7]`` (FlowMag), evaluated
per pixel. For the de-magnifier (α < 1) the same code is applied to ``a = 1/α`` — the amount of
attenuation — so both networks see codes in the same numeric range; ``log_alpha_code`` selects it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..flow.lucas_kanade import to_luminance
from ..ops.warp import backward_warp

#: Number of sinusoids in the α code and the range of their wavelengths (FlowMag).
CODE_SIZE = 32
WAVELENGTHS = torch.logspace(-3, 7, CODE_SIZE, base=2.0)


@dataclass
class MagNetConfig:
    """Constructor arguments of :class:`MagNet`; saved with the weights so a file rebuilds its model.

    Attributes:
        width: channels at 1/2 resolution (1/4 resolution uses ``2 * width``).
        blocks: residual blocks in the 1/4-resolution trunk.
        invert_code: code ``1/α`` instead of ``α`` (the de-magnifier, α < 1).
        residual: predict a colour residual besides the displacement field (ablation switch).
        prior: feed a parameter-free local least-squares motion estimate (see :func:`motion_prior`)
            and predict a correction to it (ablation switch; without it the network must learn
            the division in the normal equations itself, which it did not in short CPU runs).
        warp: output head. True: warp the frame by ``(α-1)·u`` (+ residual). False (ablation
            only): re-synthesise colour, ``Î = It + tanh(log α)·r`` with an unbounded-range r,
            the analogue of an RGB head.
        prior_steps: 1: the prior's two estimates are single least-squares solves (the shipped
            weights). k > 1: coarse to fine with warping, k solves per level (see
            :func:`motion_prior`); a single solve reads a shift of 1–16 px 18–92 % short,
            which α then multiplies.
        prior_guard: with prior_steps > 1 only (False: the plain refinement of the candidates
            measured so far). True: each update moves at most ``GUARD_STEP`` px of its level, and
            a fine window whose refined estimate reads under ``GUARD_HANDOVER`` px keeps the single
            solve (blended linearly from half that). On held-out photos the plain refinement is no
            better than one solve below ~0.4 px and has a heavy error tail at texture (camera, 1-px
            shift: 99th percentile 4.0 px against 1.4 for one solve and 1.8 guarded).
    """

    width: int = 16
    blocks: int = 2
    invert_code: bool = False
    residual: bool = True
    prior: bool = True
    warp: bool = True
    prior_steps: int = 1
    prior_guard: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def alpha_code(alpha_map: torch.Tensor, invert: bool = False) -> torch.Tensor:
    """Sinusoidal α code per pixel.

    Args:
        alpha_map: ``(B, 1, h, w)`` α > 0.
        invert: code ``1/α`` (de-magnifier).

    Returns:
        ``(B, 32, h, w)`` values in [-1, 1].
    """
    value = 1.0 / alpha_map if invert else alpha_map
    lam = WAVELENGTHS.to(alpha_map.device, alpha_map.dtype).view(1, -1, 1, 1)
    return torch.sin(2.0 * math.pi * value / lam)


def _least_squares_motion(ref: torch.Tensor, frame: torch.Tensor, pool: int, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-window solution of the linearised brightness constancy ``∇I·F = I0 - It``.

    Args:
        ref, frame: grey ``(B, 1, h, w)``.
        pool: window averaging before the 3x3 smoothing (the output is ``pool`` times smaller).
        eps: Tikhonov term: flat windows give a zero motion instead of noise.

    Returns:
        flow ``(B, 2, h/pool, w/pool)`` from ref to frame in input pixels, and a confidence
        ``(B, 1, ...)`` (log of the structure tensor's determinant).
    """
    mean = 0.5 * (ref + frame)
    padded = F.pad(mean, (1, 1, 1, 1), mode="replicate")
    grad_x = 0.5 * (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2])
    grad_y = 0.5 * (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1])
    diff = ref - frame
    terms = torch.cat([grad_x * grad_x, grad_y * grad_y, grad_x * grad_y, grad_x * diff, grad_y * diff], 1)
    if pool > 1:
        terms = F.avg_pool2d(terms, pool)
    terms = F.avg_pool2d(terms, 3, stride=1, padding=1, count_include_pad=False)
    xx, yy, xy, xt, yt = (terms[:, i:i + 1] + (eps if i < 2 else 0.0) for i in range(5))
    det = xx * yy - xy * xy
    flow = torch.cat([yy * xt - xy * yt, xx * yt - xy * xt], 1) / det
    return flow.clamp(-12.0, 12.0), torch.log(det.clamp_min(1e-12)) / 10.0


#: Guarded refinement (``MagNetConfig.prior_guard``): the largest update per step, in pixels of the
#: level's windows (a linearised solve is only trusted near its linearisation point), and the refined
#: reading below which the fine estimate keeps the single solve (it is within ~5 % there).
GUARD_STEP = 0.5
GUARD_HANDOVER = 0.5


def _refined(ref: torch.Tensor, frame: torch.Tensor, flow: torch.Tensor, pool: int, eps: float,
             steps: int, guard: bool = False) -> torch.Tensor:
    """``steps`` Gauss-Newton updates of ``flow`` (ref -> frame, ``(B, 2, h/pool, w/pool)`` in
    pixels of ``ref``): warp ``frame`` back by the current flow, solve for what is left, add it
    (at most ``GUARD_STEP`` window pixels per step when ``guard``)."""
    size = ref.shape[-2:]
    for _ in range(steps):
        dense = flow if pool == 1 else F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
        residual, _ = _least_squares_motion(ref, backward_warp(frame, dense, padding_mode="border"), pool, eps)
        if guard:
            limit = GUARD_STEP * pool
            residual = residual * (limit / residual.norm(dim=1, keepdim=True).clamp_min(limit))
        flow = F.avg_pool2d(flow + residual, 3, stride=1, padding=1, count_include_pad=False)
    return flow


def motion_prior(ref: torch.Tensor, frame: torch.Tensor, steps: int = 1, guard: bool = False) -> torch.Tensor:
    """Parameter-free motion cues at 1/4 resolution: a classical input feature, not a trained part.

    Two local least-squares (Lucas-Kanade-style) estimates of the backward map ``u ≈ -F(ref→frame)``
    in full-resolution pixels, with their confidences: a fine one from full-resolution gradients
    (accurate for sub-pixel motion) and a coarse one from 1/4-resolution images (reaches several
    pixels).

    With ``steps = 1`` each is one solve. With ``steps = k > 1`` they are refined coarse to fine:
    the coarse one starts at 1/8 resolution and is refined at 1/4, the fine one starts from the
    coarse one; each level warps the frame by the estimate so far and solves ``k`` times for the
    rest (a single linearised solve under-reads a shift of a pixel or more). ``guard`` limits each
    update and keeps the single fine solve where the refined one reads under ``GUARD_HANDOVER`` px.

    Args:
        ref: ``(B or 1, 3, H, W)``; frame: ``(B, 3, H, W)``; H, W multiples of 8.
        steps: solves per level (>= 1).
        guard: guarded refinement (only with steps > 1).

    Returns:
        ``(B, 6, H/4, W/4)``: fine u (2), coarse u (2), fine and coarse confidence.
    """
    ref_gray, frame_gray = to_luminance(ref).expand(frame.shape[0], -1, -1, -1), to_luminance(frame)
    fine, fine_conf = _least_squares_motion(ref_gray, frame_gray, 4, 1e-5)
    small_ref, small_frame = F.avg_pool2d(ref_gray, 4), F.avg_pool2d(frame_gray, 4)
    coarse, coarse_conf = _least_squares_motion(small_ref, small_frame, 1, 1e-4)
    if steps > 1:
        tiny_ref, tiny_frame = F.avg_pool2d(small_ref, 2), F.avg_pool2d(small_frame, 2)
        tiny, _ = _least_squares_motion(tiny_ref, tiny_frame, 1, 1e-4)
        tiny = _refined(tiny_ref, tiny_frame, tiny, 1, 1e-4, steps - 1, guard)
        start = 2.0 * F.interpolate(tiny, size=small_ref.shape[-2:], mode="bilinear", align_corners=False)
        coarse = _refined(small_ref, small_frame, start, 1, 1e-4, steps, guard)
        # The fine solve works in full-resolution pixels on 4x4 windows, so it starts from 4x the coarse flow.
        refined = _refined(ref_gray, frame_gray, 4.0 * coarse, 4, 1e-5, steps, guard)
        if guard:
            # 0 below half the handover reading, 1 above it: small motions keep the single solve. The
            # refined reading decides (a single solve can read a large motion as almost none).
            weight = (refined.norm(dim=1, keepdim=True) / (0.5 * GUARD_HANDOVER) - 1.0).clamp(0.0, 1.0)
            refined = fine + weight * (refined - fine)
        fine = refined
    return torch.cat([-fine, -4.0 * coarse, fine_conf, coarse_conf], 1)


def _conv(cin: int, cout: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2), nn.LeakyReLU(0.1, inplace=True))


class _ResBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True), nn.Conv2d(channels, channels, 3, 1, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x + self.body(x), 0.1)


class Encoder(nn.Module):
    """Frame ``(B, 3, H, W)`` -> features at 1/4 resolution ``(B, 2c, H/4, W/4)``.

    A 4x4 space-to-depth rearrangement feeds every full-resolution pixel to the first
    convolution, so sub-pixel detail reaches the features although all the work happens at
    1/4 resolution or below (the cheapest way found to keep both accuracy and speed).
    """

    def __init__(self, width: int):
        super().__init__()
        self.layers = nn.Sequential(nn.PixelUnshuffle(4), _conv(48, 2 * width), _conv(2 * width, 2 * width))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        # Centre the input so that a flat grey image gives small activations.
        return self.layers(image - 0.5)


class MagNet(nn.Module):
    """Predicts ``Î`` from a reference, a frame and a per-pixel α (see the module docstring).

    Resolutions: encoder at 1/4, a trunk at 1/8 for reach (large de-magnified motions), fusion
    and the head at 1/4, the field up-sampled to full size. Input sizes must be multiples of 8.
    """

    def __init__(self, config: MagNetConfig | None = None):
        super().__init__()
        self.config = config or MagNetConfig()
        c = self.config.width
        self.encoder = Encoder(c)
        # The fusion is a 1x1 convolution over [feat(I0), feat(It), code(α)], written as a sum of
        # three projections: the reference term is computed once per clip and a scalar α's code
        # costs nothing per pixel. (A feat(It) - feat(I0) input would be redundant for a 1x1 conv.)
        self.project_ref = nn.Conv2d(2 * c, 2 * c, 1)
        self.project_frame = nn.Conv2d(2 * c, 2 * c, 1, bias=False)
        self.project_code = nn.Conv2d(CODE_SIZE, 2 * c, 1, bias=False)
        self.project_prior = nn.Conv2d(6, 2 * c, 1, bias=False) if self.config.prior else None
        self.down = _conv(2 * c, 3 * c, 2)
        self.trunk = nn.Sequential(*[_ResBlock(3 * c) for _ in range(self.config.blocks)])
        self.merge = nn.Sequential(_conv(3 * c + 2 * c, 2 * c, kernel=1), _conv(2 * c, 2 * c))
        self.head = nn.Conv2d(2 * c, 5 if self.config.residual else 2, 3, 1, 1)
        # Start from the identity: zero field and zero residual.
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """Reference term ``(B, 2c, H/4, W/4)`` of ``image`` ``(B, 3, H, W)``; compute once per clip."""
        return self.project_ref(self.encoder(image))

    def predict(
        self, ref_feats: torch.Tensor, ref: torch.Tensor, frame: torch.Tensor, alpha_map: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit displacement ``u`` ``(B, 2, H, W)`` in pixels and residual ``r`` ``(B, 3, H, W)``.

        ``ref_feats`` (from :meth:`encode`) may have batch 1 (shared reference); it is broadcast.
        ``alpha_map`` is ``(B, 1, H, W)`` or ``(B, 1, 1, 1)``.
        """
        h, w = frame.shape[-2:]
        feats = self.project_frame(self.encoder(frame))
        size = feats.shape[-2:]
        if alpha_map.shape[-2:] != (1, 1):
            alpha_map = F.interpolate(alpha_map, size=size, mode="area")
        x = feats + ref_feats + self.project_code(alpha_code(alpha_map, self.config.invert_code))
        prior = None
        if self.project_prior is not None:
            prior = motion_prior(ref, frame, self.config.prior_steps, self.config.prior_guard)
            x = x + self.project_prior(prior)
        x = F.leaky_relu(x, 0.1)
        deep = self.trunk(self.down(x))  # B x 3c x H/8 x W/8
        deep = F.interpolate(deep, size=size, mode="bilinear", align_corners=False)
        out = self.head(self.merge(torch.cat([x, deep], 1)))  # B x 5 x H/4 x W/4
        if prior is not None:
            # The network predicts a correction to the prior: fine estimate for the magnifier
            # (sub-pixel inputs), coarse one for the de-magnifier (inputs of several pixels).
            start = 2 if self.config.invert_code else 0
            out = torch.cat([out[:, :2] + prior[:, start:start + 2], out[:, 2:]], 1)
        out = F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
        field = out[:, :2]
        residual_range = 0.1 if self.config.warp else 1.0
        residual = residual_range * torch.tanh(out[:, 2:]) if self.config.residual or not self.config.warp else None
        return field, residual

    def forward(
        self,
        ref: torch.Tensor,
        frame: torch.Tensor,
        alpha_map: torch.Tensor,
        ref_feats: torch.Tensor | None = None,
        return_field: bool = False,
    ):
        """Magnify (α > 1) or attenuate (α < 1) the motion of ``frame`` relative to ``ref``.

        Args:
            ref: ``(B or 1, 3, H, W)`` in [0, 1].
            frame: ``(B, 3, H, W)`` in [0, 1].
            alpha_map: ``(B, 1, H, W)`` α > 0 per pixel (1 where nothing should change), or
                ``(B, 1, 1, 1)`` for one α per frame (cheaper).
            ref_feats: precomputed :meth:`encode` of ``ref`` (saves time on clips).
            return_field: also return the applied displacement ``(α-1)·u`` ``(B, 2, H, W)``.

        Returns:
            ``Î`` ``(B, 3, H, W)`` (not clamped, so training sees true errors), and the field if asked.
        """
        if ref_feats is None:
            ref_feats = self.encode(ref)
        unit, residual = self.predict(ref_feats, ref, frame, alpha_map)
        field = (alpha_map - 1.0) * unit
        out = backward_warp(frame, field, padding_mode="border") if self.config.warp else frame
        if residual is not None:
            out = out + torch.tanh(torch.log(alpha_map)) * residual
        return (out, field) if return_field else out


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
