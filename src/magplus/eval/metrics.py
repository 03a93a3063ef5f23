"""All evaluation metrics in one namespace (each lives in a small module of :mod:`magplus.eval`).

=============================== ====================================================
motion (:mod:`.motion`)         ``motion_curve``, ``peak_motion_ratio``, ``region_agreement``,
                                ``leakage``, ``endpoint_error``, ``face_size``, ``pearson``
timing (:mod:`.timing`)         ``motion_timing``, ``timing_from_annotation``, ``timing_error``
landmarks (:mod:`.landmark_motion`) ``landmark_agreement``
appearance (:mod:`.appearance`) ``appearance_stability``
magnification (:mod:`.magnification`) ``motion_error``, ``magnification_error``, ``frame_fidelity``
statistics (:mod:`.stats`)      ``summarize``
flow (:mod:`magplus.flow.clip`) ``clip_flows``: evaluation flow from frame 0 to every frame
=============================== ====================================================
"""

from __future__ import annotations

from ..flow.clip import clip_flows
from .appearance import AppearanceStability, appearance_stability
from .landmark_motion import LandmarkAgreement, landmark_agreement
from .magnification import FrameFidelity, frame_fidelity, magnification_error, motion_error
from .motion import (
    PeakRatio,
    RegionAgreement,
    endpoint_error,
    face_size,
    leakage,
    motion_curve,
    peak_motion_ratio,
    pearson,
    region_agreement,
)
from .stats import summarize
from .timing import Timing, TimingError, motion_timing, timing_error, timing_from_annotation

__all__ = [
    "AppearanceStability",
    "FrameFidelity",
    "LandmarkAgreement",
    "PeakRatio",
    "RegionAgreement",
    "Timing",
    "TimingError",
    "appearance_stability",
    "clip_flows",
    "endpoint_error",
    "face_size",
    "frame_fidelity",
    "landmark_agreement",
    "leakage",
    "magnification_error",
    "motion_curve",
    "motion_error",
    "peak_motion_ratio",
    "pearson",
    "region_agreement",
    "summarize",
    "timing_error",
    "timing_from_annotation",
]
