"""Gaussian / Laplacian pyramids: exact collapse, agreement with OpenCV, flow upsampling, errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from magplus.errors import InputError, ShapeError
from magplus.ops.pyramid import (collapse_laplacian, gaussian_blur, gaussian_pyramid, laplacian_pyramid, max_levels,
                                 pyr_down, pyr_up, upsample_flow)


@pytest.mark.parametrize("size", [(32, 32), (37, 50)])
def test_laplacian_collapses_back_exactly(size):
    image = torch.rand(2, 3, *size, dtype=torch.float64)
    bands = laplacian_pyramid(image, levels=4)
    assert [tuple(b.shape[-2:]) for b in bands][0] == size and len(bands) == 4
    assert torch.allclose(collapse_laplacian(bands), image, atol=1e-12)
    # the bands are band-pass: a constant image has (numerically) empty bands
    flat = laplacian_pyramid(torch.full((1, 1, *size), 0.3, dtype=torch.float64), levels=3)
    assert all(b.abs().max() < 1e-12 for b in flat[:-1])


def test_matches_opencv_pyrdown_pyrup_inside():
    rng = np.random.default_rng(0)
    image = rng.random((37, 50)).astype(np.float32)
    ours = pyr_down(torch.from_numpy(image)[None, None])[0, 0].numpy()
    assert ours.shape == cv2.pyrDown(image).shape
    assert np.abs(ours - cv2.pyrDown(image))[3:-3, 3:-3].max() < 1e-5
    coarse = rng.random((19, 25)).astype(np.float32)
    up = pyr_up(torch.from_numpy(coarse)[None, None], (37, 50))[0, 0].numpy()
    assert np.abs(up - cv2.pyrUp(coarse, dstsize=(50, 37)))[3:-3, 3:-3].max() < 1e-5


def test_gaussian_pyramid_and_blur():
    image = torch.rand(1, 3, 64, 48)
    levels = gaussian_pyramid(image, 3)
    assert [tuple(x.shape[-2:]) for x in levels] == [(64, 48), (32, 24), (16, 12)]
    blurred = gaussian_blur(image, 2.0)
    assert blurred.shape == image.shape and blurred.std() < 0.5 * image.std()
    assert torch.allclose(blurred.mean(), image.mean(), atol=0.01)
    assert max_levels(128, 128, min_size=16) == 4 and max_levels(1, 1) == 1


def test_upsample_flow_doubles_vectors_on_even_pixels():
    coarse = torch.randn(1, 2, 10, 13)
    fine = upsample_flow(coarse, (19, 25))
    assert fine.shape == (1, 2, 19, 25)
    assert torch.allclose(fine[..., ::2, ::2], 2 * coarse, atol=1e-5)


def test_pyramid_gradients_flow():
    image = torch.rand(1, 1, 16, 16, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: laplacian_pyramid(x, 3)[1], (image,), fast_mode=True)


def test_bad_inputs_raise():
    with pytest.raises(ShapeError, match=r"x must be a float tensor \(B, C, H, W\)"):
        pyr_down(torch.rand(3, 8, 8))
    with pytest.raises(InputError, match="levels"):
        gaussian_pyramid(torch.rand(1, 1, 8, 8), 0)
    with pytest.raises(InputError, match="too many"):
        laplacian_pyramid(torch.rand(1, 1, 8, 8), 9)
    with pytest.raises(ShapeError, match="does not match"):
        pyr_up(torch.rand(1, 1, 4, 4), (16, 16))
    with pytest.raises(InputError, match="sigma"):
        gaussian_blur(torch.rand(1, 1, 8, 8), 0.0)


@pytest.mark.parametrize("mode", ["replicate", "reflect", "constant"])
def test_separable_filter_opencv_path_equals_the_convolution(mode):
    """No-grad float32 CPU inputs take OpenCV's sepFilter2D; autograd inputs keep conv2d. Same sums in
    another order: measured <= 3e-7 here, held to 1e-6."""
    from magplus.ops.pyramid import gaussian_kernel1d, separable_filter

    x = torch.rand(2, 3, 17, 23, generator=torch.Generator().manual_seed(4))
    kx, ky = gaussian_kernel1d(1.5), torch.tensor([0.25, 0.5, 0.25])
    fast = separable_filter(x, kx, ky, padding_mode=mode)
    reference = separable_filter(x.double(), kx, ky, padding_mode=mode)  # float64 takes conv2d
    assert fast.dtype == torch.float32 and fast.shape == x.shape
    assert float((fast.double() - reference).abs().max()) <= 1e-6
    leaf = x.clone().requires_grad_(True)
    graded = separable_filter(leaf, kx, ky, padding_mode=mode)
    assert graded.grad_fn is not None and float((graded.detach() - fast).abs().max()) <= 1e-6
