"""Optical flow estimators behind the :class:`FlowEstimator` interface, and flow colour coding.

Convention: ``flow = estimator(src, tgt)`` is ``(B, 2, H, W)`` in pixels with
``backward_warp(tgt, flow) ≈ src``. ``LucasKanadeFlow`` is differentiable (for training losses);
the OpenCV estimators are for evaluation. Flow arithmetic lives in :mod:`magplus.ops.flow_utils`.
"""

from .base import FlowEstimator
from .lucas_kanade import LucasKanadeFlow
from .opencv import DeepFlow, DISFlow, FarnebackFlow, TVL1Flow, estimate_flow
from .viz import color_wheel_legend, flow_to_color

__all__ = [
    "FlowEstimator",
    "LucasKanadeFlow",
    "DISFlow",
    "FarnebackFlow",
    "TVL1Flow",
    "DeepFlow",
    "estimate_flow",
    "flow_to_color",
    "color_wheel_legend",
]
