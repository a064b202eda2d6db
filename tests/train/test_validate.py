"""Detector validation: the masked-out ground truth, and the scores pycocotools gives known detections."""

import numpy as np
import pytest

from bmp_ray.masks import decode, encode, from_segmentation
from bmp_ray.models.detector import Detections
from bmp_ray.train.validate import DetectionValidator


@pytest.fixture(scope="module")
def validator(shared_data):
    coco = shared_data / "images" / "coco"
    return DetectionValidator(coco / "test_coco.json", coco, "rtmdet-ins-tiny", seed=3)


def _as_detections(gt, image_ids, size_of):
    out = []
    for image_id in image_ids:
        anns = [a for a in gt.imgToAnns.get(image_id, []) if not a["iscrowd"]]
        h, w = size_of[image_id]
        xywh = (a["bbox"] for a in anns)
        boxes = np.array([[x, y, x + bw, y + bh] for x, y, bw, bh in xywh], np.float32).reshape(-1, 4)
        masks = (
            np.stack([from_segmentation(a["segmentation"], h, w) for a in anns]) if anns else np.zeros((0, h, w), bool)
        )
        out.append(Detections(boxes, np.ones(len(anns), np.float32), np.array(encode(masks), object).reshape(-1), h, w))
    return out


def test_masked_ground_truth_drops_the_painted_and_the_covered(validator, coco_dir):
    assert len(validator.gt.anns) == 14
    for image_id, _, (h, w), erase, painted in validator.items:
        assert erase is not None and len(painted) >= 1  # every image with people gets someone painted
        paint = decode([erase], h, w)[0]
        for a in validator.gt.imgToAnns[image_id]:
            m = from_segmentation(a["segmentation"], h, w)
            kept = a["id"] in validator.masked_gt.anns
            assert kept == ((m & paint).sum() < 0.7 * m.sum())
    again = DetectionValidator(coco_dir / "test_coco.json", coco_dir, "rtmdet-ins-tiny", seed=3)
    assert set(again.masked_gt.anns) == set(validator.masked_gt.anns)  # the draw is fixed by the seed


def test_scores_of_known_detections_agree_with_what_they_are(validator):
    ids = [i[0] for i in validator.items]
    sizes = {i[0]: i[2] for i in validator.items}
    everyone = _as_detections(validator.gt, ids, sizes)
    unpainted = _as_detections(validator.masked_gt, ids, sizes)
    # the ground truth itself: AP 1 on the plain images
    m = validator.score({"plain": everyone, "masked": unpainted})
    assert m["val_bbox_AP"] == m["val_segm_AP"] == pytest.approx(1.0)
    assert m["val_masked_bbox_AP"] == m["val_masked_segm_AP"] == pytest.approx(1.0)
    assert m["val_masked_redetected"] == 0.0
    # a detector that still finds the painted people: false positives on the masked images
    m = validator.score({"plain": everyone, "masked": everyone})
    assert m["val_masked_redetected"] == 1.0 and m["val_masked_bbox_AP"] < 1.0
    assert m["val_bbox_AP"] == pytest.approx(1.0)
    # one person missed on the plain images
    fewer = list(everyone)
    d = fewer[2]
    fewer[2] = Detections(d.boxes[1:], d.scores[1:], d.masks[1:], d.height, d.width)
    assert validator.score({"plain": fewer, "masked": unpainted})["val_bbox_AP"] < 1.0


def test_the_model_runs_through_the_inference_detector(validator, test_weights):
    from bmp_ray.models.build import load_model

    model = load_model("rtmdet-ins-tiny", test_weights).module.train()
    found = validator.detect(model)
    assert model.training  # left as it came
    assert [len(found["plain"]), len(found["masked"])] == [4, 4]
    assert all(0 <= v <= 1 for v in validator.score(found).values())
