"""``magplus app``: a local browser app (Gradio) for trying MagPlus on a face and a clip.

Modules: :mod:`.layout` (the page), :mod:`.handler` (the run button: errors become messages),
:mod:`.job` (one run without Gradio: pipeline, videos, plot, summary), :mod:`.validation` (page
values, uploads and their limits), :mod:`.session` (temporary folders), :mod:`.server` (launch and
shutdown, offline settings). Only :mod:`.layout` and :mod:`.server` need Gradio (the ``app`` extra).
"""
