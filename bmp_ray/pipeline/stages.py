"""The pipeline's stages: decoding (a task per work item) and one callable class per model call.

Every model stage is a Ray Data callable class (model loaded in ``__init__``, batched work in
``__call__(batch)``) around one step of the pure BMP loop (``bmp.loop.detect_step``, ``pose_step``,
``sam_step``); the same classes run in a plain unit test. Each class's ``name`` with the iteration
(``operator_name``) names its Ray Data operator: Detect_1, Pose_1, Sam_1, Detect_2, Pose_2, Sam_2...
Rows between stages:

    name         str      output name of the work item (the segment)
    video_id     str
    frame_index  int64    index in the source video; -1 for the item's end row
    pts_s        float64
    frame        (H, W, 3) uint8 RGB at the working resolution (``decode.max_side``; a 1x1 black pixel on
                 end rows), or its I420 planes (H * 3 // 2, W, 1) (``decode.frame_transport = "i420"``:
                 ``decode.packed``); after the last pose stage, (0, H, W) where the last SAM stage
                 reads no pixel of it (``PoseStage.emit``); dropped by the last stage
    size         (2,) int64, the frame's own (height, width): the last stage writes its result in it
    state        bytes    the pickled ``FrameState`` (empty before the first detector)
    summary      str      JSON decode summary on end rows, "" otherwise
    result       bytes    the pickled ``FrameResult`` (added by the last stage)

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

from bmp_ray.bmp.loop import (
    FrameState,
    detect_step,
    frame_result,
    pose_step,
    sam_step,
)
from bmp_ray.cluster import route_warnings
from bmp_ray.pipeline.config import RunConfig
from bmp_ray.pipeline.decode import decode_item, packed, unpacked, working
from bmp_ray.pipeline.models import build_model
from bmp_ray.pipeline.parts import END
from bmp_ray.pipeline.plan import WorkItem
from bmp_ray.video import FrameBatch

log = logging.getLogger(__name__)
_PIXEL = np.zeros((1, 1, 3), np.uint8)


def decode_rows(batch: dict[str, np.ndarray], *, config: RunConfig):
    """Ray Data generator UDF: one row per work item in, its frames then one end row out."""
    route_warnings()
    for blob in batch["item"]:
        item: WorkItem = pickle.loads(blob)
        for part in decode_item(item, config.decode):
            if isinstance(part, FrameBatch):
                n = len(part)
                part, size = working(part, config.decode.max_side)
                yield {
                    "name": np.array([item.name] * n),
                    "video_id": np.array([item.source.video_id] * n),
                    "frame_index": part.frame_index,
                    "pts_s": part.pts_s,
                    "frame": packed(part.frames, config.decode.frame_transport).copy(),
                    "size": np.array([size] * n, np.int64),
                    "state": np.array([b""] * n, object),
                    "summary": np.array([""] * n),
                }
            else:
                yield {
                    "name": np.array([item.name]),
                    "video_id": np.array([item.source.video_id]),
                    "frame_index": np.array([END]),
                    "pts_s": np.array([0.0]),
                    "frame": _PIXEL[None],
                    "size": np.array([[1, 1]], np.int64),
                    "state": np.array([b""], object),
                    "summary": np.array([json.dumps(part)]),
                }


class _Stage:
    """One model and one loop step over the frame rows of a batch (end rows pass through)."""

    role = ""  # the config section of its model and resources
    name = ""  # the operator's name in Ray Data, before the iteration (``operator_name``)

    def __init__(self, config: RunConfig, iteration: int):
        self.config, self.iteration = config, iteration
        self.model = build_model(self.role, config)

    def _states(self, batch) -> tuple[list[int], list[FrameState]]:
        rows = [i for i, k in enumerate(batch["frame_index"]) if k != END]
        states = []
        for i in rows:
            blob, rgb = batch["state"][i], self._frame(batch, i)
            s = pickle.loads(blob).attach(rgb) if len(blob) else FrameState(rgb)
            states.append(s)
        return rows, states

    def _frame(self, batch, i: int) -> np.ndarray:
        """Row ``i``'s working frame, (H, W, 3) uint8 RGB; where an earlier stage left its pixels behind
        (``PoseStage.emit``: a (0, H, W) array), a read-only all-black view of its size."""
        frame = batch["frame"][i]
        if frame.shape[0] == 0:
            return np.broadcast_to(_PIXEL, (*frame.shape[1:], 3))
        return unpacked(frame)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows, states = self._states(batch)
        if states:
            self.step(states)
        return self.emit(batch, rows, states)

    def emit(self, batch, rows: list[int], states: list[FrameState]) -> dict[str, np.ndarray]:
        out = dict(batch)
        blobs = np.array(list(batch["state"]), object)
        for i, s in zip(rows, states):
            blobs[i] = pickle.dumps(s, protocol=5)
        out["state"] = blobs
        return out

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
        frames = list(out["frame"])
        for i, s in zip(rows, states):
            if s.embedded or s.dets is None or not len(s.dets):
                frames[i] = np.zeros((0, *s.rgb.shape[:2]), np.uint8)
        out["frame"] = frames
        return out


class SamStage(_Stage):
    """Pose NMS, SAM embedding (once per frame) and decoding, exclusive masks; the SAM pool.

    The last iteration's stage turns states into pickled ``FrameResult`` s in a ``result`` column and
    drops the frame and state columns.
    """

    role, name = "sam", "Sam"

    def step(self, states):
        sam_step(self.model, states, self.iteration, self.config.bmp)

    def emit(self, batch, rows, states):
        if self.iteration < self.config.bmp.iterations:
            return super().emit(batch, rows, states)
        results = np.array([b""] * len(batch["name"]), object)
        for i, s in zip(rows, states):
            video, index, pts = str(batch["video_id"][i]), int(batch["frame_index"][i]), float(batch["pts_s"][i])
            r = frame_result(s, video, index, pts, size=batch["size"][i])  # the video's own pixels
            results[i] = pickle.dumps(r, protocol=5)
        return {
            "name": batch["name"],
            "frame_index": batch["frame_index"],
            "summary": batch["summary"],
            "result": results,
        }
