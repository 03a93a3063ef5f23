"""Micro-expression dataset loaders (CASME II, SAMM, SMIC, CAS(ME)³, MMEW, generic) and MEGC protocol.

Every loader takes the dataset's ``root`` folder and its annotation file and exposes ``.samples``
(:class:`Sample`), ``len()``, indexing, ``to_table()`` / ``write_csv()`` and ``load_frames()``.
The datasets need signed licences: magplus never ships or downloads their frames.
"""

from __future__ import annotations

from ..._lazy import lazy_exports

_EXPORTS = {
    "Sample": "sample",
    "ActionUnit": "aus",
    "parse_aus": "aus",
    "format_aus": "aus",
    "MicroExpressionDataset": "core",
    "CASME2": "casme2",
    "SAMM": "samm",
    "SMIC": "smic",
    "CASME3": "casme3",
    "MMEW": "mmew",
    "GenericDataset": "generic",
    "read_annotation": "tables",
    "estimate_apex_index": "apex",
    "MEGC_DRIVING_CLIPS": "megc",
    "MEGC_TEMPLATES": "megc",
    "run_megc": "megc",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
