"""Animation backbones: frozen face-reenactment models behind one interface.

Use :func:`magplus.create_backbone` with a name from :func:`magplus.list_backbones`.
"""

from .base import AnimationBackbone

__all__ = ["AnimationBackbone"]
