"""The tracker's view of one video: per frame, the detections' boxes, scores, poses and masks.

Built once from the ``FrameResult``s at the boundary (``from_results``), in float64, so every pass
of the tracker reads the same arrays. The poses are copied only for a tracker that compares them (the
pose cue on): otherwise their float64 copies would add about 0.3 GB per hour of 10 people at 30 fps to
what a video's finalize holds. Time in the tracker is the position ``t`` of a frame in the list (0, 1,
2, ...), whatever the source frame indices are (a strided run has gaps in them).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bmp_ray.result import FrameResult
from bmp_ray.track import cues

JOINTS = 17  # the COCO body joints every skeleton starts with
_NO_XY, _NO_OK = np.zeros((1, 1, 1)), np.zeros((1, 1), bool)  # what a Frame without poses views


@dataclasses.dataclass(frozen=True, eq=False)
class Frame:
    """The detections of one frame.

    Attributes:
        boxes: (N, 4) float64 xyxy pixels.
        scores: (N,) float64 box scores.
        keypoints: (N, 17, 2) float64 x, y of the COCO joints (a read-only zero view without poses).
        keypoint_ok: (N, 17) bool, the joints confident enough to compare (a read-only False view
            without poses: no joint is compared).
        masks: N pycocotools RLE dicts (None where a mask is absent).
    """

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray
    keypoint_ok: np.ndarray
    masks: list

    def __len__(self) -> int:
        return len(self.boxes)


def from_results(results: list[FrameResult], keypoint_score: float, poses: bool = True) -> list[Frame]:
    """One ``Frame`` per result, in the given order; ``poses`` False: without the keypoints (zero-byte
    views of their shape, no joint confident), for a tracker whose pose cue is off.

    Raises:
        ValueError: if a result is not a ``FrameResult``, the results mix videos, or their frame
            indices do not strictly increase.
    """
    out, prev = [], None
    for i, r in enumerate(results):
        if not isinstance(r, FrameResult):
            raise ValueError(f"track: results[{i}]: expected a FrameResult, got {type(r).__name__}")
        if prev is not None:
            if r.video_id != prev.video_id:
                raise ValueError(f"track: results[{i}]: expected one video ({prev.video_id!r}), got {r.video_id!r}")
            if r.frame_index <= prev.frame_index:
                raise ValueError(
                    f"track: results[{i}]: expected frame indices in increasing order, got "
                    f"{r.frame_index} after {prev.frame_index}"
                )
        prev = r
        if poses:
            k = r.keypoints[:, :JOINTS].astype(np.float64)
            xy, ok = k[..., :2].copy(), k[..., 2] >= keypoint_score
        else:
            xy = np.broadcast_to(_NO_XY, (len(r), JOINTS, 2))
            ok = np.broadcast_to(_NO_OK, (len(r), JOINTS))
        out.append(
            Frame(
                r.boxes.astype(np.float64),
                r.box_scores.astype(np.float64),
                xy,
                ok,
                cues.rle_objects(r.masks, r.height, r.width),
            )
        )
    return out
