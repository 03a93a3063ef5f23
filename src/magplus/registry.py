"""Name -> factory registries for backbones, magnifiers and flow estimators.

Built-in entries are declared lazily as ``"module:attribute"`` strings, so listing names never
imports torch-heavy modules; third-party plug-ins register with the decorator or through the
entry-point groups ``magplus.backbones``, ``magplus.magnifiers`` and ``magplus.flows``.
Unknown names raise :class:`UnknownNameError` with "did you mean" suggestions.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable

from .errors import UnknownNameError


@dataclass
class RegistryEntry:
    """One registered name: a lazy target (``"pkg.module:Attr"``) or a loaded factory."""

    name: str
    target: str | Callable[..., Any]
    summary: str = ""

    def load(self) -> Callable[..., Any]:
        if isinstance(self.target, str):
            module_name, _, attr = self.target.partition(":")
            module = importlib.import_module(module_name)
            self.target = getattr(module, attr)
        return self.target


class Registry:
    """A named collection of factories (classes or functions).

    Example:
        >>> BACKBONES.names()[:1]
        ['emoportraits']
    """

    def __init__(self, kind: str, entry_point_group: str):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, RegistryEntry] = {}
        self._entry_points_loaded = False

    def add(self, name: str, target: str | Callable[..., Any], summary: str = "") -> None:
        """Register ``target`` (a factory or a lazy ``"module:attr"`` string) under ``name``."""
        self._entries[name] = RegistryEntry(name, target, summary)

    def register(self, name: str, summary: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :meth:`add`."""

        def decorator(factory: Callable[..., Any]) -> Callable[..., Any]:
            self.add(name, factory, summary or (factory.__doc__ or "").strip().split("\n")[0])
            return factory

        return decorator

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in metadata.entry_points(group=self.entry_point_group):
            if ep.name not in self._entries:
                self.add(ep.name, ep.value.replace(" ", ""), f"plug-in from {ep.value}")

    def names(self) -> list[str]:
        """Sorted registered names."""
        self._load_entry_points()
        return sorted(self._entries)

    def entries(self) -> list[RegistryEntry]:
        self._load_entry_points()
        return [self._entries[n] for n in sorted(self._entries)]

    def get(self, name: str) -> Callable[..., Any]:
        """The factory registered under ``name``.

        Raises:
            UnknownNameError: with the closest registered names.
        """
        self._load_entry_points()
        key = name.strip().lower().replace("_", "-") if isinstance(name, str) else name
        if key not in self._entries:
            close = difflib.get_close_matches(str(name), self._entries, n=3, cutoff=0.5)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(sorted(self._entries))}."
            )
        return self._entries[key].load()

    def create(self, name: str, **kwargs: Any) -> Any:
        """Instantiate the entry ``name`` with keyword arguments."""
        return self.get(name)(**kwargs)

    def __contains__(self, name: str) -> bool:
        self._load_entry_points()
        return name in self._entries


BACKBONES = Registry("backbone", "magplus.backbones")
MAGNIFIERS = Registry("magnifier", "magplus.magnifiers")
FLOWS = Registry("flow estimator", "magplus.flows")

# Built-in entries (lazy: nothing is imported until used).
BACKBONES.add("landmark-warp", "magplus.backbones.landmark_warp:LandmarkWarpBackbone",
              "training-free warp of the source through transferred MediaPipe landmarks (offline default)")
BACKBONES.add("fomm", "magplus.backbones.fomm:FOMMBackbone",
              "First Order Motion Model (official vox-256 checkpoint required)")
BACKBONES.add("fsrt", "magplus.backbones.fsrt:FSRTBackbone",
              "Facial Scene Representation Transformer (official vox256 checkpoints required)")
BACKBONES.add("metaportrait", "magplus.backbones.metaportrait:MetaPortraitBackbone",
              "MetaPortrait base 256 model (official ckpt_base.pth.tar required)")
BACKBONES.add("liveportrait", "magplus.backbones.liveportrait:LivePortraitBackbone",
              "LivePortrait human model (official weights folder required; motion-space de-magnification)")
BACKBONES.add("emoportraits", "magplus.backbones.emoportraits:EmoPortraitsBackbone",
              "runs the user's official EmoPortraits installation in a subprocess")

MAGNIFIERS.add("lagrangian", "magplus.magnify.classical:LagrangianMagnifier",
               "warp each frame by alpha x its flow from the reference (classical baseline)")
MAGNIFIERS.add("eulerian", "magplus.magnify.classical:EulerianMagnifier",
               "linear Eulerian: Laplacian pyramid + temporal band-pass (classical baseline)")
MAGNIFIERS.add("magplus", "magplus.magnify.learned:MagPlus",
               "learned magnifier (shipped weights)")
MAGNIFIERS.add("demagplus", "magplus.magnify.demag:DeMagPlus",
               "learned de-magnifier (shipped weights)")

FLOWS.add("lucas-kanade", "magplus.flow.lucas_kanade:LucasKanadeFlow",
          "differentiable coarse-to-fine Lucas-Kanade in PyTorch (no weights)")
FLOWS.add("dis", "magplus.flow.opencv:DISFlow", "OpenCV DIS (fast)")
FLOWS.add("farneback", "magplus.flow.opencv:FarnebackFlow", "OpenCV Farneback")
FLOWS.add("tvl1", "magplus.flow.opencv:TVL1Flow", "OpenCV contrib TV-L1 (accurate, slow)")
FLOWS.add("deepflow", "magplus.flow.opencv:DeepFlow", "OpenCV contrib DeepFlow")


def list_backbones() -> list[str]:
    """Names accepted by :func:`create_backbone`."""
    return BACKBONES.names()


def create_backbone(name: str, **kwargs: Any):
    """Instantiate an animation backbone by name, e.g. ``create_backbone("fomm", checkpoint=p)``."""
    return BACKBONES.create(name, **kwargs)


def list_magnifiers() -> list[str]:
    """Names accepted by :func:`create_magnifier`."""
    return MAGNIFIERS.names()


def create_magnifier(name: str, **kwargs: Any):
    """Instantiate a magnifier / de-magnifier by name."""
    return MAGNIFIERS.create(name, **kwargs)


def list_flows() -> list[str]:
    """Names accepted by :func:`create_flow`."""
    return FLOWS.names()


def create_flow(name: str, **kwargs: Any):
    """Instantiate an optical-flow estimator by name."""
    return FLOWS.create(name, **kwargs)
