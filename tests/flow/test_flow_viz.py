"""Flow colour coding: white at zero, distinct hues per direction, saturation with length, errors."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
import torch

from magplus.errors import InputError, ShapeError
from magplus.flow.viz import color_wheel, color_wheel_legend, flow_to_color


def constant_flow(dx, dy, size=4):
    flow = torch.zeros(2, size, size)
    flow[0], flow[1] = dx, dy
    return flow


def test_zero_flow_is_white():
    image = flow_to_color(torch.zeros(2, 5, 7))
    assert image.shape == (5, 7, 3) and image.dtype == np.uint8 and (image == 255).all()


def test_directions_have_distinct_hues_and_right_is_red():
    colors = {}
    for name, (dx, dy) in {"right": (1, 0), "down": (0, 1), "left": (-1, 0), "up": (0, -1)}.items():
        colors[name] = flow_to_color(constant_flow(dx, dy), max_magnitude=1.0)[0, 0]
    assert tuple(colors["right"]) == (255, 0, 0)
    hues = [colorsys.rgb_to_hsv(*(c / 255.0))[0] for c in colors.values()]
    gaps = [abs(a - b) % 1.0 for i, a in enumerate(hues) for b in hues[i + 1:]]
    assert min(min(g, 1 - g) for g in gaps) > 0.08  # at least ~30 degrees apart
    assert colors["left"][2] > colors["left"][0]  # left is on the cyan side


def test_saturation_grows_with_length_and_scale_is_shared():
    short = flow_to_color(constant_flow(0.25, 0), max_magnitude=1.0)[0, 0].astype(int)
    long = flow_to_color(constant_flow(1.0, 0), max_magnitude=1.0)[0, 0].astype(int)
    assert short[0] == 255 and 255 > short[1] > long[1]
    mixed = torch.cat([constant_flow(0.5, 0), constant_flow(2.0, 0)], dim=2)
    auto = flow_to_color(mixed)  # scale = largest length
    assert tuple(auto[0, -1]) == (255, 0, 0) and auto[0, 0, 1] > 0
    assert np.isfinite(flow_to_color(constant_flow(5.0, 0), max_magnitude=1.0)).all()


def test_wheel_and_legend():
    wheel = color_wheel()
    assert wheel.shape == (55, 3) and wheel.min() >= 0 and wheel.max() <= 255
    legend = color_wheel_legend(33)
    assert legend.shape == (33, 33, 3) and (legend[16, 16] == 255).all()
    assert tuple(legend[16, 32]) == (255, 0, 0)  # rim on the right: full red
    assert len({tuple(c) for c in legend.reshape(-1, 3)}) > 200


def test_bad_inputs_raise():
    with pytest.raises(ShapeError, match=r"flow must be \(2, H, W\)"):
        flow_to_color(torch.zeros(1, 2, 4, 4))
    with pytest.raises(InputError, match="max_magnitude"):
        flow_to_color(torch.zeros(2, 4, 4), max_magnitude=0)
    with pytest.raises(InputError, match="size"):
        color_wheel_legend(2)
