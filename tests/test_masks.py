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


def test_from_segmentation_reads_polygons_and_both_rle_forms_as_pycocotools_does():
    h, w = 40, 50
    poly = [[5, 5, 30, 5, 30, 25, 5, 25], [35, 30, 45, 30, 45, 38]]
    ref = coco.decode(coco.merge(coco.frPyObjects(poly, h, w))).astype(bool)
    m = masks.from_segmentation(poly, h, w)
    assert m.dtype == bool and m.shape == (h, w) and np.array_equal(m, ref) and m.sum() > 400
    compressed = coco.encode(np.asfortranarray(ref.astype(np.uint8)))
    as_text = {"size": compressed["size"], "counts": compressed["counts"].decode()}  # as in a json file
    assert np.array_equal(masks.from_segmentation(as_text, h, w), ref)
    flat = ref.T.reshape(-1)  # uncompressed RLE: column-major run lengths starting with zeros
    change = np.flatnonzero(np.diff(np.r_[0, flat.astype(int), 2 if flat[-1] == 0 else -1]))
    runs = np.diff(np.r_[0, change]).tolist()
    assert np.array_equal(masks.from_segmentation({"size": [h, w], "counts": runs}, h, w), ref)
