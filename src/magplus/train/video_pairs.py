"""Users' videos as training data: consecutive-frame pairs (FlowMag), self-supervised terms only."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import InputError
from .data import MotionRange, log_uniform

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm"}


def _read_frames(path: Path, size: int, limit: int) -> torch.Tensor:
    """Up to ``limit`` frames of a video, centre-cropped to a square and resized to ``size``."""
    import av
    import torch.nn.functional as F

    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1).float() / 255)
            if len(frames) >= limit:
                break
    if len(frames) < 2:
        raise InputError(f"video {str(path)!r} has fewer than 2 readable frames.")
    clip = torch.stack(frames)
    side = min(clip.shape[-2:])
    top, left = (clip.shape[-2] - side) // 2, (clip.shape[-1] - side) // 2
    clip = clip[..., top:top + side, left:left + side]
    return F.interpolate(clip, size=(size, size), mode="area")


class VideoPairs(torch.utils.data.Dataset):
    """Consecutive frame pairs of the videos in a folder, with a random α (no ground truth).

    Items have the keys of :class:`~magplus.train.data.SyntheticPairs`; ``supervised`` is 0 and
    ``target`` / ``field`` are placeholders that the supervised terms ignore.
    """

    def __init__(self, folder: str | Path, motion: MotionRange, size: int, seed: int = 0, frames_per_video: int = 120):
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(f"--videos {str(folder)!r} is not a folder; give a folder of video files.")
        paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
        if not paths:
            raise InputError(f"--videos {str(folder)!r} holds no video ({', '.join(sorted(VIDEO_SUFFIXES))}).")
        self.clips = [_read_frames(p, size, frames_per_video) for p in paths]
        self.motion, self.seed = motion, seed

    def __len__(self) -> int:
        return sum(len(c) - 1 for c in self.clips)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + int(index) + 7)
        clip = self.clips[int(torch.randint(len(self.clips), (1,), generator=gen))]
        t = int(torch.randint(len(clip) - 1, (1,), generator=gen))
        alpha = log_uniform(gen, self.motion.alpha_min, self.motion.alpha_max)
        ref, frame = clip[t], clip[t + 1]
        return {"ref": ref, "frame": frame, "target": frame, "alpha": torch.tensor(alpha, dtype=torch.float32),
                "field": torch.zeros(2, *frame.shape[-2:]), "supervised": torch.tensor(0.0),
                "field_valid": torch.tensor(0.0)}


class MixedPairs(torch.utils.data.Dataset):
    """Alternates items of two datasets (synthetic with ground truth, videos without)."""

    def __init__(self, first: torch.utils.data.Dataset, second: torch.utils.data.Dataset):
        self.first, self.second = first, second

    def __len__(self) -> int:
        return 2 * min(len(self.first), len(self.second))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return (self.first if index % 2 == 0 else self.second)[index // 2]
