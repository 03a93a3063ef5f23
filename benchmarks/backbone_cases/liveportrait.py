"""LivePortrait speed case for ``benchmarks/backbones.py``: official-style per-frame loop vs magplus.

No official weights are available here, so the networks have RANDOM weights and a MODERATE size:
the official architecture (21 keypoints, ConvNeXt V2 depths 3-3-9-3, 6 appearance res blocks, a
5-level 3-D hourglass, 6+2 SPADE blocks, the three MLPs) with every channel width divided by
:data:`WIDTH_DIVISOR`. The full-size model takes about 45 s per frame on this 2-core machine
(measured once while writing this case), too slow for a benchmark that runs beside others. Both
paths use the same modules, weights and inputs, so outputs must agree to float32 rounding; random,
uncalibrated weights amplify rounding, so the rows also report how far a 1-ulp change of the
driving keypoints alone moves the output.

- ``official-style``: ``LivePortraitPipeline.execute`` for an image source and a driving video:
  the source once (kp info, rotation, appearance volume, ``x_s``); a motion template with one
  ``get_kp_info`` per driving frame; per frame the relative composition, the expression-friendly
  multiplier (from frame 0), stitching, ``x_s + (x_d - x_s) * driving_multiplier`` and
  ``warp_decode`` (the whole warping module, source part included, then the decoder), batch 1,
  under ``no_grad``.
- ``magplus``: :class:`LivePortraitBackbone`: batched motion extraction and rendering, the
  source-only part of the dense-motion network computed once, ``inference_mode``.

The golden miniature model (tests/data/golden, 64x64) gets the same rows: its random weights were
calibrated when the golden vectors were made, so it does not amplify rounding.

Stages: ``keypoints`` (driving motion), ``generation`` (source preparation + rendering from the
same known motion on both paths) and ``end_to_end`` (``animate``; each path extracts its own motion).
Each path's time is the best of ``repeats`` alternating runs; the notes add the best process CPU
time and the speed-up it gives, which other processes on a shared machine disturb far less than
the wall time (run with ``--threads 1`` so CPU time is not inflated by idle-spinning threads). Run alone:
``python benchmarks/backbone_cases/liveportrait.py --frames 4 --size 128 --threads 2``.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from backbone_cases import make_row, standalone, timed  # noqa: E402

from magplus.backbones.liveportrait import FULL_CONFIG, LivePortraitBackbone, LivePortraitNetworks  # noqa: E402
from magplus.backbones.liveportrait.kinematics import (motion_multiplier, refine_kp_info, rotation_matrix,  # noqa: E402
                                                       transform_keypoints)
from magplus.backbones.liveportrait.stitching import stitch  # noqa: E402

#: Channel widths of the official config divided by this (depths, keypoints and blocks unchanged).
WIDTH_DIVISOR = 4
_WIDTH_KEYS = {"block_expansion", "max_features", "reshape_channel", "out_channels"}


def moderate_config(divisor: int = WIDTH_DIVISOR) -> dict:
    """The official architecture with every channel width divided by ``divisor``."""
    config = copy.deepcopy(FULL_CONFIG)

    def shrink(section: dict) -> None:
        for key, value in section.items():
            if isinstance(value, dict):
                shrink(value)
            elif key in _WIDTH_KEYS:
                section[key] = value // divisor

    for name in ("appearance_feature_extractor_params", "warping_module_params", "spade_generator_params"):
        shrink(config[name])
    config["motion_extractor_params"]["dims"] = [d // divisor for d in config["motion_extractor_params"]["dims"]]
    for mlp in config["stitching_retargeting_module_params"].values():
        mlp["hidden_sizes"] = [h // divisor for h in mlp["hidden_sizes"]]
    return config


def _clip(frames: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth random source ``(3, S, S)`` and driving clip ``(T, 3, S, S)`` in [0, 1]."""
    gen = torch.Generator().manual_seed(0)
    coarse = torch.rand(frames + 1, 3, 8, 8, generator=gen)
    images = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    return images[0], images[1:]


def official_motion_template(nets: LivePortraitNetworks, driving: torch.Tensor, device) -> list[dict]:
    """``make_motion_template``: one ``get_kp_info`` per frame (batch 1)."""
    template = []
    with torch.no_grad():
        for frame in driving:
            info = refine_kp_info(nets.motion_extractor(frame[None].to(device)))
            info["R"] = rotation_matrix(info["pitch"], info["yaw"], info["roll"])
            template.append(info)
    return template


