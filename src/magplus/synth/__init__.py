"""Synthetic facial micro-expressions with exact ground truth.

A :class:`AUProgram` (which action units, how much, when; rigid drift, noise, blink) is rendered on
a face image by :func:`render_program` into a :class:`SynthClip`: frames plus the exact optical
flow from frame 0 to every frame. :func:`generate` samples a program with the statistics of real
micro-expressions (DOMAIN.md §1) and renders it.

Design (details in the modules):

* :mod:`.program` / :mod:`.sampling`: AU events (onset, apex, offset, amplitude, side), drift,
  noise, blink; JSON round trip; sampling follows DOMAIN.md §1.
* :mod:`.au_fields`: each AU is a sum of Gaussians on MediaPipe landmarks, unit peak, so a program
  renders on any face; "L"/"R" are the subject's sides.
* :mod:`.render`: the flow is *defined* (``d_t + alpha sum_a A_a e_a(t) V_a``, exactly linear in
  alpha), the frames are rendered through its exact inverse (:mod:`.inverse`, residual < 1e-5 px)
  with an unbiased cubic B-spline sampler (:mod:`.resample`); :func:`max_alpha` says how far a
  program can be magnified before the skin folds over.
* :mod:`.faces`: the two bundled public-domain faces, face cropping, cached landmarks.
* ``python -m magplus.synth.selfcheck`` measures speed, exactness, statistics and TV-L1 agreement.

Example:
    >>> from magplus.synth import generate
    >>> clip = generate(seed=3, aus=[12], amplitude_px=2.0)  # doctest: +SKIP
    >>> clip.frames.shape, clip.flow.shape  # doctest: +SKIP
    (torch.Size([T, 3, 256, 256]), torch.Size([T, 2, 256, 256]))
"""

from __future__ import annotations

from .au_fields import AU_SPECS, build_au_field
from .faces import crop_face, default_face, face_landmarks, second_face
from .program import SUPPORTED_AUS, AUEvent, AUProgram
from .render import SynthClip, generate, max_alpha, render_program
from .sampling import sample_program

__all__ = [
    "AU_SPECS",
    "SUPPORTED_AUS",
    "AUEvent",
    "AUProgram",
    "SynthClip",
    "build_au_field",
    "crop_face",
    "default_face",
    "face_landmarks",
    "generate",
    "max_alpha",
    "render_program",
    "sample_program",
    "second_face",
]
