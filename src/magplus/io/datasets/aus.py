"""FACS action-unit strings of micro-expression annotations, parsed into :class:`ActionUnit`.

The datasets write AUs in many ways: ``"L4+R12"``, ``"4B+7"``, ``"AU1+AU2"``, ``"12"``, ``"R14A"``,
``"AU4, AU7"``, ``"12.0"`` (a number cell of a spreadsheet), ``"?"``. Each token yields one AU with
its side (L/R prefix) and intensity (FACS letters A = trace .. E = maximum) when present; tokens
without an AU number (``"?"``, ``"/"``, notes) are skipped. The raw text is always kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SEPARATORS = re.compile(r"[+,;/&\s]+")
# optional side (L/R; FACS also writes B = bilateral, T/U, kept as "no side"), optional "AU", the
# number, optional intensity; the side may also follow "AU" (AUL4)
_TOKEN = re.compile(r"^([LRBTU])?(?:AU)?([LR])?(\d+)(?:\.0+)?([A-E])?(?:\(.*\))?\??$", re.IGNORECASE)


@dataclass(frozen=True)
class ActionUnit:
    """One FACS action unit of a sample.

    Attributes:
        number: AU number (4 = brow lowerer, 12 = lip-corner puller, ...).
        side: ``"L"`` / ``"R"`` for a unilateral AU, None when bilateral or unspecified.
        intensity: FACS intensity ``"A"`` (trace) .. ``"E"`` (maximum), None when not coded.
        raw: the token as written in the annotation.
    """

    number: int
    side: str | None = None
    intensity: str | None = None
    raw: str = ""

    def __str__(self) -> str:
        return f"{self.side or ''}{self.number}{self.intensity or ''}"


def parse_aus(raw: object) -> list[ActionUnit]:
    """Parse an annotation's AU cell into a list of :class:`ActionUnit` (unparseable tokens skipped).

    Example:
        >>> [str(au) for au in parse_aus("L4+R12B+AU7")]
        ['L4', 'R12B', '7']
    """
    if raw is None:
        return []
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    units = []
    for token in _SEPARATORS.split(str(raw).strip()):
        match = _TOKEN.match(token)
        if not match:
            continue
        side = next((s.upper() for s in match.group(1, 2) if s and s.upper() in "LR"), None)
        intensity = (match.group(4) or "").upper() or None
        units.append(ActionUnit(number=int(match.group(3)), side=side, intensity=intensity, raw=token))
    return units


def format_aus(units: list[ActionUnit]) -> str:
    """``[L4, 7B]`` -> ``"L4+7B"`` (the canonical form used in tables)."""
    return "+".join(str(unit) for unit in units)
