"""Hand-made FrameResults for the tracker tests."""

import numpy as np

from bmp_ray import masks as _masks
from bmp_ray.result import FrameResult

H, W = 120, 200


def frame(index: int, boxes, scores=None, kpts=None, masks=None) -> FrameResult:
    """A frame of people at ``boxes`` (xyxy); masks: the boxes themselves made exclusive left to right
    unless given; keypoints: a grid in the box, all confident, unless given."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    n = len(boxes)
    scores = np.full(n, 0.9, np.float32) if scores is None else np.asarray(scores, np.float32)
    if kpts is None:
        u = np.linspace(0.2, 0.8, 17)
        kpts = np.zeros((n, 17, 3), np.float32)
        kpts[..., 0] = boxes[:, :1] + u * (boxes[:, 2:3] - boxes[:, :1])
        kpts[..., 1] = boxes[:, 1:2] + u[::-1] * (boxes[:, 3:4] - boxes[:, 1:2])
        kpts[..., 2] = 0.9
    if masks is None:
        masks = np.zeros((n, H, W), bool)
        taken = np.zeros((H, W), bool)
        for j, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
            masks[j, max(y1, 0) : y2, max(x1, 0) : x2] = True
            masks[j] &= ~taken
            taken |= masks[j]
    rle = np.array(_masks.encode(masks) if n else [], object)
    return FrameResult.from_rle(
        "v.mp4",
        index,
        index / 30.0,
        H,
        W,
        boxes=boxes,
        box_scores=scores,
        keypoints=kpts,
        masks=rle,
        mask_scores=np.full(n, 0.9, np.float32),
        iterations=np.ones(n, np.int8),
    )


def walkers(frames: int, people: int = 2, gap: int = 60, speed: float = 1.0, skip=()) -> list[FrameResult]:
    """``people`` boxes 30x60 walking right at ``speed`` px/frame, ``gap`` px apart; person ``p`` is
    missing in the frames ``(p, t)`` of ``skip``."""
    out = []
    for t in range(frames):
        boxes = [
            [5 + gap * p + speed * t, 30, 35 + gap * p + speed * t, 90]
            for p in range(people)
            if (p, t) not in set(skip)
        ]
        out.append(frame(t, boxes))
    return out
