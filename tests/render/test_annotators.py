"""Annotators on a hand-made result: where each draws, colours per track id, low keypoints left out."""

import numpy as np
import pytest

from bmp_ray.render.annotators import (
    PALETTE,
    BoxAnnotator,
    MaskAnnotator,
    SkeletonAnnotator,
    colours,
    default_overlay,
    label_text,
)
from bmp_ray.result import FrameResult

H, W = 120, 160


def _result(tracks=(-1, -1), k=21):
    masks = np.zeros((2, H, W), bool)
    masks[0, 20:60, 20:50] = True
    masks[1, 30:90, 100:140] = True
    kpts = np.zeros((2, k, 3), np.float32)
    kpts[:, :, 0], kpts[:, :, 1], kpts[:, :, 2] = 35, 40, 0.9
    kpts[0, 5] = [25, 25, 0.9]  # left shoulder
    kpts[0, 11] = [25, 55, 0.1]  # left hip, below the threshold
    kpts[1, :, :2] = [120, 60]
    return FrameResult.from_dense(
        "v.mp4",
        3,
        0.1,
        boxes=[[20, 20, 50, 60], [100, 30, 140, 90]],
        box_scores=[0.9, 0.8],
        keypoints=kpts,
        masks=masks,
        mask_scores=[0.9, 0.9],
        iterations=[1, 2],
        track_ids=list(tracks),
    )


def test_mask_blends_its_colour_inside_and_nothing_outside():
    r, frame = _result(), np.full((H, W, 3), 100, np.uint8)
    out = MaskAnnotator(0.5).annotate(frame.copy(), r)
    want = ((100 + PALETTE[0].astype(int)) / 2 + 0.5).astype(np.uint8)
    assert np.array_equal(out[40, 30], want) and np.array_equal(out[5, 5], frame[5, 5])
    assert not np.array_equal(out[60, 120], frame[60, 120])


def test_colour_follows_the_track_id_not_the_index():
    a, b = colours(_result((7, 3))), colours(_result((3, 7)))
    assert np.array_equal(a[0], b[1]) and not np.array_equal(a[0], a[1])
    assert np.array_equal(colours(_result())[1], PALETTE[1])


def test_skeleton_leaves_low_keypoints_out():
    r, frame = _result(), np.zeros((H, W, 3), np.uint8)
    out = SkeletonAnnotator(threshold=0.3).annotate(frame.copy(), r)
    assert out[25, 25].any()  # the shoulder's dot
    assert not out[55, 25].any()  # the hip scored 0.1: no dot
    assert not out[45, 25].any()  # nor the shoulder-hip link between them
    out17 = SkeletonAnnotator(threshold=0.3).annotate(frame.copy(), _result(k=17))  # the 17-keypoint skeleton
    assert out17[25, 25].any() and not out17[45, 25].any()


def test_box_and_overlay_do_not_touch_the_input():
    r, frame = _result(), np.zeros((H, W, 3), np.uint8)
    out = default_overlay().annotate(frame, r)
    assert not frame.any() and out[20, 35].any()
    assert BoxAnnotator().annotate(frame.copy(), r)[60, 35].any()


def test_label_text():
    assert label_text(_result((7, -1)), 0) == "#7 0.85 it1"  # the pose score: mean of the 17 COCO scores
    assert label_text(_result((7, -1)), 1) == "#- 0.90 it2"


def test_a_frame_of_the_wrong_size_is_refused():
    with pytest.raises(ValueError, match=r"frame: expected \(120, 160, 3\) uint8 RGB for v.mp4 frame 3, got \(10, 10"):
        MaskAnnotator().annotate(np.zeros((10, 10, 3), np.uint8), _result())
