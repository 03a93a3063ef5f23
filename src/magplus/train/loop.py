"""The training loop: single process or ``torchrun`` (DDP over gloo on CPU), resumable.

Determinism: the initial weights depend on ``seed``; sample ``i`` of step ``s`` on rank ``r`` is
item ``(s·world + r)·batch + i`` of the deterministic dataset, so a resumed run sees exactly the
batches an uninterrupted one would have seen.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..io.atomic import atomic_output
from ..magnify.nets import MagNet
from ..weights import load_checkpoint_file, save_safetensors
from .config import TrainConfig
from .losses import magnification_loss


def build_dataset(config: TrainConfig, seed_offset: int = 0) -> torch.utils.data.Dataset:
    """The synthetic (plus face, plus optional user) training data of ``config``."""
    from .data import DEMAGNIFY_RANGE, MAGNIFY_RANGE, TRAIN_IMAGES, SyntheticPairs, load_image_folder, load_skimage_photos
    from .video_pairs import MixedPairs

    sources = load_skimage_photos(TRAIN_IMAGES)
    if config.images:
        sources += load_image_folder(config.images)
    if config.kind == "magplus":
        motion = dataclasses.replace(MAGNIFY_RANGE, alpha_max=float(config.alpha_max))
    else:
        motion = dataclasses.replace(DEMAGNIFY_RANGE, alpha_min=1.0 / float(config.alpha_max))
    if config.amp_max is not None:
        motion = dataclasses.replace(motion, amp_max=float(config.amp_max))
    data = SyntheticPairs(sources, motion, config.size, seed=config.seed + seed_offset,
                          texture_fraction=config.texture_fraction, max_noise=config.max_noise,
                          translation_fraction=config.translation_fraction)
    if config.faces:
        data = MixedPairs(data, face_bank(config, config.seed + seed_offset))
    if config.videos:
        if config.loss.flow <= 0 and config.loss.colour <= 0:
            raise InputError("videos have no ground truth: give the flow and/or colour loss a weight > 0 (--w-flow, --w-colour).")
        from .video_pairs import VideoPairs

        data = MixedPairs(data, VideoPairs(config.videos, motion, config.size, seed=config.seed + seed_offset))
    return data


def face_bank(config: TrainConfig, seed: int) -> torch.utils.data.Dataset:
    """Face items of ``config``: AU programs on faces (magplus), backbone output or exact 1/α pairs (demagplus).

    The bank of scenes is cached as ``out/face_bank_<kind>.pt`` under a key of everything that defines it.
    """
    from functools import partial

    from .face_data import FaceBank, build_bank, exact_demagnify_scene, magnify_scene

    faces = list(config.faces)
    if config.kind == "magplus":
        make = partial(magnify_scene, faces=faces, alpha_max=config.alpha_max)
    elif config.backbone:
        from .backbone_pairs import demagnify_scene, make_backbone

        make = partial(demagnify_scene, faces=faces, alpha_max=config.alpha_max, stabilised=config.stabilised,
                       backbone=make_backbone(config.backbone, config.checkpoint, config.device))
    else:
        make = partial(exact_demagnify_scene, faces=faces, alpha_max=config.alpha_max)
    key = [config.kind, faces, config.backbone, config.checkpoint, config.alpha_max, config.face_clips, seed]
    if config.stabilised:  # (only then: banks cached before the option existed keep their key)
        key.append("stabilised")
    key = json.dumps(key)
    scenes = build_bank(make, config.face_clips, seed, key, Path(config.out) / f"face_bank_{config.kind}.pt")
    return FaceBank(scenes, config.size, seed=seed, max_noise=config.max_noise)


def make_batch(dataset, indices: list[int]) -> dict[str, torch.Tensor]:
    """Stack the items ``indices`` of ``dataset`` into a batch."""
    items = [dataset[i] for i in indices]
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to 5% of the peak."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(config.steps - config.warmup, 1)
    return config.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def training_step(model, batch, config: TrainConfig, flow_estimator=None) -> tuple[torch.Tensor, dict[str, float]]:
    """Forward one batch and return ``(loss, terms)`` (no optimiser step)."""
    alpha_map = batch["alpha"].view(-1, 1, 1, 1)
    output, field = model(batch["ref"], batch["frame"], alpha_map, return_field=True)
    return magnification_loss(output, field, batch, config.loss, flow_estimator)


def _distributed(device: torch.device) -> tuple[int, int]:
    """``(rank, world)``; initialises the process group under torchrun (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = torch.distributed.get_rank() if world > 1 else 0
    return rank, world


def save_checkpoint(path: Path, model: MagNet, optimizer, step: int, config: TrainConfig, elapsed: float) -> None:
    """Model, optimiser, step and config, written atomically (weights-only loadable)."""
    state = {"model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
             "optimizer": _to_cpu(optimizer.state_dict()), "step": step,
             "config": json.dumps(config.to_dict()), "elapsed": elapsed}
    with atomic_output(path) as tmp:
        torch.save(state, tmp)


def _to_cpu(value):
    """A (nested) optimiser state with every tensor on the CPU, so checkpoints load anywhere."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cpu(v) for v in value]
    return value


def alpha_range(config: TrainConfig) -> list[float]:
    """The α range a run trains for (saved as the weights' ``alpha_range`` metadata)."""
    return [1.0, float(config.alpha_max)] if config.kind == "magplus" else [1.0 / float(config.alpha_max), 1.0]


def export_weights(model: MagNet, path: str | Path, config: TrainConfig, extra: dict[str, Any] | None = None) -> None:
    """Write the model as ``.safetensors``; metadata carries the net config and α range needed to use it."""
    metadata = {"net": json.dumps(model.config.to_dict()), "kind": config.kind, "train_config": json.dumps(config.to_dict()),
                "alpha_range": json.dumps(alpha_range(config))}
    metadata.update({k: str(v) for k, v in (extra or {}).items()})
    save_safetensors(model.state_dict(), path, metadata)


def _make_flow(config: TrainConfig, device: torch.device):
    if config.loss.flow <= 0 and config.loss.colour <= 0:
        return None
    from ..registry import create_flow

    estimator = create_flow(config.flow)
    if not getattr(estimator, "differentiable", False):
        raise InputError(f"flow estimator {config.flow!r} is not differentiable; the flow/colour losses need one (e.g. lucas-kanade).")
    return estimator.to(device) if hasattr(estimator, "to") else estimator


class _Reporter:
    """Rank 0's side effects: progress bar, JSON-lines log, checkpoints and the final export."""

    def __init__(self, config: TrainConfig, out: Path, start: int, elapsed: float, world: int, progress: bool):
        self.config, self.out, self.start, self.elapsed0, self.world = config, out, start, elapsed, world
        self.log = open(out / "log.jsonl", "a")
        self.bar = None
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(total=config.steps, initial=start, desc=f"train {config.kind}", unit="step")
        self.t0 = time.time()

    def elapsed(self) -> float:
        return self.elapsed0 + time.time() - self.t0

    def after_step(self, done: int, loss: float, terms: dict[str, float], model: MagNet, optimizer) -> None:
        config = self.config
        rate = (done - self.start) * config.batch * self.world / max(time.time() - self.t0, 1e-6)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4f}", samples_s=f"{rate:.1f}")
        if done % config.log_every == 0 or done == config.steps:
            record = {"step": done, "loss": loss, **terms, "lr": learning_rate(config, done - 1),
                      "samples_per_s": rate, "elapsed_s": self.elapsed()}
            self.log.write(json.dumps(record) + "\n")
            self.log.flush()
        if done % config.checkpoint_every == 0:
            save_checkpoint(self.out / "last.pt", model, optimizer, done, config, self.elapsed())

    def close(self, model: MagNet, optimizer, step: int) -> None:
        save_checkpoint(self.out / "last.pt", model, optimizer, step, self.config, self.elapsed())
        export_weights(model, self.out / f"{self.config.kind}.safetensors", self.config,
                       {"steps": step, "train_seconds": round(self.elapsed(), 1)})
        if self.bar is not None:
            self.bar.close()
        self.log.close()


def _restore(model: MagNet, optimizer, path: Path) -> tuple[int, float]:
    """Load ``path`` (if it exists) into model and optimiser; returns ``(step, elapsed seconds)``."""
    if not path.is_file():
        return 0, 0.0
    state = load_checkpoint_file(path)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"]), float(state.get("elapsed", 0.0))


def _out_of_time(config: TrainConfig, elapsed: float, world: int, device: torch.device) -> bool:
    """Whether the time limit is reached; under DDP rank 0 decides for all (no rank may stop alone)."""
    stop = torch.tensor([float(bool(config.time_limit) and elapsed > config.time_limit)], device=device)
    if world > 1:
        torch.distributed.broadcast(stop, src=0)
    return bool(stop.item())


def _device(config: TrainConfig) -> torch.device:
    """The training device; under torchrun on CUDA each rank takes its ``LOCAL_RANK`` GPU."""
    device = torch.device(config.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {config.device!r} asked for but torch sees no CUDA GPU; use device: cpu.")
        if "LOCAL_RANK" in os.environ and device.index is None:
            device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    return device


def initial_weights(config: TrainConfig, model: MagNet) -> None:
    """Load ``config.init`` ("shipped" or a path) into ``model``; its net config must match ``config.net``."""
    from ..magnify.learned import WEIGHTS_DIR, read_weights
    from ..weights import load_state_dict_strict

    path = WEIGHTS_DIR / f"{config.kind}.safetensors" if config.init == "shipped" else Path(config.init)
    state, net_config = read_weights(path)
    # The prior is parameter-free: weights trained with another prior (steps, guard) fit the
    # network as they are (fine-tuning then adapts them to the new input).
    same_prior = dataclasses.replace(net_config, prior_steps=model.config.prior_steps, prior_guard=model.config.prior_guard)
    if same_prior != model.config:
        raise InputError(f"init weights {str(path)!r} have net {net_config.to_dict()}, the config asks for "
                         f"{model.config.to_dict()}; make config.net match them.")
    load_state_dict_strict(model, state, what=f"init weights {path.name}")


def train(config: TrainConfig, resume: bool = True, progress: bool = True) -> MagNet:
    """Train (or resume) according to ``config``; returns the trained network (rank 0's copy).

    Writes ``out/last.pt`` every ``checkpoint_every`` steps and at the end, ``out/log.jsonl``
    (one JSON object per ``log_every`` steps) and ``out/<kind>.safetensors``. The data is made on
    the CPU and moved to ``config.device`` per batch; the same command trains on CUDA.
    """
    device = _device(config)
    rank, world = _distributed(device)
    if config.threads:
        torch.set_num_threads(config.threads)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    model = MagNet(config.net)
    if config.init and not (resume and (out / "last.pt").is_file()):
        initial_weights(config, model)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    start, elapsed = _restore(model, optimizer, out / "last.pt") if resume else (0, 0.0)
    wrapped = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None) \
        if world > 1 else model
    dataset = build_dataset(config)
    flow_estimator = _make_flow(config, device)
    reporter = _Reporter(config, out, start, elapsed, world, progress) if rank == 0 else None
    t0, step = time.time(), start
    try:
        for step in range(start, config.steps):
            if _out_of_time(config, elapsed + time.time() - t0, world, device):
                break
            first = (step * world + rank) * config.batch
            batch = {k: v.to(device) for k, v in make_batch(dataset, list(range(first, first + config.batch))).items()}
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, step)
            loss, terms = training_step(wrapped, batch, config, flow_estimator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            if reporter is not None:
                reporter.after_step(step + 1, float(loss.detach()), terms, model, optimizer)
            step += 1
    finally:
        if reporter is not None:
            reporter.close(model, optimizer, step)
        if world > 1:
            torch.distributed.barrier()
    return model
