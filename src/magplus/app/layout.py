"""The page: inputs on the left, outputs on the right (Gradio Blocks).

Each input component is registered under a name (the keys :func:`magplus.app.validation.parse_settings`
reads); the run button sends them all as one ``{component: value}`` dict. ``elem_id`` values are
stable: the browser test finds the components through them.
"""

# No ``from __future__ import annotations``: Gradio finds the ``gr.Request`` parameters of the event
# functions through their (evaluated) annotations.
from typing import Any

import gradio as gr

from .handler import RunHandler, gradio_progress
from .job import summary_markdown, timings_markdown
from .session import TempRoot
from .validation import (BUNDLED_FACES, DRIVING_MODES, PAIRED_DEMAGNIFIER, RESOLUTIONS, SIDES, UPLOAD, Limits)

INTRO = """# MagPlus: micro-expressions on any face
Upload a face (or use a bundled one) and a driving micro-expression clip (or make a synthetic one),
then press **Run**. The motion is magnified, transferred by a frozen animation backbone and
de-magnified. Everything runs on this machine; nothing is downloaded."""


def _au_labels() -> list[str]:
    from ..synth import AU_SPECS, SUPPORTED_AUS

    return [f"AU{au} {AU_SPECS[au][0].split(':')[0]}" for au in SUPPORTED_AUS]


def _source_inputs() -> dict[str, Any]:
    with gr.Group():
        mode = gr.Radio([*BUNDLED_FACES, UPLOAD], value=next(iter(BUNDLED_FACES)), label="Source face",
                        elem_id="source-mode")
        upload = gr.Image(type="filepath", image_mode=None, sources=["upload"], label="Face image (PNG/JPEG)",
                          elem_id="source-upload", height=220)
    return {"source_mode": mode, "source_upload": upload}


def _driving_inputs() -> dict[str, Any]:
    labels = _au_labels()
    mode = gr.Radio(list(DRIVING_MODES), value=DRIVING_MODES[0], label="Driving clip", elem_id="driving-mode")
    with gr.Group(visible=True) as synthetic:
        aus = gr.CheckboxGroup(labels, value=[labels[[l.split()[0] for l in labels].index("AU12")]],
                               label="Action units", elem_id="aus")
        with gr.Row():
            amplitude = gr.Slider(0.3, 3.0, value=1.5, step=0.1, label="Amplitude (px at 256²)", elem_id="amplitude")
            synth_fps = gr.Number(100, label="fps", minimum=10, maximum=1000, elem_id="synth-fps")
        with gr.Row():
            side = gr.Radio(list(SIDES), value=next(iter(SIDES)), label="Unilateral", elem_id="side")
            seed = gr.Number(7, label="Seed", precision=0, minimum=0, elem_id="seed")
    with gr.Group(visible=False) as video:
        driving_video = gr.File(label="Driving video", file_types=["video"], elem_id="driving-video")
    with gr.Group(visible=False) as frames:
        driving_zip = gr.File(label="Zip of frames (PNG/JPEG, natural order)", file_types=[".zip"],
                              elem_id="driving-zip")
        frames_fps = gr.Number(30, label="Frame rate of the frames", minimum=1, elem_id="frames-fps")
    mode.change(lambda m: [gr.update(visible=m == name) for name in DRIVING_MODES], mode, [synthetic, video, frames])
    return {"driving_mode": mode, "aus": aus, "amplitude": amplitude, "synth_fps": synth_fps, "side": side,
            "seed": seed, "driving_video": driving_video, "driving_zip": driving_zip, "frames_fps": frames_fps}


