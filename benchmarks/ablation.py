"""Short training runs for the MagPlus ablation (output head, motion prior, loss terms).

    .venv/bin/python benchmarks/ablation.py train [--steps 300]   # writes runs/ablation/<name>/
    (benchmarks/magnification.py evaluates whatever runs/ablation/ holds)

Every variant shares the shipped config except the one thing it changes; all are trained for the
same (short) number of steps, so the comparison is between equals, not against the shipped model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: name -> (net overrides, loss overrides)
VARIANTS: dict[str, tuple[dict, dict]] = {
    "reference": ({}, {}),
    "warp-only (no residual)": ({"residual": False}, {}),
    "rgb head (no warp)": ({"warp": False}, {"field": 0.0}),
    "no motion prior": ({"prior": False}, {}),
    "no field term": ({}, {"field": 0.0}),
    "+ flow and colour terms (LK)": ({}, {"flow": 0.1, "colour": 1.0}),
}


def slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name).strip("-").replace("--", "-")


def config_for(name: str, steps: int):
    from magplus.train.config import TrainConfig

    net, loss = VARIANTS[name]
    base = TrainConfig.from_file(ROOT / "src/magplus/train/configs/magplus.yaml")
    net_config = {**base.net.to_dict(), **net}
    loss_config = {**base.loss.to_dict(), **loss}
    return TrainConfig.from_file(ROOT / "src/magplus/train/configs/magplus.yaml", out=str(ROOT / "runs/ablation" / slug(name)),
                                 steps=steps, net=net_config, loss=loss_config, time_limit=0, checkpoint_every=50)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["train"])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--only", help="train only this variant name")
    args = parser.parse_args(argv)
    from magplus.train.loop import train

    for name in VARIANTS:
        if args.only and name != args.only:
            continue
        print(f"== {name}", flush=True)
        train(config_for(name, args.steps), resume=True, progress=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
