"""Gap interpolation: rows for the frames a track skipped, boxes and keypoints on straight lines.

Detected rows are never changed. Each gap of at most ``max_gap`` frames between two detected rows of
one track gets one interpolated row per frame in it: the box linearly interpolated between the two
detected boxes, the keypoints' x and y likewise, each keypoint's score the smaller of the two ends'.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bmp_ray.result import FrameResult
from bmp_ray.track.tracklets import tracklets


@dataclasses.dataclass(frozen=True, eq=False)
class Interpolated:
    """Interpolated rows of one video, as parallel columns (M rows, ordered by frame then track id).

    Attributes:
        frame_index: (M,) int64, source frame index of each row.
        track_id: (M,) int64.
        boxes: (M, 4) float32 xyxy, frame pixels.
        keypoints: (M, K, 3) float32 x, y and score.
    """

    frame_index: np.ndarray
    track_id: np.ndarray
    boxes: np.ndarray
    keypoints: np.ndarray

    def __len__(self) -> int:
        return len(self.frame_index)

    @classmethod
    def empty(cls, num_keypoints: int = 17) -> "Interpolated":
        return cls(
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros((0, 4), np.float32),
            np.zeros((0, num_keypoints, 3), np.float32),
        )


def interpolate(results: list[FrameResult], ids: list[np.ndarray], max_gap: int) -> Interpolated:
    """The interpolated rows of the tracks ``ids`` (per frame (N_t,) int64, -1 untracked) over ``results``.

    A gap is counted in positions of ``results`` (frames of the run, so a strided run fills the sampled
    frames it skipped, not the source frames in between).
    """
    k = results[0].num_keypoints if results else 17
    if max_gap <= 0 or not results:
        return Interpolated.empty(k)
    pos, tid, boxes, kpts = [], [], [], []
    for label, (ts, rows) in tracklets(ids).items():
        for i in np.flatnonzero((np.diff(ts) > 1) & (np.diff(ts) <= max_gap + 1)):
            t0, t1 = int(ts[i]), int(ts[i + 1])
            r0, r1 = results[t0], results[t1]
            b0, b1 = r0.boxes[rows[i]].astype(np.float64), r1.boxes[rows[i + 1]].astype(np.float64)
            k0, k1 = r0.keypoints[rows[i]].astype(np.float64), r1.keypoints[rows[i + 1]].astype(np.float64)
            w = ((np.arange(t0 + 1, t1) - t0) / (t1 - t0))[:, None]
            pos.append(np.arange(t0 + 1, t1))
            tid.append(np.full(t1 - t0 - 1, label, np.int64))
            boxes.append(b0 + (b1 - b0) * w)
            kp = k0 + (k1 - k0) * w[:, :, None]
            kp[..., 2] = np.minimum(k0[:, 2], k1[:, 2])
            kpts.append(kp)
    if not pos:
        return Interpolated.empty(k)
    pos, tid = np.concatenate(pos), np.concatenate(tid)
    order = np.lexsort((tid, pos))
    frame_index = np.array([r.frame_index for r in results], np.int64)[pos[order]]
    return Interpolated(
        frame_index,
        tid[order],
        np.concatenate(boxes)[order].astype(np.float32),
        np.concatenate(kpts)[order].astype(np.float32),
    )
