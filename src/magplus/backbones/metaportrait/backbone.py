"""``MetaPortraitBackbone``: the re-implemented MetaPortrait base model behind magplus's interface.

Two ways to feed it (see docs/metaportrait.md):

* official files (the paper's setting): ``landmarks=DIR`` holds the official per-frame 669-point
  landmark files (and ``src_<k>_ldmk.npy``), ``identity=FILE`` the ``src_<k>_id.npy`` embedding.
  These are produced by non-public models for specific frames, so :meth:`extract_motion` returns
  the file landmarks and only checks that their count matches the driving frames;
* APPROXIMATION (any video, offline): landmarks from MediaPipe mapped onto part of the 669-point
  topology (:mod:`.approx`) and a zero identity embedding unless ``identity`` is given. A warning
  says so at construction.

Both modes draw the mesh's line images, so both need its connectivity, which magplus does not ship:
``connectivity=FILE`` (CLI ``--connectivity``), ``repo=CHECKOUT`` (CLI ``--repo``) or the
``MAGPLUS_METAPORTRAIT_CONNECTIVITY`` environment variable (see :func:`.lines.mesh_edges`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import InputError, ShapeError
from ...types import check_frames, check_image
from ..base import AnimationBackbone
from ..motion import LandmarkMotion
from .approx import ContourPlan, contour_plan, mediapipe_to_dense, warn_approximation
from .checkpoint import check_checkpoint_path, load_generator
from .files import OfficialLandmarks, find_official_landmarks, load_identity
from .generator import GAZE_ROWS, MetaPortraitConfig
from .lines import check_dense, draw_line_image, mesh_edges, mouth_mask, select_sparse

SIZE = 256


@dataclass
class MetaPortraitSource:
    """Encoded source: ``image`` ``(1, 3, 256, 256)``, ``dense`` ``(669, 2)`` in [0, 1], ``line`` ``(1, 3, 256, 256)``."""

    image: torch.Tensor
    dense: np.ndarray
    line: torch.Tensor


class MetaPortraitBackbone(AnimationBackbone):
    """MetaPortrait base 256 model (official ``ckpt_base.pth.tar``), re-implemented in PyTorch.

    Args:
        checkpoint: official ``ckpt_base.pth.tar`` or its converted ``.safetensors``.
        landmarks: folder of official dense landmarks (see :mod:`.files`); None -> MediaPipe approximation.
        identity: official ``src_<k>_id.npy``; None -> the one beside the official source landmarks,
            else a zero embedding (approximation).
        device: torch device.
        config: generator widths (default: the official model), or an official YAML config path.
        strict: strict checkpoint loading.
        connectivity: the official ``dense_669_connectivity.tsv`` (the mesh's 616 edges).
        repo: root of the official MetaPortrait checkout (its ``base_model/utils/dense_669_connectivity.tsv``
            is used when ``connectivity`` is None); neither -> ``$MAGPLUS_METAPORTRAIT_CONNECTIVITY``.

    Raises:
        InputError: no connectivity source, or a connectivity file that is not the official one.
        WeightsError / CheckpointMismatchError: see :func:`.checkpoint.load_generator`.
    """

    name = "metaportrait"
    resolution = SIZE
    needs_weights = True

    def __init__(self, checkpoint: str | Path | None = None, landmarks: str | Path | None = None,
                 identity: str | Path | None = None, device: str | torch.device = "cpu",
                 config: MetaPortraitConfig | str | Path | None = None, strict: bool = True,
                 connectivity: str | Path | None = None, repo: str | Path | None = None):
        # Cheap input checks first: the full checkpoint takes seconds to load.
        check_checkpoint_path(checkpoint)
        self.edges = mesh_edges(connectivity, repo)
        self.official: OfficialLandmarks | None = find_official_landmarks(landmarks) if landmarks else None
        # Only the MediaPipe approximation maps contours; it also checks the file's topology early.
        self.plan: ContourPlan | None = contour_plan(self.edges) if self.official is None else None
        if isinstance(config, (str, Path)):
            config = MetaPortraitConfig.from_yaml_file(str(config))
        self.config = config or MetaPortraitConfig()
        self.device = torch.device(device)
        self.generator = load_generator(checkpoint, self.config, self.device, strict)
        identity_file = identity or (self.official.identity_file if self.official else None)
        if identity_file is not None:
            self.identity = load_identity(identity_file, self.config.id_dim)
        else:
            self.identity = torch.zeros(1, self.config.id_dim)
        self.approximate = self.official is None or identity_file is None
        if self.approximate:
            warn_approximation()

    def to(self, device: str | torch.device) -> "MetaPortraitBackbone":
        self.device = torch.device(device)
        self.generator.to(self.device)
        return self

    def _mediapipe_dense(self, frames: torch.Tensor) -> np.ndarray:
        from ...face.landmarks import track_landmarks

        height, width = frames.shape[-2:]
        tracks = track_landmarks(frames)
        return np.stack([mediapipe_to_dense(points, width, height, self._contour_plan()) for points in tracks])

    def _contour_plan(self) -> ContourPlan:
        if self.plan is None:  # official source landmarks but MediaPipe for something else: build on demand
            self.plan = contour_plan(self.edges)
        return self.plan

    def prepare_source(self, source_img: torch.Tensor) -> MetaPortraitSource:
        """Resize the source ``(3, H, W)`` to 256x256 and get its dense landmarks and line image."""
        check_image(source_img, "source_img")
        image = F.interpolate(source_img[None].float(), size=(SIZE, SIZE), mode="bicubic",
                              align_corners=False, antialias=True).clamp(0, 1)
        if self.official is not None and self.official.source is not None:
            dense = self.official.source
        else:
            from ...face.landmarks import detect_landmarks

            height, width = source_img.shape[-2:]
            dense = mediapipe_to_dense(detect_landmarks(source_img), width, height, self._contour_plan())
        return MetaPortraitSource(image=image, dense=dense, line=draw_line_image(dense, self.edges, SIZE)[None])

    @property
    def motion_scalable(self) -> bool:
        """Motion-space de-magnification needs landmarks of the magnified clip: only the MediaPipe
        approximation can extract them (official files exist for the original frames alone)."""
        return self.official is None

    def extract_motion(self, frames: torch.Tensor) -> LandmarkMotion | np.ndarray:
        """Dense landmarks ``(T, 669, 2)`` in [0, 1] of the driving frames ``(T, 3, H, W)``: a
        :class:`LandmarkMotion` (MediaPipe approximation) or the official files' array."""
        check_frames(frames, "frames")
        if self.official is None:
            return LandmarkMotion(self._mediapipe_dense(frames), frame_units=1.0)  # coordinates in [0, 1]
        if len(self.official.driving) != frames.shape[0]:
            raise ShapeError(
                f"the landmarks folder has {len(self.official.driving)} frame files but {frames.shape[0]} driving "
                "frames were given; official landmarks only fit the frames they were extracted from."
            )
        return self.official.driving

    def motion_builder(self) -> None:
        """None: official landmark files fit the whole clip only, and the MediaPipe mode tracks
        and bridges landmarks over the whole clip; the clip goes through whole."""
        return None

    @torch.no_grad()
    def render_frame(self, source: MetaPortraitSource, dense: np.ndarray) -> torch.Tensor:
        """One frame from driving dense landmarks ``(669, 2)`` -> ``(3, 256, 256)`` in [0, 1]."""
        sparse = select_sparse(dense)
        device = self.device
        driving_line = draw_line_image(dense, self.edges, SIZE)[None].to(device)
        gaze = torch.from_numpy(np.ascontiguousarray(sparse[GAZE_ROWS]))[None].to(device)
        out = self.generator(source.image.to(device), source.line.to(device), driving_line, gaze,
                             self.identity.to(device), mouth_mask(sparse, SIZE)[None].to(device))
        # The official inference saves clip(255 * prediction): negative tanh values become black.
        return out["prediction"][0].clamp(0, 1).cpu()

    def render(self, source: Any, motion: Any, reference: Any | None = None, relative: bool = True,
               progress: Callable[[int], None] | None = None) -> torch.Tensor:
        """Render every driving frame. ``relative``: source landmarks + (frame - reference) displacement
        (a magplus addition; the official code uses the driving landmarks as they are, i.e. ``relative=False``)."""
        if not isinstance(source, MetaPortraitSource):
            raise InputError("source must come from MetaPortraitBackbone.prepare_source; call it on the source image first.")
        motion = motion.points if isinstance(motion, LandmarkMotion) else motion
        reference = reference.points[0] if isinstance(reference, LandmarkMotion) else reference
        motion = check_dense(motion, "motion", allow_missing=True)
        if motion.ndim == 2:
            motion = motion[None]
        if relative:
            base = motion[0] if reference is None else check_dense(reference, "reference", allow_missing=True)
            motion = source.dense[None] + (motion - base)
        frames = []
        for dense in motion:
            frames.append(self.render_frame(source, dense))
            if progress is not None:
                progress(1)
        return torch.stack(frames)