def official_generation(nets: LivePortraitNetworks, source: torch.Tensor, template: list[dict], device) -> torch.Tensor:
    """The per-frame loop of ``LivePortraitPipeline.execute`` (image source, driving video, defaults)."""
    frames = []
    with torch.no_grad():
        image = source[None].to(device)
        info = refine_kp_info(nets.motion_extractor(image))
        r_s = rotation_matrix(info["pitch"], info["yaw"], info["roll"])
        f_s = nets.appearance_feature_extractor(image)
        x_s = transform_keypoints(info["kp"], r_s, info["exp"], info["scale"], info["t"])
        first = template[0]
        for d in template:
            rotation = (d["R"] @ first["R"].permute(0, 2, 1)) @ r_s
            exp = info["exp"] + (d["exp"] - first["exp"])
            scale = info["scale"] * (d["scale"] / first["scale"])
            shift = info["t"] + (d["t"] - first["t"])
            shift[..., 2] = 0
            x_d = scale * (info["kp"] @ rotation + exp) + shift
            if d is first:
                x_d_0, factor = x_d, motion_multiplier(x_s[0], x_d[0])
            x_d = stitch(nets.stitching, x_s, (x_d - x_d_0) * factor + x_s)
            x_d = x_s + (x_d - x_s) * 1.0  # driving_multiplier, applied unconditionally upstream
            warped = nets.warping_module(f_s, x_d, x_s)
            frames.append(nets.spade_generator(warped["out"]).cpu())
    return torch.cat(frames)


def rounding_sensitivity(nets: LivePortraitNetworks, backbone: LivePortraitBackbone, source: torch.Tensor,
                         motion) -> float:
    """How far this (random, uncalibrated) network's output moves when the driving keypoints change
    by one float32 ulp: the scale against which the two paths' difference is to be read."""
    prepared = backbone.prepare_source(source)
    keypoints = backbone.keypoints(prepared, motion.select([0]))
    gen = torch.Generator().manual_seed(1)
    sign = torch.randint(0, 2, keypoints.shape, generator=gen).to(keypoints) * 2 - 1
    nudged = keypoints * (1 + sign * 2.0 ** -23)
    with torch.inference_mode():
        a = nets.spade_generator(nets.warping_module(prepared.feature_3d, keypoints, source=prepared.dense)["out"])
        b = nets.spade_generator(nets.warping_module(prepared.feature_3d, nudged, source=prepared.dense)["out"])
    return float((a - b).abs().max())


def _diff(a, b) -> float:
    if isinstance(a, torch.Tensor):
        return float((a.cpu() - b.cpu()).abs().max())
    return max(_diff(getattr(a, k), torch.cat([t[k if k != "rotation" else "R"] for t in b]))
               for k in ("exp", "rotation", "scale"))


def _measure(nets, backbone, source, driving, label, notes, device, batch_size, n_base, repeats) -> list[dict]:
    """The three stages, official-style and magplus rows; each path's best of ``repeats`` alternating runs."""
    frames = driving.shape[0]
    base_note = f"{notes}; official per-frame loop, batch 1, no_grad, first {n_base} frame(s), best of {repeats}"
    fast_note = f"{notes}; source part once, batch {batch_size}, inference_mode, {frames} frame(s), best of {repeats}"
    rows = []
    # Warm-up: the first call of each convolution shape pays oneDNN's kernel set-up; keep it out of both timings.
    official_generation(nets, source, official_motion_template(nets, driving[:1], device), device)
    backbone.animate(source, driving[:batch_size])

    def add(stage, slow_fn, fast_fn, head):
        # Alternate the two paths and keep each one's best wall and CPU time: other work on a shared
        # machine slows single runs unevenly; the process's CPU time is the least disturbed measure.
        best = {"slow": [float("inf"), float("inf"), 0.0], "fast": [float("inf"), float("inf"), 0.0]}
        results = {}
        for _ in range(repeats):
            for key, fn in (("slow", slow_fn), ("fast", fast_fn)):
                cpu = time.process_time()
                results[key], seconds, memory = timed(fn, device)
                cpu = time.process_time() - cpu
                best[key] = [min(best[key][0], seconds), min(best[key][1], cpu), max(best[key][2], memory)]
        (slow_s, slow_cpu, slow_mem), (fast_s, fast_cpu, fast_mem) = best["slow"], best["fast"]
        cpu_ratio = (n_base / slow_cpu) / (frames / fast_cpu)
        rows.append(make_row("liveportrait", f"{stage} official-style{label}", device, n_base, slow_s, slow_mem,
                             notes=f"{base_note}; CPU time {slow_cpu:.2f} s"))
        rows.append(make_row("liveportrait", f"{stage} magplus{label}", device, frames, fast_s, fast_mem, n_base / slow_s,
                             _diff(head(results["fast"]), results["slow"]),
                             f"{fast_note}; CPU time {fast_cpu:.2f} s, CPU-time speed-up {1 / cpu_ratio:.2f}x"))
        return results["fast"]

    motion = add("keypoints", lambda: official_motion_template(nets, driving[:n_base], device),
                 lambda: backbone.extract_motion(driving), lambda m: m.select(list(range(n_base))))
    # Generation from the SAME motion on both paths, so its difference measures rendering alone.
    template = [{"kp": motion.kp[i:i + 1], "exp": motion.exp[i:i + 1], "scale": motion.scale[i:i + 1],
                 "t": motion.translation[i:i + 1], "R": motion.rotation[i:i + 1]} for i in range(n_base)]
    add("generation", lambda: official_generation(nets, source, template, device),
        lambda: backbone.render(backbone.prepare_source(source), motion), lambda out: out[:n_base])
    add("end_to_end", lambda: official_generation(nets, source, official_motion_template(nets, driving[:n_base], device),
                                                  device),
        lambda: backbone.animate(source, driving), lambda out: out[:n_base])
    sensitivity = rounding_sensitivity(nets, backbone, source, motion)
    for row in rows:
        if not row["stage"].startswith("keypoints") and "magplus" in row["stage"]:
            row["notes"] += f"; a 1-ulp change of the keypoints moves this network's output by {sensitivity:.1e}"
    return rows


