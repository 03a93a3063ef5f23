"""The app's input checks, run handler and temporary folders, without a browser (and without Gradio)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import torch

from magplus.app.handler import RunHandler, error_message
from magplus.app.job import summary_markdown, timings_markdown
from magplus.app.session import TempRoot
from magplus.app.validation import (DRIVING_MODES, PAIRED_DEMAGNIFIER, UPLOAD, Limits, RunSettings,
                                    extract_frames_zip, parse_settings, read_driving)
from magplus.errors import InputError, VideoReadError
from magplus.io import write_image, write_video


def page_values(**changes):
    """What the page sends with its default values (synthetic AU12 on the bundled astronaut)."""
    raw = dict(source_mode="astronaut (bundled)", source_upload=None, driving_mode=DRIVING_MODES[0],
               driving_video=None, driving_zip=None, frames_fps=30, aus=["AU12 lip corner puller"], amplitude=1.5,
               synth_fps=100, side="both sides", seed=7, backbone="landmark-warp", magnifier="lagrangian",
               demagnifier=PAIRED_DEMAGNIFIER, alpha_mode="automatic", alpha=10, target_amplitude=8.0,
               paste_back=False, resolution=128)
    raw.update(changes)
    return raw


@pytest.fixture()
def root():
    temp = TempRoot()
    yield temp
    temp.close()


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _png_bytes(tmp_path: Path, value: float = 0.5) -> bytes:
    return write_image(tmp_path / f"frame_{value}.png", torch.full((3, 8, 8), value)).read_bytes()


def test_defaults_parse_into_settings():
    settings = parse_settings(page_values(), Limits())
    assert isinstance(settings, RunSettings) and settings.synthetic
    assert (settings.aus, settings.alpha, settings.demagnifier, settings.resolution) == ([12], "auto", None, 128)
    manual = parse_settings(page_values(alpha_mode="manual", alpha=12.5, side="subject's left (L)",
                                        demagnifier="eulerian"), Limits())
    assert (manual.alpha, manual.side, manual.demagnifier) == (12.5, "L", "eulerian")


@pytest.mark.parametrize("changes, message", [
    (dict(source_mode=UPLOAD), "no source face image was uploaded"),
    (dict(aus=[]), "at least one action unit"),
    (dict(amplitude="lots"), "amplitude \\(px\\) must be a number"),
    (dict(synth_fps=0), "frame rate of the synthetic clip must lie in"),
    (dict(backbone="fom"), "backbone must be one of"),
    (dict(alpha_mode="manual", alpha=0.5), "alpha must lie in \\[1, 200\\]"),
    (dict(resolution=100), "face crop size must be one of 128, 256"),
    (dict(checkpoint="/no/such/vox-cpk.pth.tar"), "checkpoint '/no/such/vox-cpk.pth.tar' does not exist"),
    (dict(driving_mode=DRIVING_MODES[1]), "no driving video was uploaded"),
])
def test_bad_values_are_one_line_errors(changes, message):
    with pytest.raises(InputError, match=message):
        parse_settings(page_values(**changes), Limits())


def test_upload_size_limit(tmp_path):
    big = tmp_path / "face.png"
    big.write_bytes(b"\0" * 20_000)
    with pytest.raises(InputError, match="the source face image is 0.0 MB; the limit is 0.01 MB"):
        parse_settings(page_values(source_mode=UPLOAD, source_upload=str(big)), Limits(max_upload_mb=0.01))


def test_zip_of_frames_is_unpacked_flat_and_checked(tmp_path):
    png = _png_bytes(tmp_path)
    # A member named ../x must not escape the target folder; folders and other files are skipped.
    archive = _zip(tmp_path / "clip.zip", {"clip/f10.png": png, "clip/f9.png": png, "../../evil2.png": png,
                                           "notes.txt": b"hi", "__MACOSX/clip/._f9.png": png})
    target = extract_frames_zip(archive, tmp_path / "frames", Limits())
    assert sorted(p.name for p in target.iterdir()) == ["evil2.png", "f10.png", "f9.png"]
    assert not (tmp_path.parent / "evil2.png").exists()
    with pytest.raises(InputError, match="has 1 frame; a micro-expression needs at least 2"):
        extract_frames_zip(_zip(tmp_path / "one.zip", {"a.png": png}), tmp_path / "one", Limits())
    with pytest.raises(InputError, match="has 3 frames; the limit is 2"):
        extract_frames_zip(archive, tmp_path / "many", Limits(max_frames=2))
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(VideoReadError, match="is not a readable zip file"):
        extract_frames_zip(tmp_path / "broken.zip", tmp_path / "broken", Limits())


def test_read_driving_video_frame_and_size_limits(tmp_path):
    clip = write_video(tmp_path / "clip.mp4", torch.rand(5, 3, 32, 48), fps=25)
    settings = parse_settings(page_values(driving_mode=DRIVING_MODES[1], driving_video=str(clip)), Limits())
    assert read_driving(settings, tmp_path, Limits()).frames.shape == (5, 3, 32, 48)
    with pytest.raises(InputError, match="has 5 frames; the limit is 4"):
        read_driving(settings, tmp_path, Limits(max_frames=4))
    with pytest.raises(InputError, match="is 48x32 px; the limit is 40 px"):
        read_driving(settings, tmp_path, Limits(max_side=40))


@pytest.mark.parametrize("case", ["unreadable video", "one-frame video", "missing checkpoint", "no face"])
def test_handler_turns_bad_inputs_into_messages(case, tmp_path, root):
    if case == "unreadable video":
        (tmp_path / "clip.mp4").write_text("not a video")
        raw, expected = page_values(driving_mode=DRIVING_MODES[1], driving_video=str(tmp_path / "clip.mp4")), \
            "cannot read video"
    elif case == "one-frame video":
        clip = write_video(tmp_path / "one.mp4", torch.rand(1, 3, 32, 32), fps=25)
        raw, expected = page_values(driving_mode=DRIVING_MODES[1], driving_video=str(clip)), "has 1 frame"
    elif case == "missing checkpoint":
        raw, expected = page_values(backbone="fomm"), "FOMM needs its official weights"
    else:
        face = write_image(tmp_path / "grey.png", torch.full((3, 96, 96), 0.5))
        raw, expected = page_values(source_mode=UPLOAD, source_upload=str(face)), "face"
    reply = RunHandler(root, Limits())(raw, "session-a")
    assert not reply.ok and reply.outputs is None
    assert reply.status.startswith("**Cannot run:**") and expected in reply.status, reply.status
    assert "Traceback" not in reply.status and "\n" not in reply.status


def test_zip_of_frames_runs_end_to_end(tmp_path, root):
    """A zip of face frames: unpacked, cropped by the pipeline, compared with the driving clip."""
    from magplus.synth import render_program, sample_program, second_face

    program = sample_program(3, fps=30, aus=[12], amplitude_px=2.0, side=None, blink=False)
    frames = render_program(program, second_face(128)).frames[:8]
    members = {f"clip/img{i}.png": write_image(tmp_path / f"f{i}.png", f).read_bytes() for i, f in enumerate(frames)}
    raw = page_values(driving_mode=DRIVING_MODES[2], driving_zip=str(_zip(tmp_path / "clip.zip", members)),
                      frames_fps=30)
    reply = RunHandler(root, Limits())(raw, "session-z")
    assert reply.ok, reply.status
    summary = reply.outputs.summary
    assert summary["reference"] == "driving" and summary["frames"] == 8 and summary["fps"] == 30
    assert set(summary["motion"]) == {"driving", "direct", "MagPlus"}
    assert summary["motion"]["driving"]["peak_ratio_to_truth"] == 1.0
    for path in (reply.outputs.side_by_side, reply.outputs.result, reply.outputs.plot, reply.outputs.summary_json):
        assert path.is_file() and path.stat().st_size > 0 and root.path in path.parents
    assert "| MagPlus |" in summary_markdown(summary) and "**total**" in timings_markdown(summary)


def test_unexpected_errors_are_one_line_too(monkeypatch, root):
    import magplus.app.handler as handler

    def broken(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(handler, "run_job", broken)
    reply = RunHandler(root, Limits())(page_values(), "session-a")
    assert reply.status.startswith("**Something went wrong:** RuntimeError: boom (the details are in the terminal")
    assert error_message(InputError("alpha must be >= 1.")) == "**Cannot run:** alpha must be >= 1."


def test_temp_root_sessions_and_uploads(tmp_path):
    root = TempRoot()
    upload = root.path / "abc123" / "face.png"
    upload.parent.mkdir()
    upload.write_bytes(b"x")
    outside = tmp_path / "mine.png"
    outside.write_bytes(b"x")
    root.register_upload("s1", str(upload))
    root.register_upload("s1", str(outside))   # not the app's: never deleted
    root.register_upload("s1", None)
    first, second = root.run_dir("s1"), root.run_dir("s1")
    other = root.run_dir("../s2")             # a session name cannot leave the root
    assert (first.name, second.name) == ("run-001", "run-002") and first.parent == second.parent
    assert other.parent.parent == root.path
    root.end_session("s1")
    assert not upload.parent.exists() and not first.parent.exists() and outside.exists() and other.exists()
    root.close()
    assert not root.path.exists()
    root.close()  # idempotent (atexit calls it again)


def test_limits_are_described_on_the_page():
    text = Limits(max_upload_mb=20, max_frames=90, max_side=2048).describe()
    assert "20 MB" in text and "90 frames" in text and "2048 px" in text


def test_cli_rejects_a_bad_port():
    import argparse

    from magplus.cli import app as app_command

    parser = argparse.ArgumentParser()
    app_command.register(parser.add_subparsers())
    args = parser.parse_args(["app", "--port", "70000"])
    assert (args.host, args.max_frames) == ("127.0.0.1", 300)  # localhost by default
    with pytest.raises(InputError, match="--port must lie in 1..65535"):
        args.handler(args)
