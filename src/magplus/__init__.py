"""magplus: realistic facial micro-expressions with ordinary face-animation models.

MagPlus (Jammal & Sharf, arXiv 2606.13312): magnify a micro-expression clip into the range of
regular expressions, transfer it with a frozen animation backbone, de-magnify the result.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    CheckpointMismatchError,
    DependencyError,
    ExternalRunError,
    InputError,
    MagplusError,
    NoFaceError,
    OutputPathError,
    ShapeError,
    UnknownNameError,
    VideoReadError,
    WeightsError,
)
from .registry import (  # noqa: E402
    create_backbone,
    create_flow,
    create_magnifier,
    list_backbones,
    list_flows,
    list_magnifiers,
)


def __getattr__(name: str):
    # Clip lives in magplus.types, which imports torch: load it on first use so that
    # `import magplus` (and the CLI's start-up, e.g. `magplus list`) stays torch-free.
    if name == "Clip":
        from .types import Clip

        return Clip
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "__version__",
    "Clip",
    "MagplusError",
    "InputError",
    "ShapeError",
    "VideoReadError",
    "OutputPathError",
    "NoFaceError",
    "UnknownNameError",
    "WeightsError",
    "CheckpointMismatchError",
    "DependencyError",
    "ExternalRunError",
    "create_backbone",
    "create_flow",
    "create_magnifier",
    "list_backbones",
    "list_flows",
    "list_magnifiers",
]
