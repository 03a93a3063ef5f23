"""MagPipeline.stream: chunk-by-chunk runs equal whole-clip runs; chunk boundaries; bad inputs fail first."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from magplus.backbones.fomm.motion import FOMMMotion
from magplus.backbones.landmark_warp import LandmarkWarpBackbone
from magplus.backbones.motion import LandmarkMotion
from magplus.errors import InputError
from magplus.io import VideoReader, write_video
from magplus.magnify.classical import EulerianMagnifier, LagrangianMagnifier
from magplus.pipeline import MagPipeline
from magplus.pipeline_stream import AlphaStats, ClipFrames, Collector, VideoSink
from magplus.synth import default_face, render_program, sample_program, second_face

#: Largest |stream - whole| per output. Both runs do the same per-frame operations; measured here
#: (same process): at most 4.5e-6 (direct, macro; float rounding of convolutions/BLAS on buffers of
#: another size and alignment), 0 for the crops and magnified crops. 1e-4 leaves 20x room and still
#: fails on a misplaced chunk: neighbouring frames of the result differ by 0.06-0.2.
TOLERANCE = 1e-4
FIELDS = ("result", "direct", "driving", "magnified_driving", "generated_macro")


@pytest.fixture(scope="module")
def clip():
    """10 frames at 128² of an AU12 program with a little head drift, and the source face."""
    program = sample_program(3, fps=30.0, aus=[12], amplitude_px=1.5, side=None, blink=False, noise_sigma=0.01,
                             onset_apex_ms=150.0, apex_offset_ms=150.0)
    return default_face(), render_program(program, second_face()).frames[:10]


def stream_collect(pipe: MagPipeline, source, frames, chunk_frames: int):
    collector = Collector()
    return collector.fill(pipe.stream(source, frames, collector, fps=30.0, chunk_frames=chunk_frames))


@pytest.mark.parametrize("options", [
    dict(demagnify="motion", alpha=4.0, keep_macro=True),
    dict(demagnify="image", alpha="auto", paste_back=True),
    dict(magnify=False),
], ids=["motion", "image-auto-paste", "direct"])
def test_stream_equals_whole_clip(clip, options):
    source, frames = clip
    pipe = MagPipeline(resolution=128, compute_direct=True, progress=False, **options)
    whole = pipe(source, frames, fps=30.0)
    # 10 frames in chunks of 4: two full chunks and a partial one.
    streamed = stream_collect(pipe, source, frames, chunk_frames=4)
    assert streamed.alpha == pytest.approx(whole.alpha, rel=1e-12)
    assert streamed.frames == whole.frames == 10
    for name in FIELDS + ("pasted",):
        a, b = getattr(whole, name), getattr(streamed, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert a.shape == b.shape, name
            assert float((a - b).abs().max()) < TOLERANCE, name
    if whole.motion_gain is not None:
        assert streamed.motion_gain.gain == pytest.approx(whole.motion_gain.gain, rel=1e-5)
    # A chunk written at the wrong place would not match: the result moves from frame to frame.
    assert float((whole.result[1:] - whole.result[:-1]).abs().max()) > 100 * TOLERANCE


def test_sampled_gain_pass_is_the_same_in_chunks_off_its_stride():
    """Without a direct result, the gain's direct pass takes every 8th frame of a 200-fps clip; chunks
    of 5 start off that grid, and must pick the same frames as the whole clip."""
    program = sample_program(3, fps=200.0, aus=[12], amplitude_px=1.5, side=None, blink=False, noise_sigma=0.01,
                             onset_apex_ms=80.0, apex_offset_ms=80.0)
    source, frames = default_face(), render_program(program, second_face()).frames[:33]
    pipe = MagPipeline(resolution=128, alpha=6.0, progress=False)
    whole = pipe(source, frames, fps=200.0)
    collector = Collector()
    streamed = collector.fill(pipe.stream(source, frames, collector, fps=200.0, chunk_frames=5))
    assert (whole.motion_gain.gain_stride, whole.motion_gain.gain_frames) == (8, 5)  # frames 0, 8, ..., 32
    assert (streamed.motion_gain.gain_stride, streamed.motion_gain.gain_frames) == (8, 5)
    assert np.isfinite(whole.motion_gain.raw_gain)
    assert streamed.motion_gain.raw_gain == pytest.approx(whole.motion_gain.raw_gain, rel=1e-6)
    assert float((whole.result - streamed.result).abs().max()) < TOLERANCE
    # With a direct result to show, the gain uses every frame.
    full = MagPipeline(resolution=128, alpha=6.0, compute_direct=True, progress=False)(source, frames, fps=200.0)
    assert (full.motion_gain.gain_stride, full.motion_gain.gain_frames) == (1, 33)


@pytest.fixture
def two_threads():
    """Two torch threads (the suite runs on one): the magnifier then overlaps the extractor."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def test_magnifying_in_pieces_beside_the_extractor_changes_nothing(clip, monkeypatch, two_threads):
    """The magnified clip goes to the extractor in pieces (a worker thread) while the next piece is
    magnified; with pieces of 3 frames the result equals the one-piece run."""
    import magplus.pipeline_stream as stream

    source, frames = clip
    pipe = MagPipeline(resolution=128, alpha=4.0, compute_direct=True, progress=False)
    monkeypatch.setattr(stream, "OVERLAP_FRAMES", 10_000)
    whole = pipe(source, frames, fps=30.0)
    monkeypatch.setattr(stream, "OVERLAP_FRAMES", 3)
    pieces = pipe(source, frames, fps=30.0)
    assert torch.equal(pieces.magnified_driving, whole.magnified_driving)
    assert pieces.motion_gain.raw_gain == pytest.approx(whole.motion_gain.raw_gain, rel=1e-9)
    assert float((pieces.result - whole.result).abs().max()) < TOLERANCE


