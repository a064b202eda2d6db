"""COCO evaluation of ``FrameResult`` lists with pycocotools' own ``COCOeval``.

``to_coco_results`` converts results to COCO results JSON (person = category 1; bbox xywh; segmentation
as compressed RLE; the 17 COCO keypoints, ``bmp_ray.keypoints.COCO_NAMES``, the first 17 of either
layout); ``evaluate`` runs COCOeval for bbox, segm and keypoints. Boxes and masks are scored by the
detector score, keypoints by the pose score (mean of 17 keypoints). ``export.coco`` writes an output
folder's results in this form and evaluates them against ground truth (``bmp-ray export --gt``).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
from typing import Sequence

import numpy as np
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from bmp_ray.boxes import coco_boxes, xyxy_to_xywh
from bmp_ray.keypoints import COCO_NAMES
from bmp_ray.result import FrameResult

IOU_TYPES = ("bbox", "segm", "keypoints")


def load_ground_truth(source: str | os.PathLike | dict) -> COCO:
    """A pycocotools ``COCO`` from a file or dict, with what some sets get wrong repaired.

    OCHuman stores an RLE's ``size`` as the string ``"[h, w]"``; it becomes a list. Missing ``iscrowd``
    is 0; a missing ``area`` is the mask's (or the box's) area.
    """
    data = copy.deepcopy(source) if isinstance(source, dict) else json.loads(open(source).read())
    for a in data.get("annotations", []):
        seg = a.get("segmentation")
        if isinstance(seg, dict) and isinstance(seg.get("size"), str):
            seg["size"] = [int(v) for v in json.loads(seg["size"])]
        a.setdefault("iscrowd", 0)
        if "area" not in a:
            if isinstance(seg, dict):
                a["area"] = float(coco_mask.area(_as_rle(seg)))
            else:
                a["area"] = float(a["bbox"][2] * a["bbox"][3])
    data.setdefault("categories", [{"id": 1, "name": "person"}])
    gt = COCO()
    gt.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def _as_rle(seg: dict) -> dict:
    counts = seg["counts"]
    if isinstance(counts, list):  # uncompressed RLE
        return coco_mask.frPyObjects(seg, *seg["size"])
    return {"size": seg["size"], "counts": counts.encode() if isinstance(counts, str) else counts}


def to_coco_results(results: Sequence[FrameResult], image_ids: Sequence[int], score: str = "box") -> list[dict]:
    """COCO results JSON entries, one per person.

    Args:
        results: one ``FrameResult`` per image.
        image_ids: the COCO image id of each result.
        score: "box" (detector score) or "pose" (pose score) as each entry's ``score``.
    """
    if len(results) != len(image_ids):
        raise ValueError(f"image_ids: expected one per result ({len(results)}), got {len(image_ids)}")
    if score not in ("box", "pose"):
        raise ValueError(f"score: expected 'box' or 'pose', got {score!r}")
    out = []
    for r, image_id in zip(results, image_ids):
        scores = r.box_scores if score == "box" else r.pose_scores
        xywh = xyxy_to_xywh(r.boxes, np.float64)
        for j in range(len(r)):
            out.append(
                {
                    "image_id": int(image_id),
                    "category_id": 1,
                    "score": float(scores[j]),
                    "bbox": xywh[j].tolist(),
                    "segmentation": {"size": [r.height, r.width], "counts": r.masks[j].decode()},
                    "keypoints": [float(v) for v in r.keypoints[j, : len(COCO_NAMES)].reshape(-1)],
                }
            )
    return out


def cocoeval(
    gt: COCO, dets: list[dict], iou_type: str, image_ids: Sequence[int], cat_ids: Sequence[int] | None = None
) -> list[float]:
    """pycocotools' 12 summary ``stats`` of COCO results ``dets`` on ``image_ids`` (all 0 when empty),
    over ``cat_ids`` (default every category of ``gt``)."""
    if not dets:
        return [0.0] * 12
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(copy.deepcopy(dets))
        ev = COCOeval(gt, dt, iou_type)
        ev.params.imgIds = [int(i) for i in image_ids]
        if cat_ids is not None:
            ev.params.catIds = [int(c) for c in cat_ids]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(v) for v in ev.stats]


def evaluate(
    gt: COCO, results: Sequence[FrameResult], image_ids: Sequence[int], iou_types: Sequence[str] = IOU_TYPES
) -> dict[str, float]:
    """COCO AP (IoU / OKS 0.50:0.95) per type; pycocotools' full ``stats`` under ``<type>_stats``."""
    out: dict = {}
    for iou_type in iou_types:
        dets = to_coco_results(results, image_ids, score="pose" if iou_type == "keypoints" else "box")
        if not dets:
            out[iou_type] = 0.0
            continue
        stats = cocoeval(gt, dets, iou_type, image_ids)
        out[iou_type] = stats[0]
        out[f"{iou_type}_stats"] = stats
    return out


def ground_truth_results(gt: COCO, image_ids: Sequence[int] | None = None) -> tuple[list[FrameResult], list[int]]:
    """The ground truth itself as ``FrameResult`` lists (scores 1; keypoint score 1 where labelled)."""
    ids = sorted(gt.getImgIds()) if image_ids is None else list(image_ids)
    results = []
    for image_id in ids:
        info = gt.loadImgs(image_id)[0]
        anns = gt.loadAnns(gt.getAnnIds(imgIds=image_id))
        h, w = int(info["height"]), int(info["width"])
        n = len(anns)
        boxes = coco_boxes(anns)
        kpts = np.array([a.get("keypoints", [0] * 51) for a in anns], np.float32).reshape(n, 17, 3)
        kpts[:, :, 2] = (kpts[:, :, 2] > 0).astype(np.float32)
        masks = np.stack([gt.annToMask(a).astype(bool) for a in anns]) if n else np.zeros((0, h, w), bool)
        r = FrameResult.from_dense(
            f"image-{image_id}",
            0,
            0.0,
            boxes=boxes,
            box_scores=np.ones(n),
            keypoints=kpts,
            masks=masks,
            mask_scores=np.ones(n),
            iterations=np.ones(n, np.int8),
        )
        results.append(r)
    return results, ids
