"""Synthetic facial micro-expressions with exact ground truth.

A :class:`AUProgram` (which action units, how much, when; rigid drift, noise, blink) is rendered on
a face image by :func:`render_program` into a :class:`SynthClip`: frames plus the exact optical
flow from frame 0 to every frame. :func:`generate` samples a program with the statistics of real
micro-expressions (DOMAIN.md §1) and renders it.

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
from .render import SynthClip, generate, render_program
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
    "render_program",
    "sample_program",
    "second_face",
]
