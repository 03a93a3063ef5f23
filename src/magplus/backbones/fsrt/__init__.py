"""FSRT (Rochow et al., CVPR 2024, "Facial Scene Representation Transformer for Face Reenactment").

A clean-room re-implementation that loads the official ``kp_detector.pt`` and ``vox256.pt``
(or ``vox256_2Source.pt``) and reproduces the official outputs. Modules: :mod:`.layers`
(encodings, transformer), :mod:`.encoder`, :mod:`.decoder` (chunked per-pixel queries),
:mod:`.expression`, :mod:`.model` (all networks + inference steps), :mod:`.motion` (relative
keypoints, best reference frame), :mod:`.loading` / :mod:`.convert` (checkpoints),
:mod:`.backbone` (:class:`FSRTBackbone`).
"""

from .backbone import FSRTBackbone, FSRTMotion
from .config import VOX256, VOX256_2SOURCE, FSRTConfig
from .model import FSRTModel, SourceEncoding

__all__ = ["FSRTBackbone", "FSRTMotion", "FSRTConfig", "FSRTModel", "SourceEncoding", "VOX256", "VOX256_2SOURCE"]
