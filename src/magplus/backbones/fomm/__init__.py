"""First Order Motion Model (Siarohin et al., NeurIPS 2019), re-implemented to load the official checkpoints.

Submodules: :mod:`.blocks` (shared layers), :mod:`.keypoint_detector` (:class:`KPDetector`).
"""

from .keypoint_detector import KPDetector

__all__ = ["KPDetector"]
