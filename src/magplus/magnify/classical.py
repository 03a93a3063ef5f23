"""Classical magnification baselines: Lagrangian (flow warping) and linear Eulerian."""

from .eulerian import EulerianMagnifier
from .lagrangian import LagrangianMagnifier

__all__ = ["LagrangianMagnifier", "EulerianMagnifier"]