def test_a_backbone_that_takes_the_whole_clip_gets_it_whole(clip, monkeypatch, two_threads):
    """A backbone without its own motion builder (MetaPortrait, EmoPortraits: tracking over the
    whole clip) must not see the magnified clip in pieces."""
    import magplus.pipeline_stream as stream

    class WholeClipOnly(LandmarkWarpBackbone):
        def motion_builder(self, fps=None):
            return None

        def extract_motion(self, frames, fps=None):
            lengths.append(len(frames))
            builder = LandmarkWarpBackbone.motion_builder(self, fps)
            builder.add(frames)
            return builder.finish()

    lengths: list[int] = []
    source, frames = clip
    monkeypatch.setattr(stream, "OVERLAP_FRAMES", 3)
    MagPipeline(backbone=WholeClipOnly(), resolution=128, alpha=4.0, compute_direct=True, progress=False)(
        source, frames, fps=30.0)
    assert lengths == [10, 10]  # the direct pass and the magnified pass, each whole


def test_an_extractor_error_in_the_worker_reaches_the_caller(clip, monkeypatch, two_threads):
    import threading

    import magplus.pipeline_stream as stream
    from magplus.backbones.landmark_warp import LandmarkTrackBuilder

    source, frames = clip
    calls = []
    original = LandmarkTrackBuilder.add

    def failing_add(self, piece):
        calls.append(threading.current_thread().name)
        if len(calls) == 2:
            raise InputError("no face in the magnified piece")
        original(self, piece)

    monkeypatch.setattr(stream, "OVERLAP_FRAMES", 4)
    monkeypatch.setattr(LandmarkTrackBuilder, "add", failing_add)
    before = threading.active_count()
    with pytest.raises(InputError, match="no face in the magnified piece"):
        MagPipeline(resolution=128, alpha=4.0, calibrate_gain=False, progress=False)(source, frames, fps=30.0)
    assert calls[0].startswith("magplus-extract") and len(calls) == 2  # it ran in the worker; the run stopped
    assert threading.active_count() == before  # and the worker is gone
    assert torch.get_num_threads() == 2  # the thread the worker borrowed is back


