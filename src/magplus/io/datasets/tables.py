"""Annotation spreadsheets (xlsx through openpyxl, or csv) read into rows of canonical fields.

Headers differ between datasets and releases ("OnsetFrame", "Onset Frame", "Onset"), and SAMM's
sheet has 13 rows of notes above its header. Headers are therefore normalised (lower case,
letters and digits only) and the header row is found by looking for the required columns.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ...errors import DependencyError, InputError, VideoReadError

#: canonical field -> normalised header spellings seen in the official files
COMMON_ALIASES: dict[str, tuple[str, ...]] = {
    "subject": ("subject", "sub", "subjectid"),
    "clip": ("filename", "clip", "file", "video", "folder"),
    "onset": ("onsetframe", "onset", "onsetf"),
    "apex": ("apexframe", "apex", "apexf", "apexframe1"),
    "offset": ("offsetframe", "offset", "offsetf"),
    "aus": ("actionunits", "actionunit", "aus", "au"),
    "emotion": ("estimatedemotion", "emotion", "emotions"),
    "objective_class": ("objectiveclass", "objectiveclasses"),
}

_HEADER_SEARCH_ROWS = 40


def normalise_header(value: Any) -> str:
    """``"Onset Frame"`` -> ``"onsetframe"`` (lower case, letters and digits only)."""
    return re.sub(r"[^0-9a-z]", "", str(value or "").lower())


def _raw_rows(path: Path, sheet: str | None) -> Iterable[Sequence[Any]]:
    if path.suffix.lower() in (".csv", ".txt"):
        with path.open(newline="", encoding="utf-8-sig") as handle:
            yield from csv.reader(handle)
        return
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        raise InputError(f"annotation {str(path)!r} must be a .xlsx or .csv file.")
    try:
        import openpyxl
    except ImportError:
        raise DependencyError(
            f"reading {str(path)!r} needs openpyxl; install it (pip install 'magplus[xlsx]') or convert the sheet to .csv."
        ) from None
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/ValueError kinds on broken files
        raise VideoReadError(f"cannot open annotation {str(path)!r} ({exc}); is it an .xlsx file?") from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise InputError(f"annotation {str(path)!r} has no sheet {sheet!r}; sheets: {', '.join(book.sheetnames)}.")
        yield from book[sheet].iter_rows(values_only=True) if sheet else book.worksheets[0].iter_rows(values_only=True)
    finally:
        book.close()


def read_annotation(
    path: str | os.PathLike[str],
    required: Sequence[str] = ("clip", "onset", "offset"),
    aliases: Mapping[str, Sequence[str]] = COMMON_ALIASES,
    sheet: str | None = None,
) -> list[dict[str, Any]]:
    """Rows of an annotation file as dicts keyed by canonical field names.

    Args:
        path: .xlsx (first sheet, or ``sheet``) or .csv file.
        required: canonical fields that must have a column; the first row containing all of them
            (within the first 40 rows) is the header.
        aliases: canonical field -> accepted normalised header spellings.
        sheet: worksheet name for xlsx files.

    Returns:
        One dict per non-empty data row, with every canonical field that has a column (cell values
        as openpyxl/csv give them: int, float, str or None) plus ``_row`` (1-based row number).

    Raises:
        VideoReadError: missing file; InputError: no header row with the required columns.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"annotation file {str(path)!r} does not exist; check the path.")
    columns: dict[str, int] | None = None
    records: list[dict[str, Any]] = []
    for number, row in enumerate(_raw_rows(path, sheet), start=1):
        if columns is None:
            columns = _match_header(row, aliases, required)
            if columns is None and number >= _HEADER_SEARCH_ROWS:
                break
            continue
        cells = {field: (row[index] if index < len(row) else None) for field, index in columns.items()}
        cells = {field: (value.strip() if isinstance(value, str) else value) for field, value in cells.items()}
        if all(value in (None, "") for value in cells.values()):
            continue
        records.append({**cells, "_row": number})
    if columns is None:
        names = ", ".join(f"{field} ({'/'.join(aliases[field][:2])})" for field in required)
        raise InputError(f"annotation {str(path)!r} has no header row with the columns {names}; check the file.")
    return records


def _match_header(
    row: Sequence[Any], aliases: Mapping[str, Sequence[str]], required: Sequence[str]
) -> dict[str, int] | None:
    """Column index of every canonical field found in ``row``, or None if a required one is missing."""
    normalised = [normalise_header(cell) for cell in row]
    found: dict[str, int] = {}
    for field, spellings in aliases.items():
        for spelling in spellings:  # earlier spellings win ("onsetframe" over a stray "onset")
            if spelling in normalised:
                found[field] = normalised.index(spelling)
                break
    return found if all(field in found for field in required) else None


def as_frame_number(value: Any) -> int | None:
    """A frame-number cell -> int, or None for empty / "/" / "-" / text / negative values."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value) if float(value).is_integer() and value >= 0 else None
    text = str(value).strip()
    return int(text) if text.isdigit() else (int(float(text)) if re.fullmatch(r"\d+\.0*", text) else None)


def write_csv_rows(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> Path:
    """Write dict rows as CSV with a header, atomically (temporary file + rename)."""
    from ..atomic import atomic_output

    with atomic_output(path) as tmp:
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(fields))
            writer.writeheader()
            writer.writerows(rows)
    return Path(path)


def as_text(value: Any) -> str | None:
    """A text cell -> stripped str (``12.0`` -> ``"12"``), None when empty."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None
