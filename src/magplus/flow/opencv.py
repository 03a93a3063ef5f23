"""OpenCV optical-flow estimators (DIS, Farneback, TV-L1, DeepFlow) for evaluation.

They are not differentiable: inputs are converted to 8-bit gray, the flow is computed by OpenCV
on the CPU pair by pair and returned as a float32 tensor on the input's device. OpenCV's
``calc(prev, next)`` returns ``F`` with ``prev(p) ≈ next(p + F(p))``, which is magplus's
convention with ``prev = src`` and ``next = tgt``: ``backward_warp(tgt, F) ≈ src``.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from ..errors import DependencyError, InputError, ShapeError
from ..types import describe_shape
from .base import FlowEstimator
from .lucas_kanade import LUMA_WEIGHTS

_LUMA = np.array(LUMA_WEIGHTS, dtype=np.float32)


def _cv2():
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - cv2 is a core dependency
        raise DependencyError("OpenCV is missing; install opencv-contrib-python to use the OpenCV flow estimators.") from exc
    return cv2


def _cv2_contrib():
    cv2 = _cv2()
    if not hasattr(cv2, "optflow"):
        raise DependencyError("cv2.optflow is missing; install opencv-contrib-python (not opencv-python) for TV-L1 and DeepFlow.")
    return cv2


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    """The process's pool of ``workers`` threads for flow pairs (kept, so each thread keeps its estimators)."""
    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="magplus-flow")
    return _POOLS[workers]


# A forked child (batch workers) has none of its parent's threads: give it pools of its own.
os.register_at_fork(after_in_child=_POOLS.clear)


def to_gray_uint8(images: Any, name: str = "images") -> tuple[np.ndarray, bool]:
    """Convert images to 8-bit luma ``(B, H, W)``; also say whether the input was a single image.

    Accepts torch ``(B, 3, H, W)`` / ``(3, H, W)`` / ``(B, 1, H, W)`` floats in [0, 1], or numpy
    ``(B, H, W, 3)`` / ``(H, W, 3)`` (uint8, or floats in [0, 1]) and ``(H, W)`` / ``(B, H, W)`` gray.
    The luma is computed in float32 (on the tensor's device) and rounded half to even: float32
    carries 24 bits, far more than the 8 kept, so this differs from a float64 conversion only
    where the value lies within ~1e-5 of a rounding boundary.
    """
    if isinstance(images, torch.Tensor):
        single = images.ndim == 3
        batch = images[None] if single else images
        if batch.ndim != 4 or batch.shape[1] not in (1, 3):
            raise ShapeError(f"{name} must be a tensor (B, 3, H, W) or (3, H, W), got {describe_shape(images)}.")
        batch = batch.detach().float()
        if batch.shape[1] == 3:
            weights = torch.tensor(LUMA_WEIGHTS, dtype=torch.float32, device=batch.device).view(1, 3, 1, 1)
            batch = (batch * weights).sum(dim=1)
        else:
            batch = batch[:, 0]
        gray = batch.mul_(255.0).round_().clamp_(0, 255).to(torch.uint8)
        return gray.cpu().numpy(), single
    if not isinstance(images, np.ndarray):
        raise ShapeError(f"{name} must be a torch tensor or a numpy array, got {describe_shape(images)}.")
    array = images
    single = array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (1, 3))
    if array.ndim == 2 or (array.ndim == 3 and array.shape[-1] not in (1, 3)):
        array = array[..., None]
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3):
        raise ShapeError(f"{name} must be an array (B, H, W, 3), (H, W, 3) or (H, W), got {describe_shape(images)}.")
    if array.dtype == np.uint8 and array.shape[-1] == 1:
        return np.ascontiguousarray(array[..., 0]), single
    scaled = array.astype(np.float32) * (1.0 if array.dtype == np.uint8 else 255.0)
    gray = scaled[..., 0] if scaled.shape[-1] == 1 else scaled @ _LUMA
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8), single


