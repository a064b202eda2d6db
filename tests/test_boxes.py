import numpy as np

from bmp_ray.boxes import coco_boxes, xywh_to_xyxy, xyxy_to_xywh


def test_coco_xywh_and_xyxy_round_trip():
    xywh = [[10, 20, 30, 40], [0.5, 0, 1, 2]]
    xyxy = xywh_to_xyxy(xywh)
    np.testing.assert_array_equal(xyxy, [[10, 20, 40, 60], [0.5, 0, 1.5, 2]])
    assert xyxy.dtype == np.float32 and xyxy.shape == (2, 4)
    np.testing.assert_array_equal(xyxy_to_xywh(xyxy), xywh)
    assert xywh_to_xyxy([]).shape == (0, 4)
    np.testing.assert_array_equal(coco_boxes([{"bbox": [1, 2, 3, 4]}]), [[1, 2, 4, 6]])


def test_float64_boxes_keep_their_values():
    xyxy = xywh_to_xyxy([[0.1, 0.2, 0.3, 0.4]], np.float64)
    assert xyxy.dtype == np.float64 and xyxy[0].tolist() == [0.1, 0.2, 0.1 + 0.3, 0.2 + 0.4]
    assert xyxy_to_xywh(xyxy, np.float64)[0].tolist() == [0.1, 0.2, (0.1 + 0.3) - 0.1, (0.2 + 0.4) - 0.2]
