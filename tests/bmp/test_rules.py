import numpy as np
import pytest

from bmp_ray.bmp.rules import (
    COCO_SIGMAS,
    box_areas,
    oks_matrix,
    pose_nms,
    select_prompts,
)
from tests.bmp.oracles import exclusive


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


def box(cx, cy, half):
    return [cx - half, cy - half, cx + half, cy + half]


def test_oks_matches_the_coco_formula_with_the_reference_s_visible_keypoints():
    a, b = person(50, 50), person(50, 50)
    b[:, 0] += 3.0
    boxes = np.array([box(50, 50, 50)] * 2, float)
    area = 100.0 * 100.0
    o = oks_matrix(np.stack([a, b]), boxes, 0.3)
    expected = np.exp(-9.0 / (2 * COCO_SIGMAS) ** 2 / (area + np.spacing(1)) / 2).mean()
    assert o[0, 1] == pytest.approx(expected) and o[1, 0] == pytest.approx(expected) and o[0, 0] == 1
    b[5:, 2] = 0.2  # the candidate's scores play no part in OKS(a, b) ...
    o = oks_matrix(np.stack([a, b]), boxes, 0.3)
    assert o[0, 1] == pytest.approx(expected)
    # ... but as the reference only b's 5 visible keypoints count
    assert o[1, 0] == pytest.approx(np.exp(-9.0 / (2 * COCO_SIGMAS[:5]) ** 2 / area / 2).mean())
    b[5, 2] = 0.3  # visible means strictly above the threshold
    assert oks_matrix(np.stack([a, b]), boxes, 0.3)[1, 0] == pytest.approx(o[1, 0])


def test_oks_is_asymmetric_the_reference_s_own_box_area_sets_the_scale():
    """The same pose seen in a large box (i) and a small one (j): OKS(i, j) > 0.8 > OKS(j, i). The old
    symmetric rule (mean area) gave one value for both."""
    i, j = person(100, 100, spread=8), person(100, 100, spread=8)
    j[:, :2] += 3.0
    boxes = np.array([box(100, 100, 100), box(100, 100, 20)], float)
    o = oks_matrix(np.stack([i, j]), boxes, 0.3)
    assert o[0, 1] > 0.8 > o[1, 0]
    # pose NMS: the pair (i, j) is the only duplicate; equal visible counts remove the reference i
    assert pose_nms(np.stack([i, j]), boxes, 0.8, 0.3).tolist() == [False, True]
    j[16, 2] = 0.1  # i now sees more keypoints than j: j goes
    assert pose_nms(np.stack([i, j]), boxes, 0.8, 0.3).tolist() == [True, False]


def test_oks_fallback_for_a_reference_with_no_visible_keypoint():
    """COCO's rule: j's keypoints measured by how far they lie outside i's box grown by its width and
    height on every side (x from x1 - w to x2 + w), all 17 counted. The old rule gave 0."""
    i = person(100, 100, score=0.1, n_vis=0)  # nobody visible in the reference
    j = person(100, 100)
    boxes = np.array([[80, 60, 120, 140], [80, 60, 120, 140]], float)  # w 40, h 80
    kpts = np.stack([i, j])
    assert oks_matrix(kpts, boxes, 0.3)[0, 1] == 1.0  # every keypoint of j inside the grown box
    far = j.copy()
    far[:, :2] = [170.0, 230.0]  # 10 px right of x2 + w = 160, 10 px below y2 + h = 220
    d2 = 10.0**2 + 10.0**2
    expected = np.exp(-d2 / (2 * COCO_SIGMAS) ** 2 / (40 * 80 + np.spacing(1)) / 2).mean()
    assert oks_matrix(np.stack([i, far]), boxes, 0.3)[0, 1] == pytest.approx(expected)
    # the xywh misreading would grow the box to x <= 120 + 2 * 120: far would be inside, OKS 1
    assert expected < 1.0
    # pose NMS: OKS(i, j) = 1 > 0.8, and i (0 visible) does not see more than j: i goes
    assert pose_nms(kpts, boxes, 0.8, 0.3).tolist() == [False, True]


