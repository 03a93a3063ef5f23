"""Evaluation: motion-fidelity, timing, appearance and magnification metrics, protocols and reports.

- :mod:`.metrics`: every metric function (re-exported from the small modules beside it).
- :mod:`.transfer`: the transfer protocol (direct vs MagPlus–DeMagPlus on synthetic or dataset clips).
- :mod:`.magnify`: the magnification protocol (textures shifted by a known sub-pixel amount).
- :mod:`.report`: report folders (JSON, Markdown, CSV, plots, side-by-side videos).
"""
