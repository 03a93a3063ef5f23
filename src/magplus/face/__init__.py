"""Faces: MediaPipe landmarks, fixed face crops with paste-back, and AU region masks.

- :mod:`.landmarks`: ``detect_landmarks`` (one image), ``track_landmarks`` (a clip), ``FaceLandmarker``.
- :mod:`.mesh`: named index groups of the 478-point mesh ("L"/"R" = the subject's left/right).
- :mod:`.crop`: ``FaceBox`` from the onset frame, ``crop``, ``paste_back``, landmark coordinate maps.
- :mod:`.regions`: soft AU region masks (``region_masks``, ``au_mask``, ``AU_REGIONS``).
- :mod:`.smoothing`: optional temporal smoothing of landmark tracks.

MediaPipe itself is imported only when a detector first runs.
"""

from __future__ import annotations

from .crop import FaceBox, crop, crop_face_clip, crop_landmarks, paste_back, uncrop_landmarks
from .landmarks import FaceLandmarker, detect_landmarks, detect_landmarks_batch, track_landmarks
from .mesh import mesh_groups
from .regions import AU_REGIONS, REGION_NAMES, au_mask, region_mask, region_masks

__all__ = [
    "AU_REGIONS",
    "REGION_NAMES",
    "FaceBox",
    "FaceLandmarker",
    "au_mask",
    "crop",
    "crop_face_clip",
    "crop_landmarks",
    "detect_landmarks",
    "detect_landmarks_batch",
    "mesh_groups",
    "paste_back",
    "region_mask",
    "region_masks",
    "track_landmarks",
    "uncrop_landmarks",
]
