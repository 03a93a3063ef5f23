"""Magnifiers and de-magnifiers behind the :class:`Magnifier` interface."""

from .base import Magnifier

__all__ = ["Magnifier"]
