"""Validation during training with pycocotools on a held-out COCO set.

``KeypointValidator`` (pose): COCO keypoint AP. People are given by their ground-truth boxes (and, for
MaskPose, their ground-truth masks), the standard "GT boxes" protocol; keypoints come from the
inference code path itself (``PoseEstimator``: flip test, UDP + DARK-UDP decoding), run on the model
being trained. Each person's score is the mean
of its 17 COCO keypoint scores. COCOeval ignores people without labelled keypoints.

``DetectionValidator`` (detector): person bbox and segm AP through the inference code path
(``Detector``: letterbox, the config's score 0.05 / NMS 0.6 / 40 per image, no BMP threshold), on the
plain images and on the same images with people masked out as BMP's later iterations see them: per
image a fixed draw (``mask_out`` with no "nobody" outcome, seeded by the image id) paints people black;
the painted people and those covered for 70 percent or more leave the ground truth, so a detection of a
painted person is a false positive. ``val_masked_redetected`` is the fraction of painted people that
still get a detection BMP would keep (score > 0.3, box IoU >= 0.5): what fine-tuning drives to 0.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from bmp_ray.boxes import coco_boxes, xyxy_to_xywh
from bmp_ray.export.coco_eval import cocoeval, load_ground_truth
from bmp_ray.keypoints import pose_score
from bmp_ray.masks import encode, from_segmentation
from bmp_ray.models import registry
from bmp_ray.models.build import LoadedModel
from bmp_ray.train.pose_data import read_image

log = logging.getLogger(__name__)
NAMES = ("AP", "AP50", "AP75", "AP_medium", "AP_large", "AR")
BOX_NAMES = ("AP", "AP50", "AP75")
REDETECT_SCORE, REDETECT_IOU = 0.3, 0.5


class KeypointValidator:
    """A held-out set, loaded once; ``__call__(model)`` scores a pose model on it.

    Args:
        ann_file: COCO keypoints json (RLE or polygon masks).
        img_dir: its images.
        model_name: registry name of the trained model (its spec: family, conditioning).
        conditioning: MaskPose's mask input (None: the model's own).
    """

    def __init__(
        self, ann_file: str | os.PathLike, img_dir: str | os.PathLike, model_name: str, conditioning: bool | None = None
    ):
        self.gt = load_ground_truth(ann_file)
        self.spec = registry.get(model_name, "pose")
        self.conditioning = conditioning
        self.items = []
        for image_id in sorted(self.gt.getImgIds()):
            info = self.gt.loadImgs(image_id)[0]
            anns = [a for a in self.gt.loadAnns(self.gt.getAnnIds(imgIds=image_id)) if not a.get("iscrowd")]
            if not anns:
                continue
            boxes = coco_boxes(anns)
            masks = [self.gt.annToRLE(a)["counts"] if a.get("segmentation") else b"" for a in anns]
            self.items.append((image_id, str(Path(img_dir) / info["file_name"]), boxes, masks))

    def __call__(self, model: torch.nn.Module) -> dict[str, float]:
        """``{"val_keypoints_AP": ..., "val_keypoints_AP50": ..., ...}`` of ``model`` (a bare mmpose
        ``TopdownPoseEstimator``; left in the train/eval mode it came in)."""
        from bmp_ray.models.pose import PoseEstimator

        with _evaluating(model, self.spec) as (loaded, device):
            est = PoseEstimator(loaded=loaded, device=device, conditioning=self.conditioning)
            dets = []
            for image_id, path, boxes, masks in self.items:
                kpts = est([_rgb(path)], [boxes], [masks])[0]
                for k in kpts[:, :17]:
                    dets.append(
                        {
                            "image_id": image_id,
                            "category_id": 1,
                            "score": pose_score(k),
                            "keypoints": [float(v) for v in k.reshape(-1)],
                        }
                    )
        stats = cocoeval(self.gt, dets, "keypoints", [i[0] for i in self.items])
        return {f"val_keypoints_{n}": stats[i] for i, n in enumerate(NAMES)}  # COCOeval order


class DetectionValidator:
    """A held-out COCO instances set (person category), loaded once; ``__call__(model)`` scores a detector.

    Args:
        ann_file: COCO instances json (polygons or RLE; other categories are left out).
        img_dir: its images.
        model_name: registry name of the trained detector.
        seed: the mask-out draw.
    """

    def __init__(self, ann_file: str | os.PathLike, img_dir: str | os.PathLike, model_name: str, seed: int = 0):
        from bmp_ray.train.det_data import load_instances
        from bmp_ray.train.maskout import mask_out

        self.spec = registry.get(model_name, "detector")
        images = load_instances(ann_file, img_dir, key="data.val_")
        anns, kept, self.items = [], [], []
        for im in images:
            h, w, image_id = im["height"], im["width"], im["img_id"]
            people = [i for i in im["instances"] if not i["ignore_flag"]]
            masks = (
                np.stack([from_segmentation(i["mask"], h, w) for i in people]) if people else np.zeros((0, h, w), bool)
            )
            out = mask_out(np.zeros((h, w, 1), np.uint8), masks, np.random.default_rng([seed, image_id]), p_none=0.0)
            keep = iter(out.keep)
            for inst in im["instances"]:
                anns.append(
                    {
                        "id": len(anns) + 1,
                        "image_id": image_id,
                        "category_id": 1,
                        "iscrowd": inst["ignore_flag"],
                        "bbox": xyxy_to_xywh(inst["bbox"], np.float64)[0].tolist(),
                        "segmentation": inst["mask"],
                    }
                )
                if inst["ignore_flag"] or next(keep):
                    kept.append(anns[-1])
            painted = np.array([p["bbox"] for p, c in zip(people, out.painted) if c], np.float32).reshape(-1, 4)
            erase = encode(masks[out.painted].any(0))[0] if out.painted.any() else None
            self.items.append((image_id, im["img_path"], (h, w), erase, painted))
        info = [{"id": im["img_id"], "height": im["height"], "width": im["width"]} for im in images]
        cats = [{"id": 1, "name": "person"}]
        self.gt = load_ground_truth({"images": info, "annotations": anns, "categories": cats})
        self.masked_gt = load_ground_truth({"images": info, "annotations": kept, "categories": cats})

    def __call__(self, model: torch.nn.Module) -> dict[str, float]:
        """``{"val_bbox_AP", "val_segm_AP", "val_masked_bbox_AP", ..., "val_masked_redetected"}`` of
        ``model`` (a bare mmdet detector; left in the train/eval mode it came in)."""
        return self.score(self.detect(model))

    def detect(self, model: torch.nn.Module) -> dict[str, list]:
        """``{"plain": [Detections per image], "masked": [...]}``: ``model``'s people on the images and on
        the masked-out images (the order of ``items``)."""
        from bmp_ray.masks import decode
        from bmp_ray.models.detector import Detector

        found: dict[str, list] = {"plain": [], "masked": []}
        with _evaluating(model, self.spec) as (loaded, device):
            det = Detector(loaded=loaded, score_thr=0.0, nms_iou=1.0, device=device)
            for _, path, (h, w), erase, _ in self.items:
                rgb = _rgb(path)
                if erase is None:  # nobody to paint: the masked image is the image
                    (plain,) = det([rgb])
                    masked = plain
                else:
                    plain, masked = det([rgb, rgb], [None, decode([erase], h, w)[0]])
                found["plain"].append(plain)
                found["masked"].append(masked)
        return found

    def score(self, found: dict[str, list]) -> dict[str, float]:
        """The metrics of ``detect``'s output (pycocotools COCOeval, person category)."""
        out: dict[str, float] = {}
        ids = [i[0] for i in self.items]
        for variant, gt, prefix in (("plain", self.gt, "val_"), ("masked", self.masked_gt, "val_masked_")):
            dets = [
                {
                    "image_id": image_id,
                    "category_id": 1,
                    "score": float(d.scores[j]),
                    "bbox": xywh.tolist(),
                    "segmentation": {"size": [d.height, d.width], "counts": d.masks[j].decode()},
                }
                for image_id, d in zip(ids, found[variant])
                for j, xywh in enumerate(xyxy_to_xywh(d.boxes))
            ]
            for iou_type in ("bbox", "segm"):
                stats = cocoeval(gt, dets, iou_type, ids, cat_ids=[1])
                out.update({f"{prefix}{iou_type}_{n}": stats[i] for i, n in enumerate(BOX_NAMES)})
        painted = sum(len(i[4]) for i in self.items)
        again = sum(_redetected(i[4], d.boxes[d.scores > REDETECT_SCORE]) for i, d in zip(self.items, found["masked"]))
        out["val_masked_redetected"] = again / painted if painted else 0.0
        return out


@contextlib.contextmanager
def _evaluating(model: torch.nn.Module, spec) -> Iterator[tuple[LoadedModel, str]]:
    """The model being trained as an inference stage's ``LoadedModel`` (in eval mode) and its device;
    afterwards the model is back in the train/eval mode it came in."""
    was_training = model.training
    model.eval()
    try:
        yield LoadedModel(model, spec, Path("<training>"), {}), str(next(model.parameters()).device)
    finally:
        model.train(was_training)


def _rgb(path: str) -> np.ndarray:
    return np.ascontiguousarray(read_image(path)[..., ::-1])


def _redetected(painted: np.ndarray, boxes: np.ndarray) -> int:
    """How many of the (P, 4) xyxy painted people's boxes a detection box overlaps with IoU >= 0.5."""
    if not len(boxes):
        return 0
    import torchvision

    iou = torchvision.ops.box_iou(torch.as_tensor(painted), torch.as_tensor(boxes, dtype=torch.float32))
    return int((iou.max(1).values >= REDETECT_IOU).sum())
