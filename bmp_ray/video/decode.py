"""Decode frames as uint8 RGB batches with their source frame index and presentation time.

Two backends give the same frames for the same request (same indices and timestamps; pixels equal
or within the tolerance documented in the README, as both convert YUV to RGB with swscale but their
FFmpeg builds differ):

* ``pyav`` (default): streams packets with frame-threaded decoding; converts to RGB only the frames
  the sampling keeps; a corrupt packet or frame in the middle is reported in ``problems`` (and
  logged) and skipped, the rest of the video still decodes.
* ``decord``: random access by index; reads remote objects into memory first.

Rotation from the container's display matrix is applied (``autorotate``) the way players show it.
PyAV is imported on first use (here and in ``probe``), so that ``bmp_ray.video``, and the run config
that checks its rules, load where PyAV is absent (the GPU benchmark's machine).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import sys
import threading
from typing import TYPE_CHECKING, Iterator

import numpy as np

from bmp_ray.errors import VideoError
from bmp_ray.fs import is_url, read_bytes
from bmp_ray.settings import check, is_int
from bmp_ray.video.ffmpeg_log import decoder_errors
from bmp_ray.video.probe import (
    VideoInfo,
    describe,
    frame_times,
    open_container,
    open_image,
    probe,
    rotation_of,
)
from bmp_ray.video.sampling import Sampler, Sampling
from bmp_ray.video.sources import Source

if TYPE_CHECKING:
    import av

log = logging.getLogger(__name__)
BACKENDS = ("pyav", "decord")


def check_reader(backend: str, batch_size: int, prefix: str = "") -> None:
    """The rules of a reader's ``backend`` and ``batch_size``, checked here only: by ``FrameReader`` and
    by the run config's ``[decode]`` section (``prefix`` "decode."). Raises ``ConfigError``."""
    check(backend in BACKENDS, f"{prefix}backend", " or ".join(map(repr, BACKENDS)), backend)
    check(is_int(batch_size) and batch_size >= 1, f"{prefix}batch_size", "an integer >= 1", batch_size)


@dataclasses.dataclass(frozen=True)
class FrameBatch:
    """Consecutive kept frames of one video.

    Attributes:
        video_id: id of the source (see :class:`~bmp_ray.video.sources.Source`).
        frames: (B, H, W, 3) uint8, RGB, rotation applied.
        frame_index: (B,) int64, index of each frame in the source video (presentation order).
        pts_s: (B,) float64, presentation time in seconds.
    """

    video_id: str
    frames: np.ndarray
    frame_index: np.ndarray
    pts_s: np.ndarray

    def __post_init__(self):
        f = self.frames
        if f.dtype != np.uint8 or f.ndim != 4 or f.shape[-1] != 3:
            raise ValueError(f"FrameBatch.frames must be (B, H, W, 3) uint8, got {f.shape} {f.dtype}")
        b = f.shape[0]
        for name in ("frame_index", "pts_s"):
            a = getattr(self, name)
            if a.shape != (b,):
                raise ValueError(f"FrameBatch.{name} must have shape ({b},), got {a.shape}")

    def __len__(self) -> int:
        return self.frames.shape[0]