class OpenCVFlow(FlowEstimator):
    """Base of the OpenCV wrappers: converts inputs, loops over the batch, returns torch flow.

    The OpenCV estimator object is created once per wrapper and thread, and reused for every pair
    (creating one allocates its buffers again; ``calc(src, tgt, None)`` keeps no state between
    pairs, so the flow is the same). A batch's pairs run on :func:`torch.get_num_threads` threads
    of a shared pool: OpenCV releases the GIL, and two single-pair calls side by side beat one
    call using two threads (DIS medium at 256²: 3.0 against 3.9 ms a pair on 2 cores). Pickled
    copies (worker processes) create their own estimators.
    """

    differentiable = False
    _estimators: dict | None = None

    def _create(self):
        """A fresh OpenCV estimator object (with ``calc``) or None when :meth:`_calc` is overridden."""
        return None

    def _instance(self):
        """The estimator object of this wrapper for the calling thread, created on first use."""
        if self._estimators is None:
            self._estimators = {}
        key = threading.get_ident()
        if key not in self._estimators:
            self._estimators[key] = self._create()
        return self._estimators[key]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_estimators", None)  # OpenCV objects do not pickle
        return state

    def _calc(self, src: np.ndarray, tgt: np.ndarray) -> np.ndarray:
        """Flow ``(H, W, 2)`` float32 between two uint8 gray images."""
        return self._instance().calc(src, tgt, None)

    def forward(self, src, tgt) -> torch.Tensor:
        """Flow ``(B, 2, H, W)`` float32 (``(2, H, W)`` for a single pair) with ``backward_warp(tgt, flow) ≈ src``.

        Args:
            src, tgt: torch ``(B, 3, H, W)`` / ``(3, H, W)`` in [0, 1], or numpy images (see :func:`to_gray_uint8`).
        """
        (gray_src, single), (gray_tgt, _) = to_gray_uint8(src, "src"), to_gray_uint8(tgt, "tgt")
        if gray_src.shape != gray_tgt.shape:
            raise ShapeError(f"src {tuple(np.shape(src))} and tgt {tuple(np.shape(tgt))} must have the same shape.")
        if min(gray_src.shape[1:]) < 8:
            raise ShapeError(f"src and tgt must be at least 8 x 8 pixels for OpenCV flow, got {gray_src.shape[1:]}.")
        workers = min(torch.get_num_threads(), len(gray_src))
        pairs = list(zip(gray_src, gray_tgt))
        if workers > 1:
            flows = list(_pool(workers).map(lambda pair: np.asarray(self._calc(*pair), dtype=np.float32), pairs))
        else:
            flows = [np.asarray(self._calc(a, b), dtype=np.float32) for a, b in pairs]
        flow = torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2).contiguous()
        if isinstance(src, torch.Tensor):
            flow = flow.to(src.device)
        return flow[0] if single else flow


class DISFlow(OpenCVFlow):
    """OpenCV Dense Inverse Search (Kroeger et al. 2016): fast, about 0.1–0.3 px on textured faces.

    Args:
        preset: "ultrafast", "fast" or "medium".
        finest_scale: pyramid level the flow is last refined at (0: full resolution); None keeps
            the preset's (medium: 1, half resolution, which smooths small, local motion away:
            on the synthetic micro-expressions the flow at moving landmarks is 0.76 of the truth
            at level 1 and 0.93 at level 0, for 3x the time).
    """

    name = "dis"
    _PRESETS = {"ultrafast": "DISOPTICAL_FLOW_PRESET_ULTRAFAST", "fast": "DISOPTICAL_FLOW_PRESET_FAST",
                "medium": "DISOPTICAL_FLOW_PRESET_MEDIUM"}

    def __init__(self, preset: str = "medium", finest_scale: int | None = None):
        if finest_scale is not None and (isinstance(finest_scale, bool) or not isinstance(finest_scale, int)
                                         or not 0 <= finest_scale <= 4):
            raise InputError(f"finest_scale must be None or a whole number in 0..4, got {finest_scale!r}.")
        self.finest_scale = finest_scale
        self.preset = preset

    @property
    def preset(self) -> str:
        return self._preset

    @preset.setter
    def preset(self, value: str) -> None:
        if value not in self._PRESETS:
            raise InputError(f"preset must be one of {sorted(self._PRESETS)}, got {value!r}.")
        self._preset = value
        self._estimators = None  # built again with the new preset on the next pair

    def _create(self):
        cv2 = _cv2()
        estimator = cv2.DISOpticalFlow_create(getattr(cv2, self._PRESETS[self.preset]))
        if self.finest_scale is not None:
            estimator.setFinestScale(self.finest_scale)
        return estimator