def _model_inputs() -> dict[str, Any]:
    from ..registry import list_backbones, list_magnifiers

    fields: dict[str, Any] = {}
    fields["backbone"] = gr.Dropdown(list_backbones(), value="landmark-warp", label="Backbone", elem_id="backbone")
    with gr.Accordion("Official checkpoints (only for backbones other than landmark-warp)", open=False):
        for name, label in (("checkpoint", "checkpoint (fomm: vox-cpk.pth.tar, fsrt: vox256.pt, metaportrait: "
                                           "ckpt_base.pth.tar)"),
                            ("kp_checkpoint", "fsrt: kp_detector.pt"), ("config", "official YAML config (optional)"),
                            ("connectivity", "metaportrait: dense_669_connectivity.tsv"),
                            ("repo", "official repository folder (emoportraits, metaportrait)"),
                            ("weights", "emoportraits: weights folder"),
                            ("backbone_python", "emoportraits: python of the official environment")):
            fields[name] = gr.Textbox(label=label, placeholder="path on this machine", elem_id=name.replace("_", "-"))
    with gr.Row():
        fields["magnifier"] = gr.Dropdown(list_magnifiers(), value="lagrangian", label="Magnifier",
                                          elem_id="magnifier")
        fields["demagnifier"] = gr.Dropdown([PAIRED_DEMAGNIFIER, *list_magnifiers()], value=PAIRED_DEMAGNIFIER,
                                            label="De-magnifier", elem_id="demagnifier")
    with gr.Row():
        fields["alpha_mode"] = gr.Radio(["automatic", "manual"], value="automatic", label="α", elem_id="alpha-mode")
        fields["alpha"] = gr.Slider(1, 60, value=10, step=0.5, label="α (manual)", elem_id="alpha")
        fields["target_amplitude"] = gr.Number(8.0, label="Target amplitude (px at 256², automatic α)",
                                               minimum=0.5, elem_id="target-amplitude")
    with gr.Row():
        fields["paste_back"] = gr.Checkbox(False, label="Paste back into the full source image "
                                                        "(uploaded clips)", elem_id="paste-back")
        fields["resolution"] = gr.Radio(list(RESOLUTIONS), value=256, label="Face crop size (px)",
                                        elem_id="resolution")
    return fields


def _outputs() -> dict[str, Any]:
    status = gr.Markdown("Press **Run** to start.", elem_id="status")
    gr.Markdown("**Side by side:** driving | magnified | direct transfer | MagPlus (| ground truth for synthetic "
                "clips). **Below:** the MagPlus result alone, downloads, motion over time and the numbers.")
    return {
        "status": status,
        # Captions above the videos: Gradio's label badge would cover the grid's own label bars.
        "side_by_side": gr.Video(label="side by side", show_label=False, elem_id="side-by-side", interactive=False,
                                 loop=True, autoplay=True),
        "result": gr.Video(label="MagPlus result", show_label=False, elem_id="result", interactive=False, loop=True,
                           autoplay=True, height=300),
        "downloads": gr.File(label="Downloads", file_count="multiple", elem_id="downloads", interactive=False),
        **_plot_and_table(),
    }


def _plot_and_table() -> dict[str, Any]:
    # The plot carries its own title; Gradio's label badge would cover it.
    plot = gr.Image(label="Face motion over time", show_label=False, type="filepath", elem_id="plot",
                    interactive=False)
    with gr.Row():
        with gr.Column(scale=3):
            summary = gr.Markdown(elem_id="summary")
        with gr.Column(scale=2):
            timings = gr.Markdown(elem_id="timings")
    return {"plot": plot, "summary": summary, "timings": timings}


def build_app(root: TempRoot, limits: Limits):
    """The Gradio Blocks of ``magplus app`` (not launched)."""
    handler = RunHandler(root, limits)
    with gr.Blocks(title="magplus", analytics_enabled=False) as app:
        gr.Markdown(INTRO)
        gr.Markdown(limits.describe(), elem_id="limits")
        with gr.Row():
            with gr.Column(scale=2):
                inputs = {**_source_inputs(), **_driving_inputs(), **_model_inputs()}
                run = gr.Button("Run", variant="primary", elem_id="run")
            with gr.Column(scale=3):
                outputs = _outputs()
        names = {component: name for name, component in inputs.items()}
        order = list(outputs.values())

        def on_run(values: dict, request: gr.Request, progress=gr.Progress(track_tqdm=True)):
            reply = handler({names[c]: v for c, v in values.items()}, request.session_hash, gradio_progress(progress))
            if not reply.ok:
                return [reply.status, None, None, None, None, "", ""]
            out = reply.outputs
            files = [str(p) for p in (out.result, out.side_by_side, out.plot, out.summary_json)]
            return [reply.status, str(out.side_by_side), str(out.result), files, str(out.plot),
                    summary_markdown(out.summary), timings_markdown(out.summary)]

        run.click(on_run, inputs=set(inputs.values()), outputs=order, concurrency_limit=1)
        def on_upload(path: Any, request: gr.Request):
            root.register_upload(request.session_hash, path)

        def on_unload(request: gr.Request):
            root.end_session(request.session_hash)

        for name in ("source_upload", "driving_video", "driving_zip"):
            inputs[name].upload(on_upload, inputs=inputs[name], outputs=None)
        app.unload(on_unload)
    return app
