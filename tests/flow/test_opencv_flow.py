"""OpenCV flow wrappers: convention, accuracy on a known shift, input forms, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from flow_testdata import fourier_shift, interior_epe, make_texture, nonrigid_pair

import magplus
from magplus.errors import InputError, ShapeError
from magplus.flow.opencv import DISFlow, FarnebackFlow, estimate_flow, to_gray_uint8


@pytest.fixture(scope="module")
def shifted_pair():
    src = make_texture(96, seed=5).float()
    return src, fourier_shift(src, 3.0, -1.5)


# Bounds: ~2-3x the EPE measured here on this 8-bit-quantised texture (DIS 0.04, Farneback 0.007,
# TV-L1 0.01, DeepFlow 0.016 px); a sign or axis mistake would give >= 3 px.
@pytest.mark.parametrize("name, bound", [("dis", 0.12), ("farneback", 0.05), ("tvl1", 0.05), ("deepflow", 0.05)])
def test_known_shift(shifted_pair, name, bound):
    src, tgt = shifted_pair
    estimator = magplus.create_flow(name)
    flow = estimator(src, tgt)
    assert flow.shape == (1, 2, 96, 96) and flow.dtype == torch.float32
    assert not estimator.differentiable
    assert interior_epe(flow, 3.0, -1.5, border=12) <= bound


def test_numpy_and_single_inputs(shifted_pair):
    src, tgt = shifted_pair
    batched = FarnebackFlow()(src, tgt)
    single = FarnebackFlow()(src[0], tgt[0])
    assert single.shape == (2, 96, 96) and torch.allclose(single, batched[0])
    as_uint8 = lambda x: (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # noqa: E731
    from_numpy = FarnebackFlow()(as_uint8(src), as_uint8(tgt))
    # quantising RGB before the luma differs from quantising the luma only by rounding
    assert from_numpy.shape == (2, 96, 96) and (from_numpy - single).abs().mean() < 0.05


def test_estimate_flow_convenience(shifted_pair):
    src, tgt = shifted_pair
    assert torch.equal(estimate_flow(src, tgt), DISFlow()(src, tgt))
    flow = estimate_flow(src, tgt, method="lucas-kanade", iterations=2)
    assert interior_epe(flow, 3.0, -1.5) < 0.2


def test_gray_conversion():
    white = torch.ones(2, 3, 8, 8)
    gray, single = to_gray_uint8(white)
    assert gray.shape == (2, 8, 8) and gray.dtype == np.uint8 and (gray == 255).all() and not single
    gray, single = to_gray_uint8(np.zeros((8, 8), dtype=np.uint8))
    assert gray.shape == (1, 8, 8) and single


def test_bad_inputs_raise():
    with pytest.raises(InputError, match="preset must be one of"):
        DISFlow(preset="slow")
    for bad in (-1, 5, 0.5, True):
        with pytest.raises(InputError, match="finest_scale"):
            DISFlow(finest_scale=bad)
    with pytest.raises(InputError, match="poly_n"):
        FarnebackFlow(poly_n=6)
    with pytest.raises(ShapeError, match="same shape"):
        DISFlow()(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 16))
    with pytest.raises(ShapeError, match="at least 8 x 8"):
        DISFlow()(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4))
    with pytest.raises(ShapeError, match="torch tensor or a numpy array"):
        DISFlow()([1, 2], [1, 2])


def test_reused_dis_object_gives_the_same_flow_as_a_fresh_one(shifted_pair):
    import pickle

    src, tgt = shifted_pair
    reused = DISFlow()
    first = reused(src, tgt)
    other = reused(tgt, src)  # a different pair in between must leave no state behind
    assert reused._estimators and not torch.equal(first, other)
    assert torch.equal(reused(src, tgt), first)
    assert torch.equal(DISFlow()(src, tgt), first)
    copy = pickle.loads(pickle.dumps(reused))  # worker processes get their own OpenCV object
    assert copy._estimators is None and torch.equal(copy(src, tgt), first)
    reused.preset = "ultrafast"
    assert reused._estimators is None and reused(src, tgt).shape == first.shape


def test_pairs_on_a_thread_pool_give_the_flow_of_one_thread(shifted_pair):
    src, tgt = shifted_pair
    batch_src, batch_tgt = src.expand(6, -1, -1, -1).contiguous(), torch.roll(tgt, 1, dims=-1).expand(6, -1, -1, -1)
    batch_tgt = torch.cat([tgt, batch_tgt[1:]])
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = DISFlow()(batch_src, batch_tgt)
        torch.set_num_threads(2)
        pooled = DISFlow()(batch_src, batch_tgt)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(alone, pooled)  # same pairs, same order, whichever thread ran them
    assert not torch.equal(pooled[0], pooled[1])


def test_float32_gray_conversion_matches_float64_but_at_rounding_ties():
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    luma = np.array([0.299, 0.587, 0.114], dtype=np.float64)
    exact = np.moveaxis(images.double().numpy(), 1, -1) * 255.0 @ luma
    want = np.clip(np.rint(exact), 0, 255).astype(np.uint8)
    gray, _ = to_gray_uint8(images)
    near_tie = np.abs(exact - np.floor(exact) - 0.5) < 1e-4
    assert np.array_equal(gray[~near_tie], want[~near_tie])
    assert np.abs(gray.astype(int) - want).max() <= 1
    rgb = (images[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    from_uint8, single = to_gray_uint8(rgb)
    exact_uint8 = rgb.astype(np.float64) @ luma
    assert single and np.abs(from_uint8[0].astype(int) - np.rint(exact_uint8)).max() <= 1


def test_dis_at_full_resolution_follows_a_smooth_nonrigid_motion_closer():
    # Measured on this pair (96², smooth field of 1.5 px): EPE 0.110 px with the medium preset's
    # finest level 1, 0.039 px at level 0; a level that was not applied would leave them equal.
    src, tgt, truth = nonrigid_pair(96, 1.5)
    epe = {scale: float((DISFlow(finest_scale=scale)(src, tgt) - truth).norm(dim=1)[..., 12:-12, 12:-12].mean())
           for scale in (None, 0)}
    assert epe[0] < 0.06 and epe[None] > 1.8 * epe[0]
