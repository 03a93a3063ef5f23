"""Linear Eulerian video magnification (Wu et al. 2012).

Each frame is decomposed into a Laplacian pyramid; every band is filtered in time, and the
filtered signal is amplified by (α − 1) and added back. Two temporal filters:

* ``"reference"`` (default for micro-expressions): the difference of each band to the
  reference frame's band, i.e. everything that changed since the onset. Then
  ``out = ref + α (frame − ref)`` band by band, which is exact for α = 1 and attenuates for α < 1.
* ``"bandpass"``: a zero-phase Butterworth band-pass over time (needs ``fps``), as in Wu et al.

Linear Eulerian magnification is only valid while ``(1 + α) δ < λ / 8`` (δ motion, λ spatial
wavelength); as Wu et al. do, fine levels get a smaller α (``lambda_cutoff``) so that the
approximation does not break into ringing.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..ops.pyramid import collapse_laplacian, laplacian_pyramid
from .base import Magnifier


def butterworth_bandpass(signal: torch.Tensor, fps: float, low_hz: float, high_hz: float, order: int = 2) -> torch.Tensor:
    """Zero-phase Butterworth band-pass along dim 0 of ``signal`` ``(T, ...)``."""
    from scipy.signal import butter, filtfilt

    nyquist = fps / 2.0
    if not (0 < low_hz < high_hz < nyquist):
        raise InputError(f"band-pass needs 0 < low < high < fps/2 = {nyquist:g} Hz, got ({low_hz}, {high_hz}).")
    b, a = butter(order, [low_hz / nyquist, high_hz / nyquist], btype="band")
    data = signal.detach().cpu().double().numpy()
    padlen = min(3 * max(len(a), len(b)), data.shape[0] - 1)
    filtered = filtfilt(b, a, data, axis=0, padlen=padlen)
    return torch.from_numpy(np.ascontiguousarray(filtered)).to(signal)


class EulerianMagnifier(Magnifier):
    """Linear Eulerian magnifier (Laplacian pyramid + temporal filter).

    Args:
        levels: pyramid levels.
        temporal_filter: ``"reference"`` or ``"bandpass"``.
        fps: frame rate for ``"bandpass"`` when the caller passes none to ``forward`` (the
            pipeline passes the clip's own).
        band_hz: ``(low, high)`` band of ``"bandpass"``; micro-expressions last 150–500 ms, so
            ~1–10 Hz holds most of their energy.
        lambda_cutoff: spatial wavelength (pixels) below which α is reduced (Wu et al.'s λ_c).
    """

    name = "eulerian"

    def __init__(self, levels: int = 5, temporal_filter: str = "reference", fps: float | None = None,
                 band_hz: tuple[float, float] = (1.0, 10.0), lambda_cutoff: float = 16.0):
        if temporal_filter not in ("reference", "bandpass"):
            raise InputError(f"temporal_filter must be 'reference' or 'bandpass', got {temporal_filter!r}.")
        self.levels = int(levels)
        self.temporal_filter = temporal_filter
        self.fps = fps
        self.band_hz = band_hz
        self.lambda_cutoff = float(lambda_cutoff)

    def level_alpha(self, alpha_px: torch.Tensor, level: int, height: int, width: int) -> torch.Tensor:
        """α for pyramid ``level`` following Wu et al.: unchanged on coarse levels, reduced on fine ones."""
        # Representative wavelength of the level: the image diagonal / 3, halved per level (Wu et al.).
        wavelength = math.hypot(height, width) / 3.0 / (2 ** level)
        # Largest amplification that keeps (1 + α) δ < λ / 8 for motions of up to λ_c / 8 / (1 + α).
        gain = alpha_px - 1.0
        if wavelength < self.lambda_cutoff:
            gain = gain * (wavelength / self.lambda_cutoff)
        return gain

    @property
    def frame_by_frame(self) -> bool:
        """The band-pass filters over time; the reference filter compares each frame with the reference."""
        return self.temporal_filter == "reference"

    @torch.no_grad()
    def forward(self, ref, frames, alpha, mask=None, fps=None, flows=None):
        alpha_px = self.pixel_alpha(ref, frames, alpha, mask)
        if alpha_px is None:
            return frames.clone()
        rate = fps or self.fps
        if self.temporal_filter == "bandpass" and not rate:
            raise InputError("the 'bandpass' temporal filter needs fps (frames per second) of the clip.")
        h, w = frames.shape[-2:]
        bands = laplacian_pyramid(frames, self.levels)
        ref_bands = laplacian_pyramid(ref[None], self.levels) if self.temporal_filter == "reference" else None
        out = []
        for level, band in enumerate(bands):
            if self.temporal_filter == "reference":
                change = band - ref_bands[level]
            else:
                low, high = self.band_hz
                change = butterworth_bandpass(band, float(rate), low, high)
            gain = F.interpolate(self.level_alpha(alpha_px, level, h, w), size=band.shape[-2:], mode="bilinear",
                                 align_corners=False)
            # The coarsest (residual) band carries illumination, not motion: leave it alone.
            if level == len(bands) - 1:
                gain = torch.zeros_like(gain)
            out.append(band + gain * change)
        return collapse_laplacian(out).clamp(0, 1)
