"""Faces: MediaPipe landmarks, fixed face crops with paste-back, and AU region masks.

- :mod:`.landmarks`: ``detect_landmarks`` (one image), ``track_landmarks`` (a clip), ``FaceLandmarker``.
- :mod:`.mesh`: named index groups of the 478-point mesh (subject's left/right).
- :mod:`.smoothing`: optional temporal smoothing of landmark tracks.

MediaPipe itself is imported only when a detector first runs.
"""

from __future__ import annotations

from .landmarks import FaceLandmarker, detect_landmarks, detect_landmarks_batch, track_landmarks
from .mesh import mesh_groups

__all__ = ["FaceLandmarker", "detect_landmarks", "detect_landmarks_batch", "track_landmarks", "mesh_groups"]