def test_oks_area_from_xyxy_boxes_decides_duplicates():
    """Two poses 4 px apart in boxes at (1000, 1000): with the xyxy area (40 x 40) they are distinct
    people; the xywh misreading (area 1040 * 1040) would merge them."""
    a, b = person(1020, 1020), person(1020, 1020)
    b[:, :2] += 4.0
    boxes = np.array([[1000, 1000, 1040, 1040], [1004, 1004, 1044, 1044]], float)
    kpts = np.stack([a, b])
    assert pose_nms(kpts, boxes, 0.8, 0.3).tolist() == [True, True]
    wrong = boxes.copy()
    wrong[:, 2:] += wrong[:, :2]  # what reading xyxy as xywh amounts to
    assert oks_matrix(kpts, wrong, 0.3)[0, 1] > 0.8


def test_pose_nms_drops_the_one_with_fewer_visible_keypoints_old_or_new():
    old = person(100, 100, n_vis=10)
    new = person(100, 100, n_vis=15)  # the same person, better seen
    far = person(400, 400)
    boxes = np.array([box(100, 100, 50), box(100, 100, 50), box(400, 400, 50)], float)
    alive = pose_nms(np.stack([old, new, far]), boxes, 0.8, 0.3)
    assert alive.tolist() == [False, True, True]  # the earlier person loses and is removed


def test_pose_nms_equal_visible_counts_remove_the_reference_whatever_the_scores():
    """Identical people: OKS is 1 both ways, the first pair in row-major order is (0, 1), and the
    reference 0 goes (the old rule kept the higher person score). A keypoint at exactly 0.3 is not
    visible, so it does not break the tie."""
    a, b = person(100, 100), person(100, 100)
    boxes = np.array([box(100, 100, 50)] * 2, float)
    assert pose_nms(np.stack([a, b]), boxes, 0.8, 0.3).tolist() == [False, True]
    a[16, 2] = b[16, 2] = 0.1
    a[16, 2] = 0.3
    assert pose_nms(np.stack([a, b]), boxes, 0.8, 0.3).tolist() == [False, True]
    a[16, 2] = 0.31  # now a sees more: b goes
    assert pose_nms(np.stack([a, b]), boxes, 0.8, 0.3).tolist() == [True, False]


def test_pose_nms_threshold_is_strict():
    a, b = person(100, 100), person(100, 100)
    b[:, 0] += 3.0
    boxes = np.array([box(100, 100, 50)] * 2, float)
    o = oks_matrix(np.stack([a, b]), boxes, 0.3)[0, 1]
    assert pose_nms(np.stack([a, b]), boxes, o, 0.3).tolist() == [True, True]
    assert pose_nms(np.stack([a, b]), boxes, o - 1e-9, 0.3).tolist() == [False, True]


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
    o = oks_matrix(kpts, boxes, 0.3)
    assert max(o[1, 2], o[2, 1]) > max(o[0, 1], o[1, 0]) > 0.8 > max(o[0, 2], o[2, 0])
    assert pose_nms(kpts, boxes, 0.8, 0.3).tolist() == [True, False, True]


def line(scores, xs):
    """(17, 3) keypoints with the given scores and x positions from keypoint 3 on (y = 0), face and the
    rest at 0.1."""
    k = np.zeros((17, 3))
    k[:, 2] = 0.1
    k[3 : 3 + len(scores), 2] = scores
    k[3 : 3 + len(xs), 0] = xs
    return k