def test_the_direct_pass_runs_in_the_worker_and_its_error_reaches_the_caller(clip, monkeypatch, two_threads):
    import threading

    import magplus.pipeline_stream as stream
    from magplus.backbones.landmark_warp import LandmarkTrackBuilder

    source, frames = clip
    calls = []

    def failing_add(self, piece):
        calls.append((threading.current_thread().name, len(piece)))
        raise InputError("no face in the driving clip")

    monkeypatch.setattr(stream, "OVERLAP_FRAMES", 4)
    monkeypatch.setattr(LandmarkTrackBuilder, "add", failing_add)
    with pytest.raises(InputError, match="no face in the driving clip"):
        MagPipeline(resolution=128, alpha=4.0, progress=False)(source, frames, fps=30.0)
    assert calls[0][0].startswith("magplus-extract") and calls[0][1] == 10  # the whole direct pass, first


def test_landmark_builder_chunks_equal_whole_with_a_gap_at_a_chunk_start(clip):
    _, frames = clip
    frames = frames.clone()
    frames[4] = 0.0  # face-less frame that starts the second chunk of 4: bridged from both sides
    backbone = LandmarkWarpBackbone()
    with pytest.warns(UserWarning):
        whole = backbone.extract_motion(frames, fps=30.0)
    builder = backbone.motion_builder(fps=30.0)
    for start in range(0, 10, 4):
        builder.add(frames[start:start + 4])
    with pytest.warns(UserWarning):
        chunked = builder.finish()
    np.testing.assert_array_equal(chunked.points, whole.points)  # same detections, same bridging and smoothing


def test_alpha_statistics_over_chunks_equal_the_whole_clip():
    torch.manual_seed(0)
    flows = torch.randn(9, 2, 32, 32) * torch.linspace(0.1, 2.0, 9).view(-1, 1, 1, 1)
    flows[5] += torch.tensor([3.0, -1.0]).view(2, 1, 1)  # the rigid peak sits in the middle chunk
    pipe = MagPipeline(resolution=64, progress=False)
    mask = torch.zeros(32, 32)
    mask[8:24, 8:24] = 1
    alpha, amplitude = pipe.choose_alpha(flows, mask)
    stats = AlphaStats(pipe, mask)
    for start in range(0, 9, 4):
        stats.add(flows[start:start + 4])
    chunked_alpha, chunked = stats.result()
    assert chunked_alpha == alpha
    assert torch.equal(chunked.curve, amplitude.curve) and chunked.peak_frame == amplitude.peak_frame
    assert torch.equal(chunked.local_curve, amplitude.local_curve)


def test_motion_concat_joins_chunks():
    points = np.random.default_rng(0).normal(size=(7, 5, 2)).astype(np.float32)
    motion = LandmarkMotion(points)
    joined = LandmarkMotion.concat([motion.select(slice(0, 3)), motion.select(slice(3, 7))])
    np.testing.assert_array_equal(joined.points, points)
    fomm = FOMMMotion(torch.randn(6, 10, 2), torch.randn(6, 10, 2, 2))
    joined = FOMMMotion.concat([fomm.select(slice(0, 2)), fomm.select(slice(2, 6))])
    assert torch.equal(joined.value, fomm.value) and torch.equal(joined.jacobian, fomm.jacobian)


def test_stream_from_a_reader_range_writes_the_whole_clip_result(clip, tmp_path):
    source, frames = clip
    folder = tmp_path / "driving"
    write_video(folder, frames, fps=30.0)  # PNG folder: exact frames
    pipe = MagPipeline(resolution=128, alpha=3.0, compute_direct=True, progress=False)
    whole = pipe(source, frames[2:9], fps=30.0)
    out, side = tmp_path / "out.mkv", tmp_path / "side.mkv"
    with VideoSink(out, fps=30.0, lossless=True, side_by_side=side) as sink:
        result = pipe.stream(source, ClipFrames(VideoReader(folder), 2, 9, chunk_frames=3), sink)
    assert result.result is None and result.frames == 7 and sink.frames_written == 7
    with VideoReader(out) as reader:
        written = reader.read()
    assert written.shape == whole.result.shape
    # The lossless file holds the result rounded to 8 bits.
    assert float((written - whole.result).abs().max()) < TOLERANCE + 0.5 / 255
    assert len(VideoReader(side)) == 7


