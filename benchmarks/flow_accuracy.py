"""Accuracy and speed of every registered flow estimator on synthetic micro-expressions.

For each displacement (peak expression motion 0.3, 1 and 3 px at 256²) a clip is rendered with
:func:`magplus.synth.generate` (one AU, no rigid drift, no blink, default sensor noise and uint8
quantisation); the pair (frame 0, apex frame) and its exact ground-truth flow are used. EPE is
reported over the face mask, over the expression region (where the motion is), and the motion's
mean size there, so the errors can be read against the signal. It also times forward+backward of
the differentiable Lucas–Kanade at 128² and 256² (the cost it adds to a training step).

If ``magplus.synth`` is unavailable, the skimage astronaut warped by smooth random fields of the
same amplitudes is used instead, and the output says so.

Run:  .venv/bin/python benchmarks/flow_accuracy.py [--threads 1] [--seeds 2]
Writes benchmarks/results/flow_accuracy.{json,md} and prints the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

from _machine import cpu_model, git_head  # noqa: E402  (benchmarks/ is the script's folder)

import torch

import magplus
from magplus.flow.opencv import DISFlow
from magplus.io.atomic import atomic_output
from magplus.ops.flow_utils import end_point_error

ROOT = Path(__file__).resolve().parents[1]
AMPLITUDES = (0.3, 1.0, 3.0)
AUS = (12, 4, 1)  # lip-corner puller, brow lowerer, inner brow raiser: one AU per seed


def synth_pairs(seeds: int) -> tuple[list[dict], str]:
    """Pairs ``(src, tgt, gt_flow, face_mask, motion_mask)`` at 256² for every amplitude and seed."""
    try:
        from magplus.synth import generate
    except ImportError:
        return astronaut_pairs(seeds), "skimage astronaut warped by smooth random fields (magplus.synth unavailable)"
    pairs = []
    for amplitude in AMPLITUDES:
        for seed in range(seeds):
            clip = generate(seed, aus=[AUS[seed % len(AUS)]], amplitude_px=amplitude, drift_px=(0.0, 0.0), blink=False)
            apex = clip.apex_index
            gt = clip.flow[apex]
            moving = gt.norm(dim=0) > 0.1 * float(clip.peak_px[apex])
            pairs.append(dict(amplitude=amplitude, seed=seed, src=clip.frames[0], tgt=clip.frames[apex], gt=gt,
                              face=clip.masks["face"], motion=moving))
    return pairs, "magplus.synth.generate: one AU, no drift, no blink, sensor noise + uint8 (frame 0 -> apex)"


def astronaut_pairs(seeds: int) -> list[dict]:
    """Fallback: the astronaut's face warped by a smooth random field, exact ground truth by fixed point."""
    import skimage.data
    import torch.nn.functional as F

    from magplus.ops.flow_utils import invert_flow
    from magplus.ops.warp import backward_warp

    image = torch.from_numpy(skimage.data.astronaut()[20:220, 140:340].copy()).permute(2, 0, 1).float() / 255
    image = F.interpolate(image[None], size=(256, 256), mode="area")[0]
    pairs = []
    for amplitude in AMPLITUDES:
        for seed in range(seeds):
            gen = torch.Generator().manual_seed(seed)
            coarse = torch.randn(1, 2, 4, 4, generator=gen)
            inverse = F.interpolate(coarse, size=(256, 256), mode="bicubic", align_corners=True)[0]
            inverse = inverse / inverse.norm(dim=0).max() * amplitude  # tgt(q) = src(q + inverse(q))
            tgt = backward_warp(image, inverse, mode="bicubic").clamp(0, 1)
            gt = invert_flow(inverse, iterations=30, mode="bicubic")  # flow from src to tgt
            tgt = (tgt * 255).round() / 255
            ones = torch.ones(256, 256, dtype=torch.bool)
            pairs.append(dict(amplitude=amplitude, seed=seed, src=image, tgt=tgt, gt=gt, face=ones,
                              motion=gt.norm(dim=0) > 0.1 * amplitude))
    return pairs