def test_prompts_collapse_the_face_to_its_most_confident_point():
    k = np.zeros((17, 3))
    k[:, 0] = np.arange(17) * 10.0
    k[:, 2] = 0.1
    k[[0, 1, 2], 2] = [0.5, 0.7, 0.6]  # nose, eyes: only the left eye stays
    k[5, 2] = 0.9
    assert select_prompts(k, 0.3, 6, 80.0)[:, 0].tolist() == [50.0, 10.0]
    k[[0, 1, 2], 2] = [0.6, 0.6, 0.6]  # a tie: the first (nose)
    assert select_prompts(k, 0.3, 6, 80.0)[:, 0].tolist() == [50.0, 0.0]
    k[[0, 1, 2], 2] = [0.3, 0.2, 0.1]  # the best face point at exactly 0.3 collapses the three too
    assert select_prompts(k, 0.3, 6, 80.0)[:, 0].tolist() == [50.0, 0.0]


def test_prompts_visible_count_is_strict_and_candidates_are_not():
    """A person whose best keypoints sit at exactly 0.3 has no visible keypoint: no points (the loop
    prompts with the box); once one is above 0.3, those at exactly 0.3 are candidates."""
    k = line([0.3, 0.3, 0.1], [0, 50, 100])
    assert select_prompts(k, 0.3, 6, 80.0).shape == (0, 2)
    k[3, 2] = 0.31
    assert select_prompts(k, 0.3, 6, 80.0)[:, 0].tolist() == [0.0, 50.0]
    assert select_prompts(line([0.29] * 14, range(14)), 0.3, 6, 80.0).shape == (0, 2)


def test_prompts_equal_scores_put_the_later_entry_first():
    k = line([0.9, 0.9], [0, 50])
    assert select_prompts(k, 0.3, 6, 80.0)[:, 0].tolist() == [50.0, 0.0]


