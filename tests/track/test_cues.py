import numpy as np

from bmp_ray import masks as _masks
from bmp_ray.track import cues


def test_box_iou():
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array([[5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(cues.box_iou(a, b), [[1 / 3, 0.0, 0.0]])


def test_mask_iou_separates_exclusive_masks_whose_boxes_overlap():
    m = np.zeros((2, 40, 40), bool)
    m[0, 5:35, 5:20] = True  # left half of a shared box
    m[1, 5:35, 20:35] = True  # right half
    r = cues.rle_objects(_masks.encode(m), 40, 40) + [None]
    iou = cues.mask_iou(r, r)
    np.testing.assert_allclose(iou, [[1, 0, 0], [0, 1, 0], [0, 0, 0]])


def test_oks_uses_only_the_joints_confident_on_both_sides():
    a = np.zeros((1, 17, 2))
    b = np.zeros((2, 17, 2))
    b[1, :, 0] = 100.0  # far away
    ok = np.ones((1, 17), bool)
    s = cues.oks(a, ok, b, np.ones((2, 17), bool), np.array([100.0 * 100, 100.0 * 100]))
    assert s[0, 0] == 1.0 and s[0, 1] < 0.01
    b_ok = np.zeros((2, 17), bool)
    b_ok[1, :3] = True
    b[1, :3] = 0.0  # the three confident joints coincide; the far ones are ignored
    s = cues.oks(a, ok, b, b_ok, np.array([1e4, 1e4]))
    assert s[0, 0] == 0.0 and s[0, 1] == 1.0


def test_combine_leaves_out_missing_cues():
    box = np.array([[0.5, 0.5]])
    mask = np.array([[1.0, 1.0]])
    present = np.array([[True, False]])
    np.testing.assert_allclose(cues.combine([(1.0, box, None), (1.0, mask, present)]), [[0.75, 0.5]])
    np.testing.assert_allclose(cues.combine([(1.0, box, None), (0.0, mask, None)]), box)