def _rotate(img: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate (H, W, 3) clockwise by ``rotation`` degrees (a multiple of 90)."""
    return np.ascontiguousarray(np.rot90(img, k=-(rotation // 90))) if rotation else img


class _BufferPool:
    """Batch buffers reused once every batch made from them has been dropped.

    A 1080p batch of 16 frames is 100 MB: glibc serves it with a fresh ``mmap``, so every new buffer
    costs a page fault and kernel zeroing per 4 KiB, about 0.4 ms per 1080p frame, which is 15 % of
    decoding it. Reusing a released buffer avoids that. A buffer is free when nothing but the pool
    references it (CPython reference count); a batch still held anywhere is never overwritten. At most
    ``per_shape`` buffers per shape (two: a ``for batch in reader`` loop holds the previous batch while
    the next is filled) and ``shapes`` shapes are kept.
    """

    def __init__(self, per_shape: int = 2, shapes: int = 4):
        self.per_shape, self.shapes = per_shape, shapes
        self._free: dict[tuple, list[np.ndarray]] = {}
        self._lock = threading.Lock()

    def get(self, shape: tuple) -> np.ndarray:
        with self._lock:
            bufs = self._free.pop(shape, [])
            self._free[shape] = bufs  # most recently used shape last
            for buf in bufs:
                # references: the list, the loop name, getrefcount's argument; a live batch adds more
                if sys.getrefcount(buf) == 3:
                    return buf
            buf = np.empty(shape, np.uint8)
            bufs.insert(0, buf)
            del bufs[self.per_shape :]
            while len(self._free) > self.shapes:
                self._free.pop(next(iter(self._free)))
            return buf


_POOL = _BufferPool()


def _rgb_view(frame: "av.VideoFrame") -> np.ndarray:
    """(H, W, 3) uint8 RGB view of the converted frame's own buffer (no copy beyond swscale's).

    swscale runs single-threaded: PyAV's default (automatic slice threads) was 24 % slower per 1080p
    frame here while the decoder's frame threads keep the cores busy (README, decode benchmark), and
    the output is bit-identical.
    """
    rgb = frame.reformat(format="rgb24", threads=1)
    plane = rgb.planes[0]
    rows = np.frombuffer(plane, np.uint8).reshape(rgb.height, plane.line_size)
    return rows[:, : rgb.width * 3].reshape(rgb.height, rgb.width, 3)


class FrameReader:
    """Iterate over the kept frames of one input in :class:`FrameBatch` es.

    Args:
        source: a :class:`Source`, or a path / URL (its ``video_id`` is then the file name).
        backend: ``"pyav"`` or ``"decord"``.
        sampling: frame range and stride or target rate.
        batch_size: frames per batch (the last batch may be shorter).
        threads: decoder threads (0: FFmpeg's choice).
        autorotate: apply the container's display rotation.
        skip_corrupt: drop frames FFmpeg flags as corrupt (concealed) instead of passing them on.

    After iteration, ``problems`` lists what was wrong (corrupt packets, fewer frames than the header
    said), ``frames_decoded`` counts the frames kept and ``frames_skipped`` those dropped as corrupt.
    Opening errors raise :class:`VideoError`.

    With the ``pyav`` backend the container opened here is the one decoded (no second open), and the
    rotation is read from each decoded frame's display matrix, so ``info.rotation`` is filled in once
    the first frame is decoded. Batch buffers come from a process-wide pool (see ``_BufferPool``).
    """

    def __init__(
        self,
        source: Source | str,
        *,
        backend: str = "pyav",
        sampling: Sampling = Sampling(),
        batch_size: int = 16,
        threads: int = 0,
        autorotate: bool = True,
        skip_corrupt: bool = True,
    ):
        check_reader(backend, batch_size)
        if isinstance(source, str):
            source = Source.for_file(source)
        self.source, self.backend, self.sampling = source, backend, sampling
        self.batch_size, self.threads = batch_size, threads
        self.autorotate, self.skip_corrupt = autorotate, skip_corrupt
        self._open = None  # (container, stream) opened by __init__, used by the first iteration
        if backend == "pyav" and source.kind == "video":
            container, stream = open_container(source.uri, threads)
            try:
                self.info: VideoInfo = describe(source.uri, container, stream, rotation=0)
            except BaseException:
                container.close()
                raise
            self._open = (container, stream)
        else:
            self.info = probe(source.uri)
        self.problems: list[str] = []
        self.frames_decoded = 0
        self.frames_skipped = 0  # frames FFmpeg flagged as corrupt, or that failed to decode, and were dropped

    def __del__(self):
        if getattr(self, "_open", None):
            self._open[0].close()

    def _problem(self, msg: str) -> None:
        self.problems.append(msg)
        log.warning("%s: %s", self.source.uri, msg)

    def __iter__(self) -> Iterator[FrameBatch]:
        if self.info.kind == "image":
            it = self._image()
        else:
            it = self._pyav() if self.backend == "pyav" else self._decord()
        buf, idx, pts, n = None, [], [], 0
        for index, t, img, rotation in it:
            if self.autorotate:
                img = _rotate(img, rotation)
            if buf is None or img.shape != buf.shape[1:]:
                if n:  # a size change mid-stream ends the batch
                    yield self._batch(buf[:n], idx, pts)
                    idx, pts, n = [], [], 0
                buf = _POOL.get((self.batch_size, *img.shape))
            buf[n] = img  # the one copy of each frame: from the decoder's buffer into the batch
            idx.append(index)
            pts.append(t)
            n += 1
            if n == self.batch_size:
                yield self._batch(buf, idx, pts)
                buf, idx, pts, n = None, [], [], 0
        if n:
            yield self._batch(buf[:n], idx, pts)

    def _batch(self, frames: np.ndarray, idx: list, pts: list) -> FrameBatch:
        self.frames_decoded += len(idx)
        return FrameBatch(self.source.video_id, frames, np.array(idx, np.int64), np.array(pts, np.float64))

    # -- backends: each yields (frame_index, pts_s, (H, W, 3) uint8 RGB, clockwise rotation) ---------

    def _image(self):
        if self.sampling.in_range(0):
            with open_image(self.source.uri) as img:  # EXIF orientation already applied
                yield 0, 0.0, np.asarray(img.convert("RGB"), dtype=np.uint8), 0

    def _pyav(self):
        import av  # on first use (module docstring)

        container, stream = self._open or open_container(self.source.uri, self.threads)
        self._open = None
        try:
            with decoder_errors() as ffmpeg:
                yield from self._pyav_frames(container, stream)
        finally:
            # Frame threads still decoding when the codec is freed are waited for with the GIL held; one
            # that logs an error meanwhile waits for the GIL in PyAV's Python log callback (installed by
            # decoder_errors), and decoding hangs (seen in tests/video/test_decode.py). flush_buffers
            # waits for them with the GIL released, so they finish and sit idle before the codec goes.
            with contextlib.suppress(av.error.FFmpegError):
                stream.codec_context.flush_buffers()
            container.close()
        if ffmpeg.messages:  # damage FFmpeg concealed (smeared frames) raises nothing: only its log says so
            self._problem(
                f"damaged bitstream: the decoder reported {ffmpeg.summary()}; damaged frames are "
                "concealed and may look smeared"
            )

    def _pyav_frames(self, container, stream):
        import av  # on first use (module docstring)

        s, info, uri = self.sampling, self.info, self.source.uri
        times, index = None, 0
        try:
            tb = float(stream.time_base)
            if s.start > 0:  # seek: the exact pts table turns decoded times back into frame indices
                times = frame_times(uri)
                if s.start >= len(times):
                    return
                container.seek(int(round(times[s.start] / tb)), stream=stream, backward=True, any_frame=False)
                sampler = Sampler(s, info.fps, info.start_time_s, times[s.start - 1])
            else:
                sampler = Sampler(s, info.fps, info.start_time_s)
            index, last_t = 0, None
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as exc:
                    self._problem(f"corrupt packet at pts {packet.pts} (after frame {index - 1}) skipped: {exc}")
                    if times is None:  # frames may be lost: counting no longer gives indices
                        times = frame_times(uri)
                    continue
                for frame in frames:
                    t = frame.time if frame.pts is not None else (last_t or 0.0) + 1.0 / (info.fps or 30.0)
                    if times is not None:
                        index = min(int(np.searchsorted(times, t - 1e-7)), len(times) - 1)
                        if index < s.start:
                            last_t = t
                            sampler.prev = t
                            continue
                    if sampler.done(index):
                        return
                    if frame.is_corrupt and self.skip_corrupt:
                        self.frames_skipped += 1
                        self._problem(f"frame {index} (t={t:.3f}s) is corrupt and was skipped")
                    elif sampler.keep(index, t):
                        rot = rotation_of(frame)
                        if rot != self.info.rotation:
                            self.info = dataclasses.replace(self.info, rotation=rot)
                        yield index, t, _rgb_view(frame), rot
                    last_t = t
                    index += 1
            # the stream ended early: before this segment's (or the video's) last frame the header lists
            end = info.num_frames if s.stop is None else min(s.stop, info.num_frames)
            if info.frames_exact and index < end:
                self._problem(
                    f"truncated or damaged: the stream ends at frame {index}, its header lists "
                    f"{info.num_frames} frames ({self.frames_skipped} corrupt frames skipped)"
                )
        except av.error.FFmpegError as exc:
            self._problem(f"decoding stopped after frame {index - 1}: {exc}")

    def _decord(self):
        import decord

        uri = self.source.uri  # existence was checked by probe() in __init__
        try:
            data = read_bytes(uri) if is_url(uri) else None

            def reopen():
                return decord.VideoReader(
                    io.BytesIO(data) if data is not None else uri, ctx=decord.cpu(0), num_threads=self.threads
                )

            vr = reopen()
        except OSError as exc:
            raise VideoError(uri, "unreadable", f"cannot read it: {exc}") from exc
        except (decord.DECORDError, RuntimeError) as exc:
            raise VideoError(uri, "corrupt", f"decord cannot open it ({str(exc).splitlines()[0][:200]})") from exc
        n = len(vr)
        times = vr.get_frame_timestamp(range(n))[:, 0].astype(np.float64) if n else np.zeros(0)
        t0 = times[0] if n else 0.0
        sampler = Sampler(
            self.sampling, self.info.fps, t0, times[self.sampling.start - 1] if 0 < self.sampling.start <= n else None
        )
        keep = [i for i in range(min(self.sampling.start, n), n) if not sampler.done(i) and sampler.keep(i, times[i])]
        for lo in range(0, len(keep), self.batch_size):
            chunk = keep[lo : lo + self.batch_size]
            try:
                arrs = list(vr.get_batch(chunk).asnumpy())
                good = chunk
            except decord.DECORDError:
                # One bad frame fails the batch and leaves decord's threaded decoder in a state where
                # even good frames of the same GOP may fail: retry frame by frame on a fresh reader,
                # and open a fresh one again after every bad frame.
                good, arrs, vr = [], [], reopen()
                for i in chunk:
                    try:
                        arrs.append(vr[i].asnumpy())
                        good.append(i)
                    except decord.DECORDError as exc:
                        self.frames_skipped += 1
                        self._problem(f"frame {i} cannot be decoded and was skipped: {str(exc).splitlines()[0][:120]}")
                        vr = reopen()
            rot = self.info.rotation
            yield from ((i, float(times[i]), a, rot) for i, a in zip(good, arrs))


def decode_all(sources, **kwargs) -> Iterator[tuple[Source, FrameBatch | VideoError]]:
    """Decode several inputs in order: ``(source, batch)`` items, or one ``(source, VideoError)`` for an
    input that cannot be opened. A bad input never stops the others."""
    for src in sources:
        try:
            reader = FrameReader(src, **kwargs)
            for batch in reader:
                yield src, batch
        except VideoError as exc:
            log.warning("%s", exc)
            yield src, exc
