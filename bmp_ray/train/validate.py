"""Validation during training: COCO keypoint AP with pycocotools on a held-out COCO keypoint set.

People are given by their ground-truth boxes (and, for MaskPose, their ground-truth masks), the
standard "GT boxes" protocol; keypoints come from the inference code path itself (``PoseEstimator``:
flip test, UDP + DARK-UDP decoding), run on the model being trained. Each person's score is the mean
of its 17 COCO keypoint scores. COCOeval ignores people without labelled keypoints.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from bmp_ray.eval.coco import cocoeval, load_ground_truth
from bmp_ray.models import registry
from bmp_ray.models.build import LoadedModel
from bmp_ray.train.pose_data import read_image

log = logging.getLogger(__name__)
NAMES = ("AP", "AP50", "AP75", "AP_medium", "AP_large", "AR")


class KeypointValidator:
    """A held-out set, loaded once; ``__call__(model)`` scores a pose model on it.

    Args:
        ann_file: COCO keypoints json (RLE or polygon masks).
        img_dir: its images.
        model_name: registry name of the trained model (its spec: family, conditioning).
        conditioning: MaskPose's mask input (None: the model's own).
    """

    def __init__(self, ann_file: str | os.PathLike, img_dir: str | os.PathLike, model_name: str,
                 conditioning: bool | None = None):
        self.gt = load_ground_truth(ann_file)
        self.spec = registry.get(model_name, "pose")
        self.conditioning = conditioning
        self.items = []
        for image_id in sorted(self.gt.getImgIds()):
            info = self.gt.loadImgs(image_id)[0]
            anns = [a for a in self.gt.loadAnns(self.gt.getAnnIds(imgIds=image_id)) if not a.get("iscrowd")]
            if not anns:
                continue
            boxes = np.array([a["bbox"] for a in anns], np.float32).reshape(-1, 4)
            boxes[:, 2:] += boxes[:, :2]
            masks = [self.gt.annToRLE(a)["counts"] if a.get("segmentation") else b"" for a in anns]
            self.items.append((image_id, str(Path(img_dir) / info["file_name"]), boxes, masks))

    def __call__(self, model: torch.nn.Module) -> dict[str, float]:
        """``{"val_keypoints_AP": ..., "val_keypoints_AP50": ..., ...}`` of ``model`` (a bare mmpose
        ``TopdownPoseEstimator``; left in the train/eval mode it came in)."""
        from bmp_ray.models.pose import PoseEstimator

        was_training = model.training
        device = str(next(model.parameters()).device)
        model.eval()
        try:
            est = PoseEstimator(loaded=LoadedModel(model, self.spec, Path("<training>"), {}), device=device,
                                conditioning=self.conditioning)
            dets = []
            for image_id, path, boxes, masks in self.items:
                rgb = np.ascontiguousarray(read_image(path)[..., ::-1])
                kpts = est([rgb], [boxes], [masks])[0]
                for k in kpts[:, :17]:
                    dets.append({"image_id": image_id, "category_id": 1, "score": float(k[:, 2].mean()),
                                 "keypoints": [float(v) for v in k.reshape(-1)]})
        finally:
            model.train(was_training)
        stats = cocoeval(self.gt, dets, "keypoints", [i[0] for i in self.items])
        return {f"val_keypoints_{n}": stats[i] for i, n in enumerate(NAMES)}  # COCOeval order
