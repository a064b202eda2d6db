import numpy as np
from pycocotools import mask as coco

from bmp_ray import masks


def test_encode_decode_round_trip_and_area_bbox_match_pycocotools():
    rng = np.random.default_rng(0)
    m = rng.random((3, 13, 7)) > 0.6
    m[2] = False
    counts = masks.encode(m)
    np.testing.assert_array_equal(masks.decode(counts, 13, 7), m)
    np.testing.assert_array_equal(masks.area(counts, 13, 7), m.sum(axis=(1, 2)))
    ref = coco.toBbox(coco.encode(np.asfortranarray(m[0].astype(np.uint8))))
    np.testing.assert_allclose(masks.to_bbox(counts, 13, 7)[0], [ref[0], ref[1], ref[0] + ref[2], ref[1] + ref[3]])


def test_empty_inputs_and_single_mask():
    assert masks.encode(np.zeros((0, 4, 5), bool)) == []
    assert masks.decode([], 4, 5).shape == (0, 4, 5)
    assert masks.area([], 4, 5).shape == (0,) and masks.to_bbox([], 4, 5).shape == (0, 4)
    assert len(masks.encode(np.ones((4, 5), bool))) == 1
