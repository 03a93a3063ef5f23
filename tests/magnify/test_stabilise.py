"""Stabilised magnification (``Magnifier(..., head_shift=)``): the head's translation is taken out
of the output and only the rest of the motion is scaled, by the Lagrangian's own single warp and
by the default of every other magnifier (shift each frame back, then magnify)."""

from __future__ import annotations

import pytest
import torch

from magplus.errors import ShapeError
from magplus.magnify.eulerian import EulerianMagnifier
from magplus.magnify.lagrangian import LagrangianMagnifier
from magplus.ops.warp import shift_frames
from magplus.synth import default_face


def _translated_clip(shifts):
    ref = default_face()
    shift = torch.tensor(shifts, dtype=torch.float32)
    return ref, shift_frames(ref[None].expand(len(shifts), -1, -1, -1), shift), shift


def _interior(x: torch.Tensor, margin: int = 16) -> torch.Tensor:
    return x[..., margin:-margin, margin:-margin]


def test_shift_frames_moves_content_by_the_shift():
    ref, moved, _ = _translated_clip([[3.0, -2.0]])
    # out(x, y) = ref(x - 3, y + 2), away from the repeated border; an integer shift is exact up to
    # grid_sample's coordinate round-off (measured 7.7e-6).
    assert float((_interior(moved[0, :, :-2, 3:]) - _interior(ref[:, 2:, :-3])).abs().max()) < 2e-5
    with pytest.raises(ShapeError, match="shift"):
        shift_frames(moved, torch.zeros(2, 2))


def test_lagrangian_holds_the_head_still_in_one_warp():
    ref, frames, shift = _translated_clip([[0.0, 0.0], [0.6, 0.3], [1.2, -0.4]])
    mag = LagrangianMagnifier()
    steady = _interior(mag(ref, frames, 8.0, head_shift=shift) - ref[None]).abs().mean(dim=(1, 2, 3))
    loose = _interior(mag(ref, frames, 8.0) - ref[None]).abs().mean(dim=(1, 2, 3))
    # Stabilised, pure head motion leaves every frame at the reference, up to the blur of resampling
    # a sub-pixel shift twice (0.008 at alpha = 1) and DIS's error times 8: measured 0.011 and
    # 0.012. Unstabilised, the head motion is magnified 8 times: 0.085 and 0.129.
    assert float(steady.max()) < 0.02
    assert bool((loose[1:] > 4 * steady[1:]).all())


def test_other_magnifiers_stabilise_by_shifting_each_frame_back():
    # Integer shifts are exact (up to grid round-off), so the stabilised frames equal the reference
    # except at the repeated border, which the pyramid spreads a little inward: measured mean
    # |difference| <= 1.6e-5 inside a 32-px margin. Unstabilised, the 10x magnified shifts: 0.28-0.33.
    ref, frames, shift = _translated_clip([[0.0, 0.0], [2.0, 1.0], [-1.0, 3.0]])
    eulerian = EulerianMagnifier()

    def error(out):
        return float(_interior(out - ref[None], 32).abs().mean(dim=(1, 2, 3))[1:].max())
    assert error(eulerian(ref, frames, 10.0, head_shift=shift)) < 1e-3
    assert error(eulerian(ref, frames, 10.0)) > 0.1


def test_head_shift_must_have_one_translation_per_frame():
    ref, frames, shift = _translated_clip([[0.0, 0.0], [1.0, 0.0]])
    with pytest.raises(ShapeError, match="head_shift"):
        LagrangianMagnifier()(ref, frames, 4.0, head_shift=shift[:1])
