"""The pipeline's stages: decoding (a task per work item) and one callable class per model call.

Every model stage is a Ray Data callable class (model loaded in ``__init__``, batched work in
``__call__(batch)``) around one step of the pure BMP loop (``bmp.loop.detect_step``, ``pose_step``,
``sam_step``); the same classes run in a plain unit test. Each class's ``name`` with the iteration
(``operator_name``) names its Ray Data operator: Detect_1, Pose_1, Sam_1, Detect_2, Pose_2, Sam_2...
Batches between stages are Arrow tables (Ray Data's ``batch_format="pyarrow"``, ``columns``): a stage
reads the columns it needs and replaces those it changes; the others go on as the same buffers. Rows:

    name         str      output name of the work item (the segment)
    video_id     str
    frame_index  int64    index in the source video; -1 for the item's end row
    pts_s        float64
    frame        (H, W, 3) uint8 RGB at the working resolution (``decode.max_side``; a 1x1 black pixel on
                 end rows), or its I420 planes (H * 3 // 2, W, 1) (``decode.frame_transport = "i420"``:
                 ``decode.packed``); after the last pose stage, (0, H, W) where the last SAM stage
                 reads no pixel of it (``PoseStage.emit``); dropped by the last stage
    size         (2,) int64, the frame's own (height, width): the last stage writes its result in it
    state        bytes    the pickled ``FrameState`` without its embedding (``FrameState.split``; empty
                 before the first detector)
    embedding    bytes    the frame's pickled SAM embedding, empty until a SAM stage computed it; written
                 by the SAM stages only, passed on untouched by the detector and pose stages
    summary      str      JSON decode summary on end rows, "" otherwise
    result       bytes    the pickled ``FrameResult`` (added by the last stage, which keeps only
                 name, frame_index, summary and result)

After the last model stage, ``parts.write_parts`` (CPU tasks) turns these rows into part files and
receipts; only receipts reach the driver.

No dense full-resolution mask crosses a stage: people's masks travel as box-window masks in the state
and as RLE in results. The frame travels with its row (one copy per stage boundary, up to the last
stage that reads it), at the working resolution when ``decode.max_side`` is set, as I420 (half the
bytes) when ``decode.frame_transport`` is.
"""

from __future__ import annotations

import json
import logging
import pickle

import numpy as np
import pyarrow as pa

from bmp_ray.bmp.loop import (
    FrameState,
    detect_step,
    frame_result,
    pose_step,
    sam_step,
)
from bmp_ray.cluster import route_warnings
from bmp_ray.pipeline import columns
from bmp_ray.pipeline.config import RunConfig
from bmp_ray.pipeline.decode import decode_item, packed, unpacked, working
from bmp_ray.pipeline.models import build_model
from bmp_ray.pipeline.parts import END
from bmp_ray.pipeline.plan import WorkItem
from bmp_ray.video import FrameBatch

log = logging.getLogger(__name__)
_PIXEL = np.zeros((1, 1, 3), np.uint8)


def decode_rows(batch: dict[str, np.ndarray], *, config: RunConfig):
    """Ray Data generator UDF: one row per work item in, its frames then one end row out (Arrow batches,
    ``columns``)."""
    route_warnings()
    for blob in batch["item"]:
        item: WorkItem = pickle.loads(blob)
        for part in decode_item(item, config.decode):
            if isinstance(part, FrameBatch):
                n = len(part)
                part, size = working(part, config.decode.max_side)
                frames = packed(part.frames, config.decode.frame_transport)
                yield _rows(item, n, part.frame_index, part.pts_s, frames, size)
            else:
                yield _rows(item, 1, [END], [0.0], _PIXEL[None], (1, 1), summary=json.dumps(part))


def _rows(item: WorkItem, n: int, index, pts, frames, size, summary: str = "") -> pa.Table:
    return columns.table(
        {
            "name": np.array([item.name] * n),
            "video_id": np.array([item.source.video_id] * n),
            "frame_index": np.asarray(index, np.int64),
            "pts_s": np.asarray(pts, np.float64),
            "frame": frames.copy(),  # not a view of the decoder's arrays
            "size": np.array([size] * n, np.int64),
            "state": columns.binary([b""] * n),
            "embedding": columns.binary([b""] * n),
            "summary": np.array([summary] * n),
        }
    )


