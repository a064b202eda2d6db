"""The loop with the test variants on every real image of the shared data, then COCO evaluation."""

import numpy as np

from bmp_ray.bmp import BMPConfig, BMPLoop
from bmp_ray.export.coco_eval import evaluate, load_ground_truth
from bmp_ray.testdata import annotated_images


def test_loop_on_the_real_images_then_cocoeval(stages, shared_data):
    det, pose, sam = stages
    loop = BMPLoop(det, pose, sam, BMPConfig())
    for subset in ("coco", "ochuman"):
        samples = annotated_images(shared_data, subset)
        results = loop([s.rgb for s in samples], video_id=subset)
        for s, r in zip(samples, results):
            assert (r.height, r.width) == s.rgb.shape[:2] and len(r) > 0
            assert np.isfinite(r.keypoints).all() and np.isfinite(r.mask_scores).all()
            assert (r.boxes[:, 2:] > r.boxes[:, :2]).all()
        gt = load_ground_truth(shared_data / "images" / subset / f"test_{subset}.json")
        ap = evaluate(gt, results, [s.image_id for s in samples])
        # random weights: the numbers mean nothing, but every type is scored
        assert all(0.0 <= ap[t] <= 1.0 for t in ("bbox", "segm", "keypoints"))
