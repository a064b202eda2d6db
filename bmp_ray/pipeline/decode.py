"""Decode one work item into frame batches, ending with its summary (the manifest's facts about it)."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Iterator

import cv2
import numpy as np

from bmp_ray.errors import VideoError
from bmp_ray.pipeline.config import DecodeConfig
from bmp_ray.pipeline.plan import WorkItem
from bmp_ray.video import FrameBatch, FrameReader

log = logging.getLogger(__name__)


def summary_of(
    item: WorkItem, *, error: str | None = None, reader: FrameReader | None = None, started: float | None = None
) -> dict:
    """The decode summary of an item: manifest columns (see ``export.schema.manifest_schema``) plus
    ``name``, ``segment``, ``segments``, ``problems`` (a list) and ``started`` (epoch seconds).
    ``status`` is ``error`` (nothing decodable), ``partial`` (decoded, with problems: corrupt frames
    skipped, fewer frames than the header lists) or ``ok``."""
    info = reader.info if reader is not None else None
    return {
        "name": item.name,
        "video_id": item.source.video_id,
        "path": item.source.uri,
        "segment": item.segment.index,
        "segments": item.segment.count,
        "status": "error" if error else ("partial" if reader is not None and reader.problems else "ok"),
        "error": error,
        "frames_decoded": reader.frames_decoded if reader is not None else 0,
        "frames_skipped": reader.frames_skipped if reader is not None else 0,
        "problems": list(reader.problems) if reader is not None else [],
        "num_frames": info.num_frames if info else None,
        "fps": info.fps if info else None,
        "width": info.display_size[0] if info else None,
        "height": info.display_size[1] if info else None,
        "codec": info.codec if info else None,
        "duration_s": info.duration_s if info else None,
        "rotation": info.rotation if info else None,
        "started": started or time.time(),
    }


def working_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) of the working frame of a (width, height) frame: the frame's own size, or scaled
    so that its longer side is ``max_side`` when it is longer (0: never)."""
    if not max_side or max(width, height) <= max_side:
        return int(width), int(height)
    s = max_side / max(width, height)
    return max(1, round(width * s)), max(1, round(height * s))


def working(batch: FrameBatch, max_side: int) -> tuple[FrameBatch, tuple[int, int]]:
    """The batch at its working resolution (``working_size``; ``cv2.INTER_AREA``), and the frames' own
    (height, width), in which the results are written (``FrameResult.resized``)."""
    h, w = batch.frames.shape[1:3]
    size = working_size(w, h, max_side)
    if size == (w, h):
        return batch, (h, w)
    frames = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in batch.frames])
    return dataclasses.replace(batch, frames=frames), (h, w)


def packed(frames: np.ndarray, transport: str) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB working frames as they cross stage boundaries (``decode.frame_transport``):
    as they are ("rgb"), or ("i420") their YUV 4:2:0 planes, (N, H * 3 // 2, W, 1) uint8 (OpenCV's
    BT.601 ``COLOR_RGB2YUV_I420``): half the bytes. Frames with an odd side stay RGB (I420 has none)."""
    n, h, w = frames.shape[:3]
    if transport == "rgb" or h % 2 or w % 2 or n == 0:
        return frames
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2YUV_I420) for f in frames])[..., None]


def unpacked(frame: np.ndarray) -> np.ndarray:
    """One frame as ``packed`` sent it, as (H, W, 3) uint8 RGB (``COLOR_YUV2RGB_I420`` for I420)."""
    if frame.shape[-1] == 3:
        return frame
    return cv2.cvtColor(np.ascontiguousarray(frame[..., 0]), cv2.COLOR_YUV2RGB_I420)


def transported(frames: np.ndarray, transport: str) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB: the frames every model reads after crossing stages (``packed``, then
    ``unpacked``); the one-process path reads the same."""
    if transport == "rgb":
        return frames
    return np.stack([unpacked(f) for f in packed(frames, transport)]) if len(frames) else frames


def decode_item(item: WorkItem, config: DecodeConfig) -> Iterator[FrameBatch | dict]:
    """Yield the item's ``FrameBatch`` es, then its summary dict (always, also when decoding failed).

    A ``VideoError`` (missing, corrupt, truncated, not a video...) or any other failure of this input
    ends it with ``status = "error"`` and the message; it never raises.
    """
    started = time.time()
    if item.error:
        yield summary_of(item, error=item.error, started=started)
        return
    reader = None
    try:
        reader = FrameReader(item.source, backend=config.backend, sampling=item.sampling, batch_size=config.batch_size)
        w, h = working_size(*reader.info.display_size, config.max_side)
        if w * h > config.max_pixels:
            raise VideoError(
                item.source.uri,
                "too_large",
                f"frames of {w} x {h} = {w * h} pixels exceed decode.max_pixels = {config.max_pixels} "
                "(memory grows with the frame size); process them at a working resolution "
                f"(--set decode.max_side=1920) or raise decode.max_pixels (--set decode.max_pixels={w * h})",
            )
        yield from reader
    except VideoError as exc:
        log.warning("%s", exc)
        yield summary_of(item, error=str(exc), reader=reader, started=started)
        return
    except Exception as exc:  # any other failure of this one input must not stop the others
        log.exception("decoding %s failed", item.source.uri)
        yield summary_of(item, error=f"{item.source.uri}: {type(exc).__name__}: {exc}", reader=reader, started=started)
        return
    yield summary_of(item, reader=reader, started=started)
