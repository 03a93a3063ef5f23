"""MagPipeline in chunks: memory flat in clip length.

One mechanism runs every MagPipeline clip, pass by pass over chunks of frames:

1. **alpha** (automatic α only): the flow onset -> frame of each chunk; only per-frame statistics
   are kept (non-rigid amplitude; rigid peak when the run is not stabilised), so α is the whole clip's.
2. **motion**: each chunk's head translation (``(t, 2)``, kept for the whole clip) is taken out of
   its magnified crops (a stabilised run); its driving crops and magnified crops go to the backbone's
   :class:`~magplus.backbones.base.MotionBuilder`; the motions (a few hundred numbers per frame)
   are kept whole, so clip-level steps (landmark gap bridging, smoothing over time) and the
   motion-space gain see the whole clip. When the direct pass only measures the gain, it takes
   one frame in :func:`~magplus.magnify.motion_space.gain_stride`; the magnified crops are made
   piece by piece while a worker thread extracts the previous piece's motion.
3. **render**: each chunk is rendered (result, direct, macro), de-magnified in image space
   relative to the generated onset frame when that path is used (then moved by the head
   translation; the motion-space path has it in the motion already), pasted back, and handed to a
   sink (:class:`Collector` or :class:`VideoSink`).

A clip in memory (``MagPipeline.__call__``) is one chunk whose crops, flows and magnified frames
are computed once and kept (:meth:`ClipFrames.whole`). A lazily read clip
(``MagPipeline.stream``) is cut into chunks of :data:`CHUNK_FRAMES`; nothing frame-sized
outlives its chunk, and crops, flows and magnified frames are recomputed in each pass that needs
them. Per-frame stages make the two identical up to float rounding.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator

import numpy as np
import torch

from .backbones.base import MotionBuilder
from .context import clip_context, clip_label
from .errors import InputError, VideoReadError

#: Frames per chunk of a streamed clip: large enough for batched stages, small enough that a
#: chunk's crops, flows and magnified frames stay within a few hundred MB at 256-512 px.
CHUNK_FRAMES = 64
#: Full-size frames read (and cropped) at once: a 640x640 float frame is 4.9 MB.
READ_FRAMES = 8
#: Frames magnified at once while the previous ones go through the backbone's extractor in a
#: worker thread (:meth:`PipelineRun._magnify_and_extract`). The magnifier works in batches of 8
#: anyway (lagrangian.MAGNIFY_CHUNK), so a small piece costs it nothing, and the worker starts
#: sooner and has less left when magnification ends. Measured in one process (best of 6 / 6 / 2,
#: MagPlus over direct at 50 / 200 / 1000 frames of 256²): 1.29 / 1.30 / 1.49 with 8, 1.38 / 1.37
#: with 16, 1.45 / 1.43 / 1.54 with 32; the frames are the same whatever the piece.
OVERLAP_FRAMES = 8


class ClipFrames:
    """The driving clip as the pipeline's passes see it: frames ``start .. stop-1`` in chunks.

    Args:
        source: a :class:`~magplus.io.video.VideoReader` (read lazily) or frames ``(T, 3, H, W)``.
        start, stop: frame range of ``source`` (None: its ends).
        chunk_frames: frames per chunk.
        keep: one chunk whose products are kept across passes (a clip already in memory).

    Attributes:
        fps: the reader's frame rate (None for a tensor).
    """

    def __init__(self, source: Any, start: int | None = None, stop: int | None = None,
                 chunk_frames: int = CHUNK_FRAMES, keep: bool = False):
        if isinstance(chunk_frames, bool) or not isinstance(chunk_frames, int) or chunk_frames < 1:
            raise InputError(f"chunk_frames must be a whole number >= 1, got {chunk_frames!r}.")
        if isinstance(source, torch.Tensor):
            from .types import check_frames

            check_frames(source, "driving frames")
        elif not (hasattr(source, "read") and hasattr(source, "__len__")):
            raise InputError(f"frames must be a VideoReader or (T, 3, H, W) frames, got {type(source).__name__}.")
        length = len(source)
        self.start = 0 if start is None else int(start)
        self.stop = length if stop is None else int(stop)
        if not 0 <= self.start < self.stop <= length:
            raise InputError(f"frame range {self.start}..{self.stop} is outside a clip of {length} frames.")
        self.source, self.chunk_frames, self.keep = source, int(chunk_frames), bool(keep)
        self.fps = getattr(source, "fps", None)
        self._in_memory = isinstance(source, torch.Tensor)

    @classmethod
    def whole(cls, frames: torch.Tensor) -> "ClipFrames":
        """A clip in memory as one kept chunk (``MagPipeline.__call__``)."""
        return cls(frames, chunk_frames=max(1, len(frames)), keep=True)

    def __len__(self) -> int:
        return self.stop - self.start

    def spans(self) -> list[tuple[int, int]]:
        """``(first, stop)`` of each chunk, relative to the range."""
        return [(a, min(a + self.chunk_frames, len(self))) for a in range(0, len(self), self.chunk_frames)]

    def read(self, first: int, stop: int) -> Iterator[torch.Tensor]:
        """Frames ``first .. stop-1`` of the range, :data:`READ_FRAMES` at a time (a tensor: at once, as a view)."""
        if self._in_memory:
            yield self.source[self.start + first:self.start + stop]
            return
        for a in range(first, stop, READ_FRAMES):
            b = min(a + READ_FRAMES, stop)
            frames = self.source.read(self.start + a, self.start + b)
            if len(frames) != b - a:
                raise VideoReadError(f"{clip_label()} ended at frame {self.start + a + len(frames)} although its header "
                                     f"counts {len(self.source)}; the file may be truncated.")
            yield frames

    def first(self) -> torch.Tensor:
        """Frame 0 of the range (the onset) ``(3, H, W)``."""
        return next(self.read(0, 1))[0]


class StageClock:
    """Seconds per stage into ``timings``; a stage entered inside another pauses the outer one."""

    def __init__(self, timings: dict[str, float]):
        self.timings = timings
        self._stack: list[list] = []

    @contextlib.contextmanager
    def __call__(self, name: str):
        now = time.perf_counter()
        if self._stack:
            self._charge(now)
        self._stack.append([name, now])
        try:
            yield
        finally:
            self._charge(time.perf_counter())
            self._stack.pop()
            if self._stack:
                self._stack[-1][1] = time.perf_counter()

    def _charge(self, now: float) -> None:
        name, since = self._stack[-1]
        self.timings[name] = self.timings.get(name, 0.0) + now - since
        self._stack[-1][1] = now


class AlphaStats:
    """Automatic α from per-frame statistics gathered chunk by chunk (no flow is kept).

    Gives exactly :meth:`MagPipeline.choose_alpha` on the whole clip: the amplitude curves (the
    clip's and the local one) are per frame, and the rigid limit of the clip is the smallest limit
    of its chunks.
    """

    def __init__(self, pipeline: Any, mask: torch.Tensor | None):
        self.pipeline, self.mask = pipeline, mask
        self._curves: list[torch.Tensor] = []
        self._local_curves: list[torch.Tensor] = []
        self._limit = float("inf")

    def add(self, flows: torch.Tensor) -> torch.Tensor:
        """Take the flows ``(t, 2, S, S)`` onset -> each frame of the next chunk; returns their rigid
        translation ``(t, 2)`` (:func:`~magplus.magnify.alpha.rigid_translation`, measured on the way)."""
        from .magnify.alpha import measure_amplitude, rigid_alpha_limit

        p = self.pipeline
        amplitude = measure_amplitude(flows, self.mask)
        self._curves.append(amplitude.curve)
        self._local_curves.append(amplitude.local_curve)
        if not p.stabilise:  # a stabilised run does not magnify the head motion
            self._limit = min(self._limit, rigid_alpha_limit(flows, self.mask, p.max_rigid_px * p.resolution / 256.0))
        return amplitude.rigid

    def result(self):
        """``(alpha, MotionAmplitude)`` of every frame added."""
        from .magnify.alpha import MotionAmplitude, choose_alpha

        p = self.pipeline
        amplitude = MotionAmplitude.from_curve(torch.cat(self._curves), torch.cat(self._local_curves))
        alpha = choose_alpha(amplitude.peak, p.target_amplitude, p.alpha_max, resolution=p.resolution,
                             local_peak_px=amplitude.local_peak, max_local_ratio=p.max_local_ratio)
        return float(max(1.0, min(alpha, self._limit))), amplitude


class Collector:
    """Sink that keeps every chunk and fills a :class:`~magplus.pipeline.PipelineResult` (whole-clip runs)."""

    needs_inputs = True  # the result holds the driving and magnified crops too
    FIELDS = ("result", "driving", "magnified_driving", "generated_macro", "direct", "pasted")

    def __init__(self):
        self._parts: dict[str, list[torch.Tensor]] = {name: [] for name in self.FIELDS}

    def write(self, start: int, part: Any) -> None:
        for name in self.FIELDS:
            value = getattr(part, name)
            if value is not None:
                self._parts[name].append(value)

    def fill(self, out: Any) -> Any:
        """Set the frame fields of ``out`` from the chunks written (one chunk: no copy)."""
        for name, parts in self._parts.items():
            if parts:
                setattr(out, name, parts[0] if len(parts) == 1 else torch.cat(parts))
        return out


class VideoSink:
    """Sink that writes the final frames (pasted back when the pipeline pastes) chunk by chunk
    through atomic :class:`~magplus.io.video_writer.VideoWriter`\\ s, and optionally the
    side-by-side ``driving | magnified | direct | MagPlus``; use it as a context manager.

    Args:
        output: the result video (any format of :func:`~magplus.io.write_video`).
        fps: frames per second.
        lossless: exact codecs.
        side_by_side: path of the side-by-side video, or None (the pipeline then needs
            ``compute_direct=True``).
    """

    def __init__(self, output: Any, fps: float, lossless: bool = False, side_by_side: Any = None):
        from .io.video_writer import VideoWriter

        self._writers = [VideoWriter(output, fps=fps, lossless=lossless)]
        if side_by_side is not None:
            self._writers.append(VideoWriter(side_by_side, fps=fps, lossless=lossless))
        self.needs_inputs = side_by_side is not None
        self.frames_written = 0
        self._stack: contextlib.ExitStack | None = None

    def __enter__(self) -> "VideoSink":
        with contextlib.ExitStack() as stack:
            for writer in self._writers:
                stack.enter_context(writer)
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc: Any) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.__exit__(*exc)

    def write(self, start: int, part: Any) -> None:
        if self._stack is None:
            raise InputError("VideoSink.write was called outside 'with VideoSink(...)'; open it first.")
        self._writers[0].write(part.pasted if part.pasted is not None else part.result)
        if self.needs_inputs:
            from .io import side_by_side
            from .io.grid import pipeline_comparison

            self._writers[1].write(side_by_side(*pipeline_comparison(part)))
        self.frames_written += len(part.result)


def _select(motion: Any, first: int, stop: int) -> Any:
    """Frames ``first .. stop-1`` of a motion (a Motion or a backbone's per-frame array)."""
    from .backbones.motion import Motion

    if first == 0 and stop == len(motion):
        return motion
    return motion.select(slice(first, stop)) if isinstance(motion, Motion) else motion[first:stop]


def _reference(motion: Any) -> Any:
    """The onset frame's motion, rendered against by every chunk (None: the backbone's frame 0,
    for motions that are not a :class:`~magplus.backbones.motion.Motion`, which run as one chunk)."""
    from .backbones.motion import Motion

    return motion.reference(0) if isinstance(motion, Motion) and not motion.relative else None


class _WholeClipBuilder(MotionBuilder):
    """The builder of a backbone without its own (``motion_builder()`` is None). Such a backbone
    tracks over the whole clip (MetaPortrait, EmoPortraits), so the pipeline never gives it pieces."""


class _Chunk:
    """Frames ``first .. stop-1`` in one pass; what it computes is cached on it (a kept chunk: across passes)."""

    def __init__(self, run: "PipelineRun", first: int, stop: int):
        self.run, self.first, self.stop = run, first, stop
        self._cache: dict[str, Any] = {}

    def _get(self, key: str, compute) -> Any:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def remember(self, key: str, value: Any) -> None:
        """Keep ``value`` as what ``key`` would compute (a product another pass measured already)."""
        self._cache.setdefault(key, value)

    def crops(self) -> torch.Tensor:
        """Driving face crops ``(t, 3, S, S)`` (fixed onset box)."""
        def compute():
            with self.run.clock("crop"):
                parts = [self.run.pipeline.crop_with(frames, self.run.box)
                         for frames in self.run.clip.read(self.first, self.stop)]
                return parts[0] if len(parts) == 1 else torch.cat(parts)
        return self._get("crops", compute)

    def flows(self) -> torch.Tensor | None:
        """The magnifier's own flows onset -> each frame (None for magnifiers without flow)."""
        return self._get("flows", lambda: self.run.pipeline.magnifier.clip_flows(self.run.ref, self.crops()))

    def alpha_flows(self) -> torch.Tensor:
        """Flows for automatic α: the magnifier's, else DIS."""
        from .flow.clip import clip_flows

        flows = self.flows()
        return flows if flows is not None else self._get("dis_flows", lambda: clip_flows(self.crops(), self.run.ref))

    def head_shift(self) -> torch.Tensor | None:
        """The head's translation in each frame ``(t, 2)`` pixels (the median flow inside the face
        mask, :func:`~magplus.magnify.alpha.rigid_translation`), or None when the run is not stabilised."""
        from .magnify.alpha import rigid_translation

        if not self.run.stabilise:
            return None
        return self._get("head_shift", lambda: rigid_translation(self.alpha_flows(), self.run.mask).float())

    def magnified(self) -> torch.Tensor:
        """The crops magnified by α ``(t, 3, S, S)``."""
        return self._get("magnified", lambda: self.magnify(0, self.stop - self.first))

    def magnify(self, a: int, b: int) -> torch.Tensor:
        """Crops ``a .. b-1`` of the chunk magnified by α (not cached; a frame-by-frame magnifier
        gives the same frames as :meth:`magnified`)."""
        run, flows, head = self.run, self.flows(), self.head_shift()
        with run.clock("magnify"):
            return run.pipeline.magnifier(run.ref, self.crops()[a:b], run.alpha, run.mask, fps=run.fps,
                                          flows=None if flows is None else flows[a:b],
                                          head_shift=None if head is None else head[a:b])


class PipelineRun:
    """One MagPipeline run over a :class:`ClipFrames`, pass by pass (see the module docstring)."""

    def __init__(self, pipeline: Any, clip: ClipFrames, fps: float):
        self.pipeline, self.clip, self.fps = pipeline, clip, float(fps)
        self.timings: dict[str, float] = {}
        self.clock = StageClock(self.timings)
        self.alpha = 1.0
        #: Head motion taken out before magnifying and put back after (set once α is known: at
        #: α = 1 nothing is magnified, and the run is direct transfer bit for bit).
        self.stabilise = False
        self.head_shift: torch.Tensor | None = None
        self._kept: list[_Chunk] | None = None

    def chunks(self) -> Iterator[_Chunk]:
        if not self.clip.keep:
            return (_Chunk(self, a, b) for a, b in self.clip.spans())
        if self._kept is None:
            self._kept = [_Chunk(self, a, b) for a, b in self.clip.spans()]
        return iter(self._kept)

    def __call__(self, source_img: torch.Tensor, sink: Any) -> Any:
        """Run every pass; frames go to ``sink``; returns the PipelineResult (frame fields left None)."""
        out = self._setup(source_img)
        if self.pipeline.magnify:
            self._choose_alpha(out)
            self.stabilise = self.pipeline.stabilise and self.alpha != 1.0
        self._extract_motions(out)
        self._render(out, source_img, sink)
        return out

    def _setup(self, source_img: torch.Tensor) -> Any:
        from .pipeline import PipelineResult

        p = self.pipeline
        with self.clock("crop"):
            source, source_box, self.source_lm = p.crop_faces(source_img[None], "the source image")
            ref, self.box, driving_lm = p.crop_faces(self.clip.first()[None], f"frame 0 (onset) of {clip_label()}")
        self.ref = ref[0]
        with self.clock("backbone_prepare"):
            self.source_state = p.backbone.prepare_source(source[0])
        self.mask = p.mask_for(driving_lm) if p.magnify else None
        return PipelineResult(result=None, source=source[0], driving=None, alpha=1.0, fps=self.fps, timings=self.timings,
                              boxes={"source": source_box, "driving": self.box}, frames=len(self.clip))

    def _choose_alpha(self, out: Any) -> None:
        p = self.pipeline
        if p.alpha != "auto":
            self.alpha = out.alpha = float(p.alpha)
            return
        stats = AlphaStats(p, self.mask)
        for chunk in self.chunks():
            with self.clock("alpha"):
                # The alpha pass measures the head's translation anyway: a kept chunk reuses it.
                chunk.remember("head_shift", stats.add(chunk.alpha_flows()).float())
        out.alpha, out.amplitude = stats.result()
        self.alpha = out.alpha

    def _builder(self):
        """The backbone's motion builder, or one that takes the clip whole (:class:`_WholeClipBuilder`)."""
        backbone = self.pipeline.backbone
        # A backbone without a builder runs only as one chunk (MagPipeline.streaming_refusal).
        return backbone.motion_builder() or _WholeClipBuilder(backbone.extract_motion)

    def _extract_motions(self, out: Any) -> None:
        from .magnify.motion_space import gain_stride

        p = self.pipeline
        full_direct = p.compute_direct or not p.magnify
        # At α = 1 there is no gain to measure (motion_space.demagnify_motion): no pass for it.
        calibrate = p.magnify and p.demagnify == "motion" and p.calibrate_gain and self.alpha != 1.0
        # Without a direct result to render, the direct pass only measures the gain (one number),
        # so it looks at every k-th frame; with one, the gain uses all of its frames.
        stride = 1 if full_direct else gain_stride(self.fps)
        direct = self._builder() if full_direct or calibrate else None
        direct_label = clip_label() if stride == 1 else f"one frame in {stride} of {clip_label()} (gain calibration)"

        def direct_context():  # messages and frame rate of the direct pass (of the sampled frames, when sampled)
            return clip_context(direct_label, fps=self.fps / stride)
        magnified = self._builder() if p.magnify else None
        magnified_label = f"the magnified {clip_label()}"
        shifts = []
        for chunk in self.chunks():
            # The chunk's frames at clip indices that are multiples of the stride (a short chunk may have none).
            offset = (-chunk.first) % stride
            direct_pass = None
            if direct is not None and offset < chunk.stop - chunk.first:
                def direct_pass(frames=chunk.crops()[offset::stride]):
                    with direct_context():
                        direct.add(frames)
            if magnified is not None:
                if self.stabilise:
                    with self.clock("magnify"):
                        shifts.append(chunk.head_shift())
                with clip_context(magnified_label):
                    self._magnify_and_extract(chunk, magnified, before=direct_pass)
            elif direct_pass is not None:
                with self.clock("backbone_direct"):
                    direct_pass()
        self.direct_motion = self.magnified_motion = self.result_motion = None
        if direct is not None:
            with self.clock("backbone_direct"), direct_context():
                self.direct_motion = direct.finish()
        if magnified is None:
            return
        with self.clock("backbone_magnified"), clip_context(magnified_label):
            self.magnified_motion = magnified.finish()
        out.demagnify_path = p.demagnify
        if shifts:
            self.head_shift = torch.cat(shifts)
            out.head_shift = self.head_shift.numpy().astype(np.float64)
        if p.demagnify == "motion":
            from .magnify.motion_space import demagnify_motion

            with self.clock("demagnify"):
                self.result_motion, out.motion_gain = demagnify_motion(
                    self.magnified_motion, self.alpha, self.direct_motion if calibrate else None, stride,
                    head_shift=out.head_shift, size=p.resolution)

    def _magnify_and_extract(self, chunk: _Chunk, builder: Any, before: Any = None) -> None:
        """Magnify ``chunk`` and hand the magnified frames to the backbone's motion ``builder``,
        after running ``before`` (the chunk's direct pass, or None) on the same extractor.

        With more than one torch thread, a magnifier that works frame by frame and a builder that
        takes a clip in pieces (not a :class:`_WholeClipBuilder`), the two overlap
        (:meth:`_magnify_beside_extraction`); otherwise they run one after the other.
        """
        run = self.pipeline
        if (torch.get_num_threads() >= 2 and "magnified" not in chunk._cache and not isinstance(builder, _WholeClipBuilder)
                and getattr(run.magnifier, "frame_by_frame", False)):
            self._magnify_beside_extraction(chunk, builder, before)
            return
        if before is not None:
            with self.clock("backbone_direct"):
                before()
        frames = chunk.magnified()
        with self.clock("backbone_magnified"):
            builder.add(frames)

    def _magnify_beside_extraction(self, chunk: _Chunk, builder: Any, before: Any) -> None:
        """The chunk is magnified in pieces of :data:`OVERLAP_FRAMES` while a worker thread runs
        ``before`` and then gives each finished piece to ``builder``.

        Both stages are core-bound (MediaPipe runs on one core), so an extractor on the CPU takes
        its core from the torch threads rather than competing for them (measured at 200 frames of
        256²: the two stages 2.8 s one after the other, 2.9 s side by side with all threads, 2.0 s
        with one thread handed over). The direct pass goes to the worker first, so it runs while
        the first piece is magnified. The stage clock counts the wait for the worker as
        ``backbone_magnified``; extraction hidden behind magnification is not counted (nor, then,
        the direct pass as ``backbone_direct``).
        """
        import contextvars
        from concurrent.futures import ThreadPoolExecutor

        threads = torch.get_num_threads()
        # An extractor on a GPU needs no CPU core of its own: the magnifier keeps all of them.
        lend = 1 if self.pipeline.backbone.extraction_device.type == "cpu" else 0
        length = chunk.stop - chunk.first
        pieces: list[torch.Tensor] = []
        torch.set_num_threads(threads - lend)
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="magplus-extract") as worker:
                # Context variables (the clip's label and rate) do not cross threads: each task runs
                # in a copy. The one worker runs its tasks in the order they were given.
                first = None if before is None else worker.submit(contextvars.copy_context().run, before)
                pending = None
                for a in range(0, length, OVERLAP_FRAMES):
                    pieces.append(chunk.magnify(a, min(a + OVERLAP_FRAMES, length)))
                    if first is not None and first.done():
                        first.result()  # a failed direct pass stops the run here
                    if pending is not None:
                        with self.clock("backbone_magnified"):
                            pending.result()  # at most one piece waits: a failure stops the run early
                    pending = worker.submit(contextvars.copy_context().run, builder.add, pieces[-1])
                with self.clock("backbone_magnified"):
                    for task in (first, pending):
                        if task is not None:
                            task.result()
        finally:
            torch.set_num_threads(threads)
        chunk._cache["magnified"] = pieces[0] if len(pieces) == 1 else torch.cat(pieces)

    def _render(self, out: Any, source_img: torch.Tensor, sink: Any) -> None:
        p = self.pipeline
        paste = p.paste_back and out.boxes.get("source") is not None
        source_mask = p.mask_for(self.source_lm) if p.demagnify_mask else None
        references = {name: _reference(getattr(self, f"{name}_motion")) for name in ("direct", "magnified", "result")}
        macro_ref = None
        with contextlib.ExitStack() as bars:
            def render(name: str, label: str, chunk: _Chunk) -> torch.Tensor:
                if label not in bar:
                    bar[label] = bars.enter_context(p._bar(len(self.clip), label))
                motion = _select(getattr(self, f"{name}_motion"), chunk.first, chunk.stop)
                return p.render(self.source_state, motion, label, reference=references[name], bar=bar[label])

            bar: dict[str, Any] = {}
            for chunk in self.chunks():
                part = _part(out)
                if p.compute_direct or not p.magnify:
                    with self.clock("backbone_direct"):
                        part.direct = render("direct", "direct", chunk)
                if not p.magnify:
                    part.result = part.direct
                elif p.demagnify == "motion":
                    if p.keep_macro:
                        with self.clock("backbone_magnified"):
                            part.generated_macro = render("magnified", "magnified", chunk)
                    with self.clock("demagnify"):
                        part.result = render("result", "de-magnified", chunk)
                else:
                    with self.clock("backbone_magnified"):
                        part.generated_macro = render("magnified", "magnified", chunk)
                    # Image-space de-magnification is relative to the generated onset frame.
                    macro_ref = part.generated_macro[0] if macro_ref is None else macro_ref
                    with self.clock("demagnify"):
                        part.result = p.demagnifier(macro_ref, part.generated_macro, 1.0 / self.alpha, source_mask,
                                                    fps=self.fps)
                        if self.head_shift is not None:  # the head motion taken out before magnifying
                            from .ops.warp import shift_frames

                            part.result = shift_frames(part.result, self.head_shift[chunk.first:chunk.stop])
                if sink.needs_inputs:
                    part.driving = chunk.crops()
                    part.magnified_driving = chunk.magnified() if p.magnify else None
                if paste:
                    from .face.crop import paste_back

                    with self.clock("paste_back"):
                        full = source_img[None].expand(part.result.shape[0], -1, -1, -1)
                        part.pasted = paste_back(full, part.result, out.boxes["source"])
                sink.write(chunk.first, part)


def _part(out: Any) -> Any:
    """An empty PipelineResult for one chunk's frames, sharing the run's α, boxes and source."""
    from dataclasses import replace

    return replace(out, result=None, driving=None, timings={}, frames=0)
