"""A research-style BMP loop, for ``bench loop`` only: the method's rules computed the way the research
code computes them (without its correctness defects, so that both loops do the same work):

- the detector through ``mmdet.apis.inference_detector`` on a full-resolution masked-out copy;
- MaskPose per person through ``mmpose.apis.inference_topdown`` on the full frame dimmed by that
  person's full-resolution mask;
- SAM's image embedding recomputed (``SamPredictor.set_image``) in every iteration and one decoder call
  (``SamPredictor.predict``) per person;
- exclusive masks by full-resolution comparisons of each new mask with every other mask.
"""

from __future__ import annotations

import numpy as np

from bmp_ray.bmp.config import BMPConfig
from bmp_ray.bmp.rules import pose_nms, select_prompts
from bmp_ray.keypoints import pose_score
from bmp_ray.masks import paint_black
from bmp_ray.models.detector import fit_masks, select_people
from bmp_ray.models.pose_crops import dim_weights, fill_holes


def research_loop(frame: np.ndarray, detector, pose, sam, config: BMPConfig) -> list[dict]:
    """People of one (H, W, 3) uint8 RGB frame as dicts (box, score, keypoints, mask, iou, iteration).

    ``detector``, ``pose`` and ``sam`` are bmp_ray stages: only their loaded models are used.
    """
    from mmdet.apis import inference_detector
    from mmengine.registry import DefaultScope
    from mmpose.apis import inference_topdown
    from segment_anything import SamPredictor

    predictor = SamPredictor(sam.model)
    h, w = frame.shape[:2]
    people: list[dict] = []
    for it in range(1, config.iterations + 1):
        masked = frame.copy()
        for p in people:
            paint_black(masked, p["mask"])
        with DefaultScope.overwrite_default_scope("mmdet"):
            inst = inference_detector(detector.model, np.ascontiguousarray(masked[..., ::-1])).pred_instances
        boxes, keep = select_people(
            inst.bboxes.numpy(),
            inst.scores.numpy(),
            inst.labels.numpy(),
            h,
            w,
            config.det_score_thr,
            config.det_nms_iou,
        )
        if keep.size == 0:
            continue
        det_masks = fit_masks(inst.masks.numpy(), h, w)
        new = []
        for j in keep:
            m = det_masks[j]
            dimmed = frame.astype(np.float32) * dim_weights(fill_holes(m).astype(np.float32))[..., None]
            (res,) = inference_topdown(pose.model, np.ascontiguousarray(dimmed[..., ::-1]), boxes[j][None], "xyxy")
            k = np.concatenate([res.pred_instances.keypoints[0], res.pred_instances.keypoint_scores[0][:, None]], 1)
            new.append(
                {
                    "box": boxes[j],
                    "box_score": float(inst.scores[j]),
                    "kpts": k,
                    "score": pose_score(k),
                    "iteration": it,
                }
            )
        everyone = people + new
        alive = pose_nms(
            np.stack([p["kpts"] for p in everyone]),
            np.stack([p["box"] for p in everyone]),
            config.oks_thr,
            config.oks_vis_thr,
        )
        people = [p for p, a in zip(people, alive[: len(people)]) if a]
        new = [p for p, a in zip(new, alive[len(everyone) - len(new) :]) if a]
        if not new:
            continue
        predictor.set_image(frame)  # recomputed in every iteration
        for p in new:
            pts = select_prompts(p["kpts"], config.prompt_thr, config.max_prompts, config.prompt_percentile)
            if len(pts):
                m, q, _ = predictor.predict(pts, np.ones(len(pts)), multimask_output=False)
            else:
                m, q, _ = predictor.predict(box=p["box"], multimask_output=False)
            p["mask"], p["iou"] = m[0], float(q[0])
        for i, p in enumerate(new):  # full-resolution pairwise exclusivity
            keep_mask = p["mask"].copy()
            for other in people:
                if other["iou"] >= p["iou"]:
                    keep_mask &= ~other["mask"]
            for j, other in enumerate(new):
                if j != i and (other["iou"] > p["iou"] or (other["iou"] == p["iou"] and j < i)):
                    keep_mask &= ~other["mask"]
            p["final"] = keep_mask
        for p in new:
            p["mask"] = p.pop("final")
        people += new
    return people