def _half_precision_rows(nets, source, driving, rows, notes, size, device, batch_size, n_base, repeats) -> list[dict]:
    """``animate`` under bfloat16 autocast (approximate), against the official-style end-to-end row."""
    backbone = LivePortraitBackbone.from_networks(nets, device=device, input_size=size, native_output=True,
                                                  batch_size=batch_size, precision="bfloat16")
    exact = LivePortraitBackbone.from_networks(nets, device=device, input_size=size, native_output=True,
                                               batch_size=batch_size).animate(source, driving)
    backbone.animate(source, driving[:batch_size])  # warm-up
    best, out = float("inf"), None
    for _ in range(repeats):
        out, seconds, memory = timed(lambda: backbone.animate(source, driving), device)
        best = min(best, seconds)
    base = next(r for r in rows if r["stage"] == "end_to_end official-style")
    return [make_row("liveportrait", "end_to_end magplus bfloat16", device, driving.shape[0], best, memory,
                     base["frames_per_s"], float((out[:n_base] - exact[:n_base]).abs().max()),
                     f"{notes}; approximate: warping and decoding under bfloat16 autocast, motion float32; "
                     f"difference against the float32 magplus output, best of {repeats}")]


def golden_mini_networks(device) -> LivePortraitNetworks | None:
    """The golden miniature case's networks (weights calibrated so no path saturates), if the file is there."""
    from safetensors.torch import load_file

    from magplus.weights import strip_prefix

    folder = Path(__file__).resolve().parents[2] / "tests" / "data" / "golden"
    if not (folder / "liveportrait_mini.safetensors").is_file():
        return None
    tensors = load_file(str(folder / "liveportrait_mini.safetensors"))
    nets = LivePortraitNetworks(json.loads((folder / "liveportrait_mini.json").read_text())["mini_config"]).eval()
    for name in nets.names():
        getattr(nets, name).load_state_dict(strip_prefix(tensors, f"state/{name}/"), strict=True)
    return nets.to(device)


def run(frames: int = 8, size: int = 128, threads: int = 2, device: str = "cpu",
        baseline_frames: int | None = None, batch_size: int = 4, repeats: int = 3) -> list[dict]:
    """Rows for the three stages on ``frames`` random frames: the moderate random model at ``size``,
    then the golden miniature model (64x64, 4x the frames) when its file is in tests/data/golden."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    n_base = min(frames, baseline_frames or frames)
    nets = LivePortraitNetworks(moderate_config()).eval().to(device)
    backbone = LivePortraitBackbone.from_networks(nets, device=device, input_size=size, native_output=True,
                                                  batch_size=batch_size)
    notes = (f"official architecture, widths / {WIDTH_DIVISOR}, RANDOM weights, {size}x{size} input "
             f"({2 * size}x{2 * size} output), {threads} thread(s)")
    source, driving = _clip(frames, size)
    rows = _measure(nets, backbone, source, driving, "", notes, device, batch_size, n_base, repeats)
    rows += _half_precision_rows(nets, source, driving, rows, notes, size, device, batch_size, n_base, repeats)
    mini = golden_mini_networks(device)
    if mini is not None:
        mini_backbone = LivePortraitBackbone.from_networks(mini, device=device, input_size=None, native_output=True,
                                                           batch_size=batch_size)
        notes = f"golden miniature model (calibrated random weights), 64x64 input (128x128 output), {threads} thread(s)"
        rows += _measure(mini, mini_backbone, *_clip(4 * frames, 64), " (golden mini)", notes, device, batch_size,
                         4 * n_base, repeats)
    return rows


if __name__ == "__main__":
    standalone(run, __doc__.split("\n")[0], size=128)
