"""Lazy package exports: names resolved from submodules on first access (PEP 562).

Keeps ``import magplus.io`` and friends cheap: OpenCV, PyAV or openpyxl load only when a name
that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, namespace: dict[str, Any], exports: dict[str, str]) -> tuple[Callable, Callable]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package``.

    Args:
        package: the package's ``__name__``.
        namespace: the package's ``globals()`` (a resolved name is cached there).
        exports: public name -> submodule (relative to ``package``) that defines it.

    Example:
        >>> __getattr__, __dir__ = lazy_exports(__name__, globals(), {"read_video": "video"})  # doctest: +SKIP
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
