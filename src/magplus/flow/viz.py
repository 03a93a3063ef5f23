"""Optical-flow colour coding (the Middlebury colour wheel of Baker et al., 2011).

Hue encodes direction and saturation encodes length: zero flow is white, a vector of length
``max_magnitude`` has a fully saturated colour, and longer vectors are darkened. The wheel is built
from six ramps between red, yellow, green, cyan, blue and magenta, with the Middlebury segment
lengths (15, 6, 4, 11, 13, 6 hues) so that perceptually similar directions get similar colours.
In image coordinates (y down): right (+x) is red, down (+y) yellow-orange, left (-x) cyan-green,
up (-y) blue-violet, as in the Middlebury code.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError, ShapeError

# Number of hues on each ramp: red->yellow, yellow->green, green->cyan, cyan->blue, blue->magenta, magenta->red.
_SEGMENTS = (15, 6, 4, 11, 13, 6)
_CORNERS = ((255, 0, 0), (255, 255, 0), (0, 255, 0), (0, 255, 255), (0, 0, 255), (255, 0, 255))


def color_wheel() -> np.ndarray:
    """The hue table ``(55, 3)`` float in [0, 255], going round the wheel from red."""
    rows = []
    for index, count in enumerate(_SEGMENTS):
        start = np.array(_CORNERS[index], dtype=np.float64)
        end = np.array(_CORNERS[(index + 1) % len(_CORNERS)], dtype=np.float64)
        ramp = np.arange(count, dtype=np.float64)[:, None] / count
        rows.append(start + (end - start) * ramp)
    return np.concatenate(rows)


def _as_numpy_flow(flow) -> np.ndarray:
    if isinstance(flow, torch.Tensor):
        flow = flow.detach().cpu().double().numpy()
    if not isinstance(flow, np.ndarray) or flow.ndim != 3 or flow.shape[0] != 2:
        shape = getattr(flow, "shape", type(flow).__name__)
        raise ShapeError(f"flow must be (2, H, W) (x then y, pixels), got {shape}; pass one flow, not a batch.")
    return flow.astype(np.float64)


def flow_to_color(flow, max_magnitude: float | None = None) -> np.ndarray:
    """Colour-code a flow field.

    Args:
        flow: ``(2, H, W)`` torch or numpy, in pixels (x then y).
        max_magnitude: the length shown fully saturated; None uses the largest length in ``flow``
            (fix it to compare several fields on one scale). Longer vectors are darkened.

    Returns:
        ``(H, W, 3)`` uint8 RGB. Zero flow is white; NaN/inf vectors are black.
    """
    flow = _as_numpy_flow(flow)
    if max_magnitude is not None and not (np.isfinite(max_magnitude) and max_magnitude > 0):
        raise InputError(f"max_magnitude must be a finite number > 0 or None, got {max_magnitude!r}.")
    invalid = ~np.isfinite(flow).all(axis=0)
    u, v = np.where(invalid, 0.0, flow[0]), np.where(invalid, 0.0, flow[1])
    radius = np.hypot(u, v)
    if max_magnitude is None:
        max_magnitude = float(radius.max()) if radius.size and radius.max() > 0 else 1.0
    radius = radius / max_magnitude
    wheel = color_wheel()
    hues = len(wheel)
    # angle 0 along +x, growing towards +y; map [0, 2 pi) onto [0, hues) and interpolate between hues
    position = (np.arctan2(v, u) % (2 * np.pi)) / (2 * np.pi) * hues
    low = np.floor(position).astype(int) % hues
    high = (low + 1) % hues
    frac = (position - np.floor(position))[..., None]
    hue = (1 - frac) * wheel[low] + frac * wheel[high]
    saturation = np.minimum(radius, 1.0)[..., None]
    color = 255.0 - saturation * (255.0 - hue)  # blend from white towards the hue
    over = radius > 1.0
    color[over] *= (1.0 / radius[over])[:, None] ** 0.5  # soften, do not clip, vectors beyond the scale
    color[invalid] = 0.0
    return np.clip(np.rint(color), 0, 255).astype(np.uint8)


def color_wheel_legend(size: int = 64) -> np.ndarray:
    """A ``(size, size, 3)`` uint8 legend: the colour of every direction and length up to the rim.

    The centre is zero flow (white); the rim of the inscribed circle is ``max_magnitude``; corners
    outside the circle are white.
    """
    if not isinstance(size, int) or size < 3:
        raise InputError(f"size must be an int >= 3, got {size!r}.")
    centre = (size - 1) / 2.0
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    flow = np.stack([xs - centre, ys - centre]) / centre
    legend = flow_to_color(flow, max_magnitude=1.0)
    legend[np.hypot(flow[0], flow[1]) > 1.0] = 255
    return legend
