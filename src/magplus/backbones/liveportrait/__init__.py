"""LivePortrait (Guo et al. 2024, "LivePortrait: Efficient Portrait Animation with Stitching and
Retargeting Control"; github.com/KwaiVGI/LivePortrait, MIT): a clean-room re-implementation that
loads the official weights and reproduces the official code's outputs.

Modules: :mod:`.layers` (3-D blocks, grids, ConvNeXt norms), :mod:`.appearance` (F),
:mod:`.motion_extractor` (M, ConvNeXt V2), :mod:`.warping` (W, 3-D dense motion), :mod:`.decoder`
(G, SPADE), :mod:`.stitching` (S and the retargeting MLPs), :mod:`.kinematics` (pose, rotation,
keypoint transform), :mod:`.animate` (official relative / absolute composition), :mod:`.motion`
(:class:`LivePortraitMotion`), :mod:`.config`, :mod:`.loading` / :mod:`.convert` (weights),
:mod:`.backbone` (:class:`LivePortraitBackbone`).
"""

from .backbone import LivePortraitBackbone, LivePortraitSource
from .config import FULL_CONFIG, LivePortraitNetworks
from .motion import LivePortraitMotion

__all__ = ["LivePortraitBackbone", "LivePortraitSource", "LivePortraitMotion", "LivePortraitNetworks", "FULL_CONFIG"]
