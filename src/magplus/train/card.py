"""Export a training checkpoint as shipped weights with a model card (JSON + Markdown).

    .venv/bin/python -m magplus.train.card magplus runs/magplus/last.pt src/magplus/weights \
        --benchmark benchmarks/results/magnification.json --command "magplus train magplus ..."

The card records what trained the weights (command, config, data, commit, time) and their
measured quality on held-out synthetic pairs (and the benchmark's summary when given).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

from ..io.atomic import atomic_output
from ..magnify.learned import read_weights
from ..magnify.nets import MagNet, count_parameters
from .config import TrainConfig
from .data import DEMAGNIFY_RANGE, HELD_OUT_IMAGES, MAGNIFY_RANGE, TRAIN_IMAGES, SyntheticPairs, load_skimage_photos
from .loop import alpha_range, export_weights, make_batch


def held_out_quality(net: MagNet, kind: str, size: int = 96, samples: int = 64) -> dict[str, float]:
    """Mean L1 to the exact target on held-out photos, with the do-nothing and oracle-warp references."""
    from ..ops.warp import backward_warp

    motion = MAGNIFY_RANGE if kind == "magplus" else DEMAGNIFY_RANGE
    batch = make_batch(SyntheticPairs(load_skimage_photos(HELD_OUT_IMAGES), motion, size, seed=4242), list(range(samples)))
    with torch.no_grad():
        out = net.eval()(batch["ref"], batch["frame"], batch["alpha"].view(-1, 1, 1, 1)).clamp(0, 1)
        oracle = backward_warp(batch["frame"], batch["field"])
    target = batch["target"]
    return {"l1_model": float((out - target).abs().mean()), "l1_identity": float((batch["frame"] - target).abs().mean()),
            "l1_oracle_warp": float((oracle - target).abs().mean())}


def _data_description(config: TrainConfig) -> dict:
    """What the run trained on, for the card."""
    from .face_data import FACE_NAMES

    data = {"photos (scikit-image)": list(TRAIN_IMAGES), "procedural_texture_fraction": config.texture_fraction,
            "held_out_photos": list(HELD_OUT_IMAGES), "micro_expression_data": "none"}
    if not config.faces:
        data["faces"] = "none (generator faces are evaluation-only)"
        return data
    data["faces"] = {"trained_on": list(config.faces), "held_out": [f for f in FACE_NAMES if f not in config.faces],
                     "scenes": config.face_clips, "share_of_samples": 0.5,
                     "made_by": ("magplus.train.backbone_pairs (backbone " + config.backbone + " output -> renderer's 1x truth)")
                     if config.backbone else "magplus.train.face_data (AU programs rendered at 1x and alpha x, drift scaled)"}
    return data


def write_card(kind: str, checkpoint: Path, out_dir: Path, command: str, benchmark: dict | None = None) -> dict:
    """Write ``out_dir/<kind>.safetensors``, ``.json`` and ``.md``; returns the card."""
    raw = torch.load(checkpoint, weights_only=True)
    state, net_config = read_weights(checkpoint)
    net = MagNet(net_config)
    net.load_state_dict(state)
    config = TrainConfig(**json.loads(raw["config"]))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    card = {
        "name": kind, "file": f"{kind}.safetensors", "license": "MIT (weights trained here from public-domain / BSD data)",
        "command": command, "config": config.to_dict(), "steps": int(raw["step"]),
        "train_seconds": round(float(raw.get("elapsed", 0.0))), "commit": commit, "parameters": count_parameters(net),
        "data": _data_description(config),
        "alpha_range": alpha_range(config),
        "held_out_quality": held_out_quality(net, kind),
    }
    if benchmark:
        card["benchmark"] = benchmark
    out_dir.mkdir(parents=True, exist_ok=True)
    export_weights(net, out_dir / f"{kind}.safetensors", config, {"steps": card["steps"], "commit": commit})
    with atomic_output(out_dir / f"{kind}.json") as tmp:
        tmp.write_text(json.dumps(card, indent=1) + "\n")
    for suffix in (".safetensors", ".json"):
        (out_dir / f"{kind}{suffix}").chmod(0o644)
    return card


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="export shipped weights + JSON card")
    parser.add_argument("kind", choices=["magplus", "demagplus"])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--command", required=True, help="the command(s) that trained the checkpoint")
    parser.add_argument("--benchmark", type=Path, help="benchmarks/results/magnification.json to summarise")
    args = parser.parse_args(argv)
    summary = None
    if args.benchmark and args.benchmark.is_file():
        report = json.loads(args.benchmark.read_text())
        summary = {"source": str(args.benchmark), "commit": report["meta"]["commit"],
                   "speed": report["speed"], "faces": report["faces"]}
    card = write_card(args.kind, args.checkpoint, args.out_dir, args.command, summary)
    print(json.dumps(card["held_out_quality"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
