import numpy as np
import pytest

from bmp_ray.bmp.rules import (
    COCO_SIGMAS,
    box_areas,
    exclusive,
    mask_out,
    oks_matrix,
    pose_nms,
    select_prompts,
)


def person(cx, cy, spread=10.0, score=0.9, n_vis=17, seed=0):
    """(17, 3) keypoints around (cx, cy): the first ``n_vis`` with ``score``, the rest 0.1."""
    rng = np.random.default_rng(seed)
    k = np.zeros((17, 3))
    k[:, :2] = [cx, cy] + rng.uniform(-spread, spread, (17, 2))
    k[:, 2] = np.where(np.arange(17) < n_vis, score, 0.1)
    return k


def test_box_area_reads_xyxy_not_xywh():
    # the research code computes x2 * y2 here (reading xyxy as xywh): 200 * 300 = 60000
    assert box_areas(np.array([[100, 100, 200, 300]])).tolist() == [100 * 200]


def test_oks_matches_the_coco_formula_and_visibility():
    a, b = person(50, 50), person(50, 50)
    b[:, 0] += 3.0
    area = 100.0 * 100.0
    o = oks_matrix(np.stack([a, b]), np.array([area, area]), 0.3)
    expected = np.exp(-9.0 / (2 * COCO_SIGMAS) ** 2 / area / 2).mean()
    assert o[0, 1] == pytest.approx(expected) and o[1, 0] == pytest.approx(expected) and o[0, 0] == 1
    b[5:, 2] = 0.2  # only the first 5 keypoints visible in both
    o = oks_matrix(np.stack([a, b]), np.array([area, area]), 0.3)
    assert o[0, 1] == pytest.approx(np.exp(-9.0 / (2 * COCO_SIGMAS[:5]) ** 2 / area / 2).mean())
    b[:, 2] = 0.0
    assert oks_matrix(np.stack([a, b]), np.array([area, area]), 0.3)[0, 1] == 0.0


def test_oks_area_from_xyxy_boxes_decides_duplicates():
    """Two poses 4 px apart in boxes at (1000, 1000): with the xyxy area (40 x 40) they are distinct
    people; the xywh misreading (area 1040 * 1040) would merge them."""
    a, b = person(1020, 1020), person(1020, 1020)
    b[:, :2] += 4.0
    boxes = np.array([[1000, 1000, 1040, 1040], [1004, 1004, 1044, 1044]], float)
    kpts = np.stack([a, b])
    assert pose_nms(kpts, boxes, np.array([0.9, 0.8]), 0.8, 0.3).tolist() == [True, True]
    wrong_area = boxes[:, 2] * boxes[:, 3]
    assert oks_matrix(kpts, wrong_area, 0.3)[0, 1] > 0.8


def test_pose_nms_drops_the_one_with_fewer_visible_keypoints_old_or_new():
    old = person(100, 100, n_vis=10)
    new = person(100, 100, n_vis=15)  # the same person, better seen
    far = person(400, 400)
    boxes = np.array([[50, 50, 150, 150], [50, 50, 150, 150], [350, 350, 450, 450]], float)
    alive = pose_nms(np.stack([old, new, far]), boxes, np.array([0.9, 0.5, 0.7]), 0.8, 0.3)
    assert alive.tolist() == [False, True, True]  # the earlier person loses and is removed


def test_pose_nms_ties_go_to_the_higher_score_then_the_earlier():
    a, b = person(100, 100), person(100, 100)
    boxes = np.array([[50, 50, 150, 150]] * 2, float)
    assert pose_nms(np.stack([a, b]), boxes, np.array([0.5, 0.9]), 0.8, 0.3).tolist() == [False, True]
    assert pose_nms(np.stack([a, b]), boxes, np.array([0.9, 0.9]), 0.8, 0.3).tolist() == [True, False]