class FarnebackFlow(OpenCVFlow):
    """OpenCV Farnebäck polynomial-expansion flow (arguments as in ``cv2.calcOpticalFlowFarneback``)."""

    name = "farneback"

    def __init__(self, pyr_scale: float = 0.5, levels: int = 4, winsize: int = 15, iterations: int = 5,
                 poly_n: int = 5, poly_sigma: float = 1.1):
        if not (0 < pyr_scale < 1) or levels < 1 or winsize < 3 or iterations < 1 or poly_n not in (5, 7):
            raise InputError(f"Farneback needs 0 < pyr_scale < 1, levels >= 1, winsize >= 3, iterations >= 1 and "
                             f"poly_n in (5, 7), got {pyr_scale}, {levels}, {winsize}, {iterations}, {poly_n}.")
        self.params = (float(pyr_scale), int(levels), int(winsize), int(iterations), int(poly_n), float(poly_sigma), 0)

    def _calc(self, src: np.ndarray, tgt: np.ndarray) -> np.ndarray:
        return _cv2().calcOpticalFlowFarneback(src, tgt, None, *self.params)


class TVL1Flow(OpenCVFlow):
    """OpenCV-contrib dual TV-L1 (Zach et al. 2007; Wedel et al. 2009): accurate, slow.

    Args:
        tau, lambda_, theta, scales, warps, epsilon: as in ``cv2.optflow.DualTVL1OpticalFlow_create``.
    """

    name = "tvl1"

    def __init__(self, tau: float = 0.25, lambda_: float = 0.15, theta: float = 0.3, scales: int = 5,
                 warps: int = 5, epsilon: float = 0.01):
        if min(tau, lambda_, theta, epsilon) <= 0 or scales < 1 or warps < 1:
            raise InputError(f"TV-L1 needs positive tau, lambda_, theta, epsilon and scales, warps >= 1, got "
                             f"{tau}, {lambda_}, {theta}, {epsilon}, {scales}, {warps}.")
        self.kwargs = dict(tau=float(tau), lambda_=float(lambda_), theta=float(theta), nscales=int(scales),
                           warps=int(warps), epsilon=float(epsilon))

    def _create(self):
        return _cv2_contrib().optflow.DualTVL1OpticalFlow_create(**self.kwargs)


class DeepFlow(OpenCVFlow):
    """OpenCV-contrib DeepFlow (Weinzaepfel et al. 2013) with its default parameters."""

    name = "deepflow"

    def _create(self):
        return _cv2_contrib().optflow.createOptFlow_DeepFlow()


def estimate_flow(src, tgt, method: str = "dis", **kwargs) -> torch.Tensor:
    """One-call flow from ``src`` to ``tgt`` with any registered estimator (default OpenCV DIS).

    Args:
        src, tgt: ``(B, 3, H, W)`` or ``(3, H, W)`` in [0, 1] (OpenCV methods also take numpy images).
        method: a name from :func:`magplus.list_flows`, e.g. "dis", "lucas-kanade", "tvl1".
        **kwargs: constructor arguments of that estimator.

    Returns:
        Flow in pixels, ``backward_warp(tgt, flow) ≈ src``.
    """
    from ..registry import create_flow

    return create_flow(method, **kwargs)(src, tgt)