class _Stage:
    """One model and one loop step over the frame rows of a batch (end rows pass through).

    ``__call__`` takes and returns an Arrow batch (Ray Data's ``batch_format="pyarrow"``): the columns the
    step does not change go on untouched (``columns``)."""

    role = ""  # the config section of its model and resources
    name = ""  # the operator's name in Ray Data, before the iteration (``operator_name``)
    writes_embedding = False  # the stage computes SAM embeddings: it writes the embedding column

    def __init__(self, config: RunConfig, iteration: int):
        self.config, self.iteration = config, iteration
        self.model = build_model(self.role, config)

    def _states(self, batch: pa.Table) -> tuple[list[int], list[FrameState]]:
        rows = np.flatnonzero(columns.numbers(batch, "frame_index") != END).tolist()
        if not rows:
            return rows, []
        frames, blobs, embeddings = (columns.rows(batch, c) for c in ("frame", "state", "embedding"))
        return rows, [FrameState.joined(blobs[i], embeddings[i], self._frame(frames[i])) for i in rows]

    @staticmethod
    def _frame(frame: np.ndarray) -> np.ndarray:
        """A row's working frame, (H, W, 3) uint8 RGB; where an earlier stage left its pixels behind
        (``PoseStage.emit``: a (0, H, W) array), a read-only all-black view of its size."""
        if frame.shape[0] == 0:
            return np.broadcast_to(_PIXEL, (*frame.shape[1:], 3))
        return unpacked(frame)

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows, states = self._states(batch)
        if states:
            self.step(states)
        return self.emit(batch, rows, states)

    def emit(self, batch: pa.Table, rows: list[int], states: list[FrameState]) -> pa.Table:
        if not rows:
            return batch
        blobs, embeddings = columns.rows(batch, "state"), columns.rows(batch, "embedding")
        for i, s in zip(rows, states):
            blobs[i], embeddings[i] = s.split()
        changed = {"state": columns.binary(blobs)}
        if self.writes_embedding:
            changed["embedding"] = columns.binary(embeddings)
        return columns.replaced(batch, **changed)

    def step(self, states: list[FrameState]) -> None:
        raise NotImplementedError


def operator_name(stage: type[_Stage] | _Stage, iteration: int) -> str:
    """The Ray Data operator name of ``stage`` in ``iteration`` (1-based): ``Sam_2``. The underscore keeps
    the SAM stage's second iteration apart from SAM 2 (the model, ``models.sam2``)."""
    return f"{stage.name}_{iteration}"


class DetectStage(_Stage):
    """Detection on frames (iteration > 1: accepted people painted black); the detector pool."""

    role, name = "detector", "Detect"

    def step(self, states):
        detect_step(self.model, states, self.config.bmp)


class PoseStage(_Stage):
    """MaskPose on the detections of this iteration; the pose pool."""

    role, name = "pose", "Pose"
    # the last iteration's stage sends on only the size of frames whose pixels the last SAM step will
    # not read; False: every frame whole (the transport before, kept for ``bench host``'s "today")
    drops_unread = True

    def step(self, states):
        pose_step(self.model, states)

    def emit(self, batch, rows, states):
        """In the last iteration, a frame whose SAM step reads no pixel (its embedding is computed, or
        nobody is to be segmented) goes on as a (0, H, W) array: its size, no bytes; the frame leaves
        the object store one boundary earlier."""
        out = super().emit(batch, rows, states)
        if self.iteration < self.config.bmp.iterations or not self.drops_unread:
            return out
        drop = {i: s.rgb.shape[:2] for i, s in zip(rows, states) if s.embedded or s.dets is None or not len(s.dets)}
        if not drop:
            return out
        frames = columns.rows(out, "frame")
        for i, hw in drop.items():
            frames[i] = np.zeros((0, *hw), np.uint8)
        return columns.replaced(out, frame=columns.tensors(frames))


class SamStage(_Stage):
    """Pose NMS, SAM embedding (once per frame) and decoding, exclusive masks; the SAM pool.

    The last iteration's stage turns states into pickled ``FrameResult`` s in a ``result`` column and
    drops the frame and state columns.
    """

    role, name = "sam", "Sam"
    writes_embedding = True

    def step(self, states):
        sam_step(self.model, states, self.iteration, self.config.bmp)

    def emit(self, batch, rows, states):
        if self.iteration < self.config.bmp.iterations:
            return super().emit(batch, rows, states)
        results = [b""] * batch.num_rows
        video, index, pts, size = (columns.rows(batch, c) for c in ("video_id", "frame_index", "pts_s", "size"))
        for i, s in zip(rows, states):
            r = frame_result(s, video[i], index[i], pts[i], size=size[i])  # the video's own pixels
            results[i] = pickle.dumps(r, protocol=5)
        return pa.table({c: batch.column(c) for c in ("name", "frame_index", "summary")}).append_column(
            "result", columns.binary(results)
        )