def test_prompts_percentile_cut_falls_as_points_are_chosen():
    """After choosing the 0.9, 0.8 and 0.7 points, c = [-1, -1, -1, .6, .5, .4]: its 80th percentile is
    0.5, so the 0.5 point at x = 25 (25 px from the nearest chosen) beats the 0.6 point at x = 60 (10 px).
    The remaining-only rule's cut (0.56, over [.6, .5, .4]) admitted only the 0.6 point."""
    k = line([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [0, 100, 50, 60, 25, 75])
    assert select_prompts(k, 0.3, 6, 80.0)[:, 0].tolist() == [0, 100, 50, 25, 75, 60]
    assert select_prompts(k, 0.3, 4, 80.0)[:, 0].tolist() == [0, 100, 50, 25]


def test_prompts_spread_greedily_under_the_percentile_rule_at_most_six():
    k = np.zeros((17, 3))
    k[3:, 0] = np.linspace(0, 130, 14)
    k[:, 2] = 0.1
    k[3:, 2] = np.linspace(0.5, 0.95, 14)  # ears .. ankles visible, the ankle most confident
    pts = select_prompts(k, 0.3, 6, 80.0)
    assert len(pts) == 6
    assert pts[0].tolist() == [130.0, 0.0]
    # with percentile 0 every candidate is admitted: pure farthest-point order; 60 and 70 are both 60 px
    # from the chosen 0 and 130, and the first in candidate (score) order wins: 70
    far = select_prompts(k, 0.3, 3, 0.0)
    assert far[:, 0].tolist() == [130.0, 0.0, 70.0]
    # with percentile 100 only the most confident unchosen point is admitted: score order
    top = select_prompts(k, 0.3, 4, 100.0)
    assert top[:, 0].tolist() == [130.0, 120.0, 110.0, 100.0]
    assert len(select_prompts(k, 0.3, 2, 80.0)) == 2


# The spec's two sections transcribed literally, person by person and keypoint by keypoint, as an oracle
# for the vectorised rules on random crowds (``shared/spec/bmp-method.md``).


def spec_oks(ki, kj, bi):
    x1, y1, x2, y2 = bi
    area = (x2 - x1) * (y2 - y1)
    vis = [k for k in range(17) if ki[k, 2] > 0.3]
    terms = []
    for k in vis or range(17):
        if vis:
            d2 = (ki[k, 0] - kj[k, 0]) ** 2 + (ki[k, 1] - kj[k, 1]) ** 2
        else:
            w, h = x2 - x1, y2 - y1
            dx = max(0.0, (x1 - w) - kj[k, 0]) + max(0.0, kj[k, 0] - (x2 + w))
            dy = max(0.0, (y1 - h) - kj[k, 1]) + max(0.0, kj[k, 1] - (y2 + h))
            d2 = dx**2 + dy**2
        terms.append(np.exp(-d2 / (2 * COCO_SIGMAS[k]) ** 2 / (area + np.spacing(1)) / 2))
    return float(np.mean(terms))


def spec_pose_nms(kpts, boxes):
    n = len(kpts)
    alive = [True] * n
    nvis = [int((k[:17, 2] > 0.3).sum()) for k in kpts]
    while True:
        best, pair = 0.8, None
        for i in range(n):
            for j in range(n):
                if i != j and alive[i] and alive[j]:
                    o = spec_oks(kpts[i], kpts[j], boxes[i])
                    if o > best:
                        best, pair = o, (i, j)
        if pair is None:
            return alive
        i, j = pair
        alive[j if nvis[i] > nvis[j] else i] = False


def spec_prompts(k):
    if not any(k[m, 2] > 0.3 for m in range(17)):
        return []
    face = max(range(3), key=lambda m: (k[m, 2], -m))
    entries = [k[face]] + [k[m] for m in range(3, 17)] if k[face, 2] >= 0.3 else [k[m] for m in range(17)]
    cand = sorted(
        [m for m in range(len(entries)) if entries[m][2] >= 0.3], key=lambda m: (entries[m][2], m), reverse=True
    )
    pts = [entries[m][:2] for m in cand]
    c = [entries[m][2] for m in cand]
    chosen = [0]
    c[0] = -1.0
    for _ in range(len(cand) - 1):
        cut = np.percentile(c, 80)
        dist = [-1.0 if c[m] < cut else min(np.hypot(*(pts[m] - pts[q])) for q in chosen) for m in range(len(cand))]
        nxt = dist.index(max(dist))
        chosen.append(nxt)
        c[nxt] = -1.0
    return [pts[m].tolist() for m in chosen[:6]]


def crowd(rng, n):
    """n people, about a third of them near-duplicates of another (a second detection pass's output)."""
    kpts, boxes = [], []
    for p in range(n):
        if p and rng.random() < 0.35:
            q = rng.integers(p)
            k = kpts[q] + np.concatenate([rng.normal(0, 3, (17, 2)), np.zeros((17, 1))], 1)
            k[:, 2] = np.clip(kpts[q][:, 2] + rng.normal(0, 0.1, 17), 0, 1)
            b = boxes[q] * rng.uniform(0.8, 1.25) + rng.normal(0, 3, 4)
        else:
            cx, cy, half = rng.uniform(50, 500), rng.uniform(50, 500), rng.uniform(10, 80)
            k = np.concatenate([rng.uniform(-half, half, (17, 2)) + [cx, cy], rng.uniform(0, 1, (17, 1))], 1)
            b = np.array(box(cx, cy, half))
        if rng.random() < 0.1:
            k[:, 2] = rng.uniform(0, 0.3, 17)  # nobody visible: COCO's fallback
        k[rng.random(17) < 0.1, 2] = 0.3  # exact threshold values
        kpts.append(k)
        boxes.append(np.sort(b.reshape(2, 2), axis=0).reshape(4))
    return np.stack(kpts), np.stack(boxes)


def test_rules_equal_the_spec_transcription_on_random_crowds():
    rng = np.random.default_rng(17)
    removed = 0
    for _ in range(150):
        kpts, boxes = crowd(rng, int(rng.integers(2, 9)))
        alive = pose_nms(kpts, boxes, 0.8, 0.3)
        assert alive.tolist() == spec_pose_nms(kpts, boxes)
        removed += int((~alive).sum())
        for k in kpts:
            got, want = select_prompts(k, 0.3, 6, 80.0), np.array(spec_prompts(k)).reshape(-1, 2)
            np.testing.assert_allclose(got, want, rtol=1e-6)
    assert removed > 50  # the crowds do exercise the NMS


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
