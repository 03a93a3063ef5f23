"""First Order Motion Model (Siarohin et al., NeurIPS 2019), re-implemented to load the official checkpoints.

Modules: :mod:`.blocks` (shared layers, reused by FSRT/MetaPortrait), :mod:`.keypoint_detector`,
:mod:`.dense_motion`, :mod:`.generator`, :mod:`.animate` (motion-transfer modes), :mod:`.config`,
:mod:`.loading`, :mod:`.convert`, :mod:`.backbone` (:class:`FOMMBackbone`).

``grid_sample`` convention: the model was trained under torch 1.0, whose ``grid_sample`` behaved
as ``align_corners=True``; the official code run on torch >= 1.3 gets ``align_corners=False``.
Both are exposed (``FOMMBackbone(align_corners=...)``); the default, False, reproduces the official
code on modern torch bit for bit.
"""

from .backbone import FOMMBackbone, FOMMSource
from .keypoint_detector import KPDetector

__all__ = ["FOMMBackbone", "FOMMSource", "KPDetector"]
