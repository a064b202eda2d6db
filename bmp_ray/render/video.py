"""Render one video of an output folder: re-decode its frames with the run's sampling, draw, write.

The frames are decoded again from the manifest row's ``path`` with the run's sampling (``_run.json``)
and decode backend, and paired with the results by source frame index. The overlay goes to an H.264
MP4 (PyAV, ``yuv420p``, at the sampled frame rate) or, with ``frames``, to one PNG per frame; a still
image input always becomes one PNG. ``side_by_side`` puts the original left of the overlay.
"""

from __future__ import annotations

import contextlib
import fractions
import logging
import os
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

from bmp_ray.errors import OutputError, VideoError
from bmp_ray.export.parquet import output_name
from bmp_ray.export.read import VideoResults, run_sampling
from bmp_ray.fs import atomic_path
from bmp_ray.render.annotators import Overlay, default_overlay
from bmp_ray.result import FrameResult
from bmp_ray.video.decode import FrameReader
from bmp_ray.video.sampling import Sampling
from bmp_ray.video.sources import Source, kind_of

log = logging.getLogger(__name__)


def sampled_rate(fps: float | None, sampling: Sampling) -> fractions.Fraction:
    """Frames per second of the kept frames: the source rate over the stride, or the target rate
    (never above the source's); 1 when the source rate is unknown."""
    if not fps or fps <= 0:
        return fractions.Fraction(1)
    rate = min(sampling.target_fps, fps) if sampling.target_fps else fps / sampling.stride
    return fractions.Fraction(rate).limit_denominator(1001)


def paired_frames(video: VideoResults, run: dict) -> Iterator[tuple[np.ndarray, FrameResult]]:
    """``((H, W, 3) uint8 RGB frame, its FrameResult)`` in frame order; decoded frames without a result
    and results without a decoded frame are skipped and counted in a warning.

    Raises:
        OutputError: the video's input cannot be opened, a frame's size is not the results', or no
            decoded frame matches a result.
    """
    uri = video.row.get("path")
    if not uri:
        raise OutputError(f"{video.video_id}: the manifest row has no path to decode it from")
    backend = run.get("meta", {}).get("config", {}).get("decode", {}).get("backend", "pyav")
    try:
        reader = FrameReader(
            Source(uri, video.video_id, kind_of(uri)), backend=backend, sampling=run_sampling(run), batch_size=4
        )
    except VideoError as exc:
        raise OutputError(f"{video.video_id}: cannot decode it again to draw on: {exc}") from exc
    results = video.frames()
    pending = next(results, None)
    matched = unmatched = 0
    for batch in reader:
        for img, index in zip(batch.frames, batch.frame_index.tolist()):
            while pending is not None and pending.frame_index < index:
                unmatched += 1
                pending = next(results, None)
            if pending is None or pending.frame_index != index:
                unmatched += 1
                continue
            if img.shape != (pending.height, pending.width, 3):
                raise OutputError(
                    f"{video.video_id} frame {index}: decoded {img.shape[1]}x{img.shape[0]}, the results "
                    f"are for {pending.width}x{pending.height}; was {uri} replaced since the run?"
                )
            matched += 1
            yield img, pending
            pending = next(results, None)
    unmatched += sum(1 for _ in results) + (pending is not None)
    if not matched:
        raise OutputError(
            f"{video.video_id}: none of its result frames was decoded again from {uri} with the "
            "run's sampling (was the file replaced or moved?)"
        )
    if unmatched:
        log.warning("%s: %d decoded frames or results had no partner and were skipped", video.video_id, unmatched)


class Mp4Writer:
    """H.264 MP4 of RGB frames at ``rate`` (odd sizes padded by one edge row/column for yuv420p)."""

    def __init__(self, path: str | os.PathLike, rate: fractions.Fraction, crf: int = 18):
        self.path, self.rate, self.crf = str(path), rate, crf
        self.container = self.stream = None
        self.count = 0

    def write(self, rgb: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame."""
        h, w = rgb.shape[:2]
        rgb = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge") if h % 2 or w % 2 else rgb
        if self.container is None:
            self.container = av.open(self.path, "w", format="mp4")
            self.stream = self.container.add_stream("libx264", rate=self.rate)
            self.stream.width, self.stream.height = rgb.shape[1], rgb.shape[0]
            self.stream.pix_fmt = "yuv420p"
            self.stream.options = {"crf": str(self.crf)}
            self.stream.codec_context.time_base = 1 / self.rate
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.count
        frame.time_base = self.stream.codec_context.time_base
        self.container.mux(self.stream.encode(frame))
        self.count += 1

    def close(self) -> None:
        if self.container is not None:
            self.container.mux(self.stream.encode())
            self.container.close()


def render_video(
    video: VideoResults,
    run: dict,
    dest: str | os.PathLike,
    *,
    frames: bool = False,
    side_by_side: bool = False,
    overlay: Overlay | None = None,
) -> dict:
    """Draw ``video``'s results on its frames into the folder ``dest``: ``<stem>.mp4``, or with
    ``frames`` (and always for an image input) ``<stem>/<frame_index:08d>.png``; ``<stem>`` is
    ``export.output_name(video_id)``. Returns ``{"video_id", "path", "frames", "fps"}``."""
    overlay = overlay or default_overlay()
    dest = Path(dest)
    stem = output_name(video.video_id)
    as_png = frames or kind_of(str(video.row.get("path") or "")) == "image"
    rate = sampled_rate(video.row.get("fps"), run_sampling(run))
    target = dest / stem if as_png else dest / f"{stem}.mp4"
    target.parent.mkdir(parents=True, exist_ok=True)
    if as_png:
        target.mkdir(exist_ok=True)
    count = 0
    # a half-written MP4 never takes the name: it is written to a temporary file, renamed when complete
    with contextlib.nullcontext() if as_png else atomic_path(target) as tmp:
        writer = None if as_png else Mp4Writer(tmp, rate)
        try:
            for img, result in paired_frames(video, run):
                drawn = overlay.annotate(img, result)
                picture = np.concatenate([img, drawn], axis=1) if side_by_side else drawn
                if writer is None:
                    path = target / f"{result.frame_index:08d}.png"
                    if not cv2.imwrite(str(path), np.ascontiguousarray(picture[..., ::-1])):
                        raise OutputError(f"{path}: cannot write the PNG there; give a writable --out folder")
                else:
                    writer.write(picture)
                count += 1
        finally:
            if writer is not None:
                writer.close()
    log.info("rendered %s: %d frames to %s", video.video_id, count, target)
    return {"video_id": video.video_id, "path": str(target), "frames": count, "fps": float(rate)}
