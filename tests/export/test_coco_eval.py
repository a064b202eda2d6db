import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from bmp_ray.export.coco_eval import (
    evaluate,
    ground_truth_results,
    load_ground_truth,
    to_coco_results,
)


@pytest.fixture(params=["coco", "ochuman"])
def gt(request, shared_data):
    return load_ground_truth(shared_data / "images" / request.param / f"test_{request.param}.json")


def test_ground_truth_scores_ap_one(gt):
    results, ids = ground_truth_results(gt)
    ap = evaluate(gt, results, ids)
    assert ap["bbox"] == pytest.approx(1.0) and ap["segm"] == pytest.approx(1.0)
    assert ap["keypoints"] == pytest.approx(1.0)


def test_dropping_one_person_lowers_every_ap(gt):
    results, ids = ground_truth_results(gt)
    big = max(range(len(results)), key=lambda i: len(results[i]))
    results[big] = results[big][1:]
    ap = evaluate(gt, results, ids)
    assert ap["bbox"] < 0.99 and ap["segm"] < 0.99 and ap["keypoints"] < 0.99


def test_agrees_with_pycocotools_on_its_own_json(gt, tmp_path):
    """The same numbers as pycocotools' loadRes + COCOeval fed our results JSON from a file."""
    results, ids = ground_truth_results(gt)
    jitter = [r for r in results]
    rng = np.random.default_rng(0)
    dets = to_coco_results(jitter, ids)
    for d in dets:
        d["bbox"] = [v + float(rng.normal(0, 3)) for v in d["bbox"]]
        d["score"] = float(rng.uniform(0.3, 1.0))
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(dets))
    plain = COCO()
    plain.dataset = gt.dataset
    plain.createIndex()
    ev = COCOeval(plain, plain.loadRes(str(path)), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    ours = COCOeval(gt, gt.loadRes(json.loads(path.read_text())), "bbox")
    ours.evaluate()
    ours.accumulate()
    ours.summarize()
    assert ev.stats[0] == pytest.approx(ours.stats[0]) and 0 < ev.stats[0] < 1


def test_ochuman_string_sizes_are_repaired(shared_data):
    gt = load_ground_truth(shared_data / "images" / "ochuman" / "test_ochuman.json")
    a = gt.loadAnns(gt.getAnnIds())[0]
    assert isinstance(a["segmentation"]["size"], list) and gt.annToMask(a).any()


def test_result_entries_are_coco_shaped(gt):
    results, ids = ground_truth_results(gt)
    (d, *_) = to_coco_results(results, ids, score="pose")
    assert set(d) == {"image_id", "category_id", "score", "bbox", "segmentation", "keypoints"}
    assert len(d["keypoints"]) == 51 and d["category_id"] == 1 and len(d["bbox"]) == 4
    with pytest.raises(ValueError, match="image_ids: expected one per result"):
        to_coco_results(results, ids[:-1])