def test_a_removed_person_no_longer_suppresses_others():
    """A (15 visible) ~ B (16) and B ~ C (17), A and C apart. The most similar pair goes first: B loses
    to C. B is then out: it cannot take A with it (the research code leaves B's row active)."""
    c = person(100, 100, spread=20, n_vis=17, seed=1)
    b = c.copy()
    b[:, 0] += 2.0
    b[16, 2] = 0.1  # 16 visible
    a = c.copy()
    a[:, 0] += 6.0
    a[15:, 2] = 0.1  # 15 visible
    boxes = np.array([[60, 60, 140, 140]] * 3, float)
    kpts = np.stack([a, b, c])
    o = oks_matrix(kpts, box_areas(boxes), 0.3)
    assert o[1, 2] > o[0, 1] > 0.8 > o[0, 2]
    assert pose_nms(kpts, boxes, np.array([0.9, 0.9, 0.9]), 0.8, 0.3).tolist() == [True, False, True]


def test_prompts_collapse_the_face_and_drop_low_scores():
    k = np.zeros((17, 3))
    k[:, 0] = np.arange(17) * 10.0
    k[:, 2] = 0.1
    k[[0, 1, 2], 2] = [0.5, 0.7, 0.6]  # nose, eyes: only the left eye stays
    k[5, 2] = 0.9
    pts = select_prompts(k, 0.3, 6, 80.0)
    assert pts[:, 0].tolist() == [50.0, 10.0]  # most confident first, then the collapsed face point
    k[:, 2] = 0.29
    assert select_prompts(k, 0.3, 6, 80.0).shape == (0, 2)


def test_prompts_spread_greedily_under_the_percentile_rule_at_most_six():
    k = np.zeros((17, 3))
    k[3:, 0] = np.linspace(0, 130, 14)
    k[3:, 1] = 0.0
    k[:, 2] = 0.1
    k[3:, 2] = np.linspace(0.5, 0.95, 14)  # ears .. ankles visible, the ankle most confident
    pts = select_prompts(k, 0.3, 6, 80.0)
    assert len(pts) == 6
    assert pts[0].tolist() == [130.0, 0.0]
    # with percentile 0 every remaining point is a candidate: pure farthest-point order
    far = select_prompts(k, 0.3, 3, 0.0)
    assert far[:, 0].tolist() == [130.0, 0.0, 60.0]
    # with percentile 100 only the most confident remaining point is a candidate: score order
    top = select_prompts(k, 0.3, 4, 100.0)
    assert top[:, 0].tolist() == [130.0, 120.0, 110.0, 100.0]
    assert len(select_prompts(k, 0.3, 2, 80.0)) == 2


def test_exclusive_masks_only_change_the_new_ones():
    old = np.zeros((1, 4, 6), bool)
    old[0, :, :3] = True
    new = np.zeros((2, 4, 6), bool)
    new[0, :, 2:5] = True
    new[1, :, 4:] = True
    out = exclusive(new, np.array([0.9, 0.95]), old, np.array([0.5]))
    # new 0 scores more than old 0 on column 2, but old masks are not changed: both keep it there;
    # column 4 goes to new 1 (0.95 > 0.9)
    assert out[0].any(0).tolist() == [False, False, True, True, False, False]
    assert out[1].any(0).tolist() == [False, False, False, False, True, True]
    low = exclusive(new[:1], np.array([0.4]), old, np.array([0.5]))
    assert low[0].any(0).tolist() == [False, False, False, True, True, False]
    tie = exclusive(new[:1], np.array([0.5]), old, np.array([0.5]))
    assert not tie[0][:, 2].any()  # a tie goes to the earlier (old) person


def test_mask_out_paints_exactly_the_mask_pixels_black():
    frame = np.full((5, 7, 3), 200, np.uint8)
    m = np.zeros((2, 5, 7), bool)
    m[0, 1, 1] = m[1, 3, 2:5] = True
    out = mask_out(frame, m)
    assert (out[m.any(0)] == 0).all() and (out[~m.any(0)] == 200).all()
    assert (frame == 200).all()  # the input is untouched
    assert (mask_out(frame, np.zeros((0, 5, 7), bool)) == frame).all()
