"""MetaPortrait base model (Zhang et al., CVPR 2023), re-implemented for inference.

The generator (:mod:`.generator`) loads the official ``ckpt_base.pth.tar`` strictly and reproduces
the official outputs (checked against golden vectors of the official code). Its inputs, 669 dense
landmarks and a 256-d identity embedding, come from non-public Microsoft models: magplus reads them
from the official file formats (:mod:`.files`) or, as a documented APPROXIMATION that is not the
paper's setting, estimates them from MediaPipe (:mod:`.approx`). See docs/metaportrait.md.
"""

from .backbone import MetaPortraitBackbone, MetaPortraitSource
from .generator import MetaPortraitConfig, MetaPortraitGenerator

__all__ = ["MetaPortraitBackbone", "MetaPortraitSource", "MetaPortraitConfig", "MetaPortraitGenerator"]
