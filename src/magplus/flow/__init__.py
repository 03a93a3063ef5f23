"""Optical flow estimators behind the :class:`FlowEstimator` interface."""

from .base import FlowEstimator

__all__ = ["FlowEstimator"]