def evaluate(name: str, pairs: list[dict]) -> list[dict]:
    """EPE (face, expression region) and seconds per pair of one estimator, per amplitude."""
    estimator = magplus.create_flow(name)
    rows = []
    for amplitude in AMPLITUDES:
        subset = [p for p in pairs if p["amplitude"] == amplitude]
        epe_face, epe_motion, signal, seconds = [], [], [], []
        for pair in subset:
            start = time.perf_counter()
            with torch.no_grad():
                flow = estimator(pair["src"][None], pair["tgt"][None])[0]
            seconds.append(time.perf_counter() - start)
            epe_face.append(float(end_point_error(flow, pair["gt"], mask=pair["face"].float(), border=8)))
            epe_motion.append(float(end_point_error(flow, pair["gt"], mask=pair["motion"].float(), border=8)))
            signal.append(float(pair["gt"].norm(dim=0)[pair["motion"]].mean()))
        mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
        rows.append(dict(method=name, amplitude_px=amplitude, epe_face=mean(epe_face), epe_motion=mean(epe_motion),
                         motion_mean_px=mean(signal), seconds_per_pair=min(seconds), pairs=len(subset)))
    return rows


def _legacy_dis_pair(preset: str, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    """The per-pair DIS path before the reuse change: float64 grey conversion and a new DIS object."""
    import cv2
    import numpy as np

    def gray(image: torch.Tensor) -> np.ndarray:
        array = np.moveaxis(image.detach().cpu().double().numpy(), 0, -1) * 255.0
        return np.clip(np.rint(array @ np.array([0.299, 0.587, 0.114])), 0, 255).astype(np.uint8)

    dis = cv2.DISOpticalFlow_create(getattr(cv2, DISFlow._PRESETS[preset]))
    return torch.from_numpy(dis.calc(gray(src), gray(tgt), None)).permute(2, 0, 1)


def dis_cost(pairs: list[dict], repeats: int = 3) -> list[dict]:
    """DIS seconds per 256² pair before/after the object reuse and float32 grey conversion, per preset.

    Both paths run interleaved on the same pairs in this process (the ratio survives a loaded
    machine); the figure is the median over pairs and repeats. EPE of the current path, as in
    :func:`evaluate`, shows what each preset costs in accuracy.
    """
    import statistics

    rows = []
    for preset in DISFlow._PRESETS:
        current = DISFlow(preset)
        before, after, epe_face, epe_motion, max_diff = [], [], [], [], 0.0
        for _ in range(repeats):
            for pair in pairs:
                start = time.perf_counter()
                old = _legacy_dis_pair(preset, pair["src"], pair["tgt"])
                middle = time.perf_counter()
                new = current(pair["src"][None], pair["tgt"][None])[0]
                after.append(time.perf_counter() - middle)
                before.append(middle - start)
                max_diff = max(max_diff, float((new - old).abs().max()))
        for pair in pairs:
            flow = current(pair["src"][None], pair["tgt"][None])[0]
            epe_face.append(float(end_point_error(flow, pair["gt"], mask=pair["face"].float(), border=8)))
            epe_motion.append(float(end_point_error(flow, pair["gt"], mask=pair["motion"].float(), border=8)))
        rows.append(dict(preset=preset, before_s=statistics.median(before), after_s=statistics.median(after),
                         speedup=statistics.median(before) / statistics.median(after),
                         max_abs_flow_diff_px=max_diff, epe_face=statistics.mean(epe_face),
                         epe_motion=statistics.mean(epe_motion), pairs=len(pairs) * repeats))
    return rows


def time_lk_training(device: str = "cpu", repeats: int = 3) -> list[dict]:
    """Best-of-``repeats`` forward and backward time of LK for batches of 1 and 4 at 128² and 256²."""
    estimator = magplus.create_flow("lucas-kanade")
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    rows = []
    for size in (128, 256):
        for batch in (1, 4):
            src = torch.rand(batch, 3, size, size, device=device, requires_grad=True)
            tgt = torch.rand(batch, 3, size, size, device=device, requires_grad=True)
            forward, backward = [], []
            for _ in range(repeats + 1):  # the first round warms up (allocator, kernels)
                sync()
                start = time.perf_counter()
                flow = estimator(src, tgt)
                sync()
                middle = time.perf_counter()
                flow.square().mean().backward()
                sync()
                forward.append(middle - start)
                backward.append(time.perf_counter() - middle)
            rows.append(dict(size=size, batch=batch, device=device, forward_s=min(forward[1:]),
                             backward_s=min(backward[1:])))
    return rows


def machine(threads: int) -> dict:
    commit = git_head()
    cpu = cpu_model()
    load = round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None
    return dict(platform=platform.platform(), cpu=cpu, cpu_count=os.cpu_count(), load_average_1min=load, python=platform.python_version(), torch=torch.__version__,
                threads=threads, git_commit=commit, date=dt.datetime.now().isoformat(timespec="seconds"),
                command=" ".join([Path(sys.executable).name] + sys.argv))


def markdown(result: dict) -> str:
    info = result["machine"]
    lines = ["# Flow accuracy (256², frame 0 -> apex)", "",
             f"Data: {result['data']}. EPE in pixels over the face mask and over the expression region "
             "(ground-truth motion > 10 % of the peak), 8 px border excluded; time = best of the pairs.", "",
             "| method | motion (px) | mean motion in region | EPE face | EPE region | s / pair |",
             "|---|---:|---:|---:|---:|---:|"]
    for row in result["accuracy"]:
        lines.append(f"| {row['method']} | {row['amplitude_px']:g} | {row['motion_mean_px']:.3f} | {row['epe_face']:.3f} | "
                     f"{row['epe_motion']:.3f} | {row['seconds_per_pair']:.3f} |")
    if result.get("dis_cost"):
        lines += ["", "## DIS per pair: before/after object reuse and float32 grey conversion", "",
                  "Before: a new `cv2.DISOpticalFlow` and a float64 grey conversion per pair (magplus up to 143a119); "
                  "after: one object per estimator, float32 conversion. Interleaved in one process, median "
                  "seconds per 256² pair; EPE (px) over all amplitudes with the current path.", "",
                  "| preset | before (s) | after (s) | speed-up | max flow diff (px) | EPE face | EPE region |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for row in result["dis_cost"]:
            lines.append(f"| {row['preset']} | {row['before_s']:.4f} | {row['after_s']:.4f} | {row['speedup']:.2f}x | "
                         f"{row['max_abs_flow_diff_px']:.3g} | {row['epe_face']:.3f} | {row['epe_motion']:.3f} |")
    lines += ["", "## Lucas–Kanade forward + backward (training cost)", "",
              "| size | batch | device | forward (s) | backward (s) |", "|---:|---:|---|---:|---:|"]
    for row in result["lk_training"]:
        lines.append(f"| {row['size']}² | {row['batch']} | {row['device']} | {row['forward_s']:.3f} | {row['backward_s']:.3f} |")
    lines += ["", f"Machine: {info['platform']}, {info['cpu']} ({info['cpu_count']} cores, 1-min load "
              f"{info['load_average_1min']}: times on a shared machine are pessimistic), torch {info['torch']}, "
              f"{info['threads']} thread(s). "
              f"Commit {info['git_commit']}, {info['date']}.", f"Command: `{info['command']}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch and OpenCV threads (default 1)")
    parser.add_argument("--seeds", type=int, default=2, help="clips per displacement (default 2)")
    parser.add_argument("--methods", nargs="*", default=None, help="estimators (default: all registered)")
    parser.add_argument("--device", default="cpu", help="device of the LK training-cost timing (e.g. cuda)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="output folder")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import cv2

    cv2.setNumThreads(args.threads)
    pairs, data = synth_pairs(args.seeds)
    methods = args.methods or magplus.list_flows()
    accuracy = [row for name in methods for row in evaluate(name, pairs)]
    result = dict(data=data, accuracy=accuracy, dis_cost=dis_cost(pairs), lk_training=time_lk_training(args.device),
                  machine=machine(args.threads))
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_output(args.out / "flow_accuracy.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2))
    text = markdown(result)
    with atomic_output(args.out / "flow_accuracy.md") as tmp:
        tmp.write_text(text)
    print(text)
    return result


if __name__ == "__main__":
    main()
