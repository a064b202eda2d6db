import numpy as np
import pytest

from bmp_ray.models.detector import Detector, fit_masks, person_nms, select_people


@pytest.fixture(scope="module")
def detector(weights_dir):
    return Detector("rtmdet-ins-tiny", weights_dir)


def reference(det: Detector, rgb: np.ndarray, nms_iou: float | None = None):
    """mmdet's own API on the same weights, filtered by the same BMP rule."""
    from mmdet.apis import inference_detector
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope("mmdet"):  # inference_detector does not set it
        inst = inference_detector(det.model, np.ascontiguousarray(rgb[..., ::-1])).pred_instances
    boxes, keep = select_people(
        inst.bboxes.numpy(),
        inst.scores.numpy(),
        inst.labels.numpy(),
        *rgb.shape[:2],
        det.score_thr,
        det.nms_iou if nms_iou is None else nms_iou,
    )
    return boxes[keep], inst.scores.numpy()[keep], fit_masks(inst.masks.numpy()[keep], *rgb.shape[:2])


def canonical(boxes, scores):  # equal scores (random weights give many) may come in either order
    return np.lexsort((boxes[:, 1].round(2), boxes[:, 0].round(2), -scores.round(5)))


def test_equals_mmdet_inference_detector_batched_over_frames_of_different_sizes(detector, all_images):
    results = detector([s.rgb for s in all_images])
    total_mask_pixels = 0
    outside_boxes = 0
    for s, dets in zip(all_images, results):
        boxes, scores, masks = reference(detector, s.rgb)
        assert len(dets) == len(boxes) > 0
        a, b = canonical(dets.boxes, dets.scores), canonical(boxes, scores)
        np.testing.assert_allclose(dets.boxes[a], boxes[b], atol=1e-3)
        np.testing.assert_allclose(dets.scores[a], scores[b], atol=1e-5)
        assert (dets.mask_array()[a] == masks[b]).all()  # every pixel of the frame, bit for bit
        assert (dets.height, dets.width) == s.rgb.shape[:2]
        assert np.all(np.diff(dets.scores) <= 0) and (dets.scores > 0.3).all()
        total_mask_pixels += masks.sum()
        outside_boxes += masks.sum() - sum(
            m[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))].sum() for m, (x0, y0, x1, y1) in zip(masks, boxes)
        )
    assert total_mask_pixels > 0  # the comparison covered real masks, not only empty ones
    assert outside_boxes > 0  # mmdet's masks are not clipped to their boxes: ours keep those pixels too


def test_equals_mmdet_at_1080p_with_many_people(detector, coco_images):
    rgb = np.ascontiguousarray(np.tile(coco_images[0].rgb, (3, 3, 1))[:1080, :1920])
    (dets,) = detector([rgb], nms_iou=0.7)
    boxes, scores, masks = reference(detector, rgb, nms_iou=0.7)
    assert len(dets) == len(boxes) >= 10
    a, b = canonical(dets.boxes, dets.scores), canonical(boxes, scores)
    np.testing.assert_allclose(dets.boxes[a], boxes[b], atol=1e-3)
    assert np.array_equal(dets.mask_array()[a], masks[b]) and masks.sum() > 0


def test_people_only_and_box_nms():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10], [40, 40, 50, 50]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.95, 0.2], np.float32)
    labels = np.array([0, 0, 0, 1, 0])
    # the dog (label 1) is ignored, the second box overlaps the first (IoU 0.81), the last is below 0.3
    assert person_nms(boxes, scores, labels, 0.3, 0.3).tolist() == [0, 2]
    assert person_nms(boxes, scores, labels, 0.3, 0.9).tolist() == [0, 1, 2]
    assert person_nms(boxes, scores, labels, 0.99, 0.3).size == 0


def test_no_people_gives_zero_rows_not_a_phantom(weights_dir, coco_images):
    (dets,) = Detector("rtmdet-ins-tiny", weights_dir, score_thr=1.0)([coco_images[0].rgb])
    assert len(dets) == 0 and dets.boxes.shape == (0, 4) and dets.mask_array().shape == (0, 425, 640)


def test_erase_paints_pixels_black_before_detection(detector, coco_images):
    rgb = coco_images[2].rgb
    erase = np.zeros(rgb.shape[:2], bool)
    erase[50:300, 100:400] = True
    painted = rgb.copy()
    painted[erase] = 0
    (a, b, c) = detector([rgb, rgb, painted], erase=[erase, None, None])
    np.testing.assert_array_equal(a.boxes, c.boxes)
    assert not np.array_equal(a.boxes, b.boxes)


def test_max_per_img_caps_the_detector_itself(weights_dir, coco_images):
    (few,) = Detector("rtmdet-ins-tiny", weights_dir, max_per_img=5)([coco_images[1].rgb])
    assert 0 < len(few) <= 5
    with pytest.raises(ValueError, match="max_per_img: expected an integer >= 1, got 0"):
        Detector("rtmdet-ins-tiny", weights_dir, max_per_img=0)


def test_grayscale_and_odd_sizes(detector):
    rng = np.random.default_rng(0)
    frames = [
        rng.integers(0, 255, (37, 53), np.uint8),
        rng.integers(0, 255, (481, 7, 3), np.uint8),
        rng.integers(0, 255, (1, 1, 1), np.uint8),
    ]
    for f, dets in zip(frames, detector(frames)):
        assert dets.mask_array().shape[1:] == f.shape[:2]
        h, w = f.shape[:2]
        assert (dets.boxes >= 0).all() and (dets.boxes[:, [0, 2]] <= w).all() and (dets.boxes[:, [1, 3]] <= h).all()
        assert ((dets.boxes[:, 2:] - dets.boxes[:, :2]) > 0).all()


def test_bad_inputs_are_named(detector, weights_dir):
    with pytest.raises(ValueError, match=r"frames\[0\]: expected uint8 pixels, got float32"):
        detector([np.zeros((8, 8, 3), np.float32)])
    with pytest.raises(ValueError, match=r"frames\[1\]: expected \(H, W, 3\) RGB .* got shape \(8, 8, 4\)"):
        detector([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 4), np.uint8)])
    with pytest.raises(ValueError, match=r"erase\[0\]: expected shape \(8, 8\), got \(4, 4\)"):
        detector([np.zeros((8, 8, 3), np.uint8)], erase=[np.zeros((4, 4), bool)])
    with pytest.raises(ValueError, match="score_thr: expected a number in \\[0, 1\\], got 3"):
        Detector("rtmdet-ins-tiny", weights_dir, score_thr=3)
    with pytest.raises(ValueError, match="is a pose model"):
        Detector("vitpose-tiny", weights_dir)
    assert detector([]) == []