def test_bad_inputs_fail_before_any_work(clip, tmp_path):
    source, frames = clip

    class Recorder:
        needs_inputs = False
        writes = 0

        def write(self, start, part):
            Recorder.writes += 1

    smoothing = MagPipeline(magnifier=LagrangianMagnifier(temporal_sigma_s=0.02), progress=False)
    with pytest.raises(InputError, match="mixes frames over time"):
        smoothing.stream(source, frames, Recorder())
    with pytest.raises(InputError, match="mixes frames over time"):
        MagPipeline(magnifier=EulerianMagnifier(temporal_filter="bandpass"), progress=False).stream(
            source, frames, Recorder())
    pipe = MagPipeline(progress=False)
    with pytest.raises(InputError, match="at least 2"):
        pipe.stream(source, frames[:1], Recorder())
    with pytest.raises(InputError, match="chunk_frames"):
        pipe.stream(source, frames, Recorder(), chunk_frames=0)
    with pytest.raises(InputError, match="sink"):
        pipe.stream(source, frames, object())
    with pytest.raises(InputError, match="frames must be"):
        pipe.stream(source, "clip.mp4", Recorder())
    with pytest.raises(InputError, match="compute_direct"):
        pipe.stream(source, frames, VideoSink(tmp_path / "o.mp4", fps=30.0, side_by_side=tmp_path / "s.mp4"))
    assert Recorder.writes == 0 and not list(tmp_path.iterdir())
    # The whole-clip pipeline still takes the temporal filter.
    assert smoothing.streaming_refusal() is not None and MagPipeline(progress=False).streaming_refusal() is None


def test_reenact_streams_and_writes_the_whole_clip_result(clip, tmp_path):
    import json
    import subprocess
    import sys

    from magplus.io import read_image, read_video, write_image

    source, frames = clip
    write_image(tmp_path / "face.png", source)
    write_video(tmp_path / "drive.mkv", frames, fps=30.0, lossless=True)  # exact frames for both runs
    out, report = tmp_path / "out.mkv", tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "magplus", "reenact", "--source", str(tmp_path / "face.png"),
                           "--driving", str(tmp_path / "drive.mkv"), "-o", str(out), "--lossless", "--alpha", "3",
                           "--resolution", "128", "--report", str(report)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(report.read_text())
    assert summary["streamed"] is True and summary["frames"] == 10
    whole = MagPipeline(resolution=128, alpha=3.0, progress=False)(read_image(tmp_path / "face.png"),
                                                                 read_video(tmp_path / "drive.mkv").frames, fps=30.0)
    written = read_video(out).frames
    assert written.shape == whole.result.shape
    assert float((written - whole.result).abs().max()) < TOLERANCE + 0.5 / 255


def test_chunks_read_and_written_in_bounded_pieces(clip):
    from magplus.pipeline_stream import READ_FRAMES

    source, frames = clip

    class Reader:  # a lazy reader over a tensor that records what is asked of it
        fps, reads = 30.0, []

        def __len__(self):
            return len(frames)

        def read(self, start, stop):
            Reader.reads.append((start, stop))
            return frames[start:stop]

    class Recorder:
        needs_inputs, chunks = False, []

        def write(self, start, part):
            Recorder.chunks.append((start, len(part.result)))

    MagPipeline(resolution=128, alpha=2.0, progress=False).stream(source, ClipFrames(Reader(), 1, 10, chunk_frames=4),
                                                                   Recorder())
    assert Recorder.chunks == [(0, 4), (4, 4), (8, 1)]  # frames 1..9 of the reader, relative to the range
    assert all(0 < stop - start <= READ_FRAMES and 1 <= start and stop <= 10 for start, stop in Reader.reads)
