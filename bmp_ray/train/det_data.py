"""The detector training set: COCO person instances through mmdet's RTMDet training transforms.

``load_instances`` reads a COCO instances file into mmdet's data-info layout: the ``person`` category
only (label 0, the person label of the 80-class detector), boxes xyxy in image pixels, the
segmentation as given (polygons or RLE, OCHuman's string sizes repaired), crowd people and people
without a mask as ignored instances (mmdet leaves them out of the targets). Images without people stay:
they are negatives.

Each sample (an ``(index, seed)`` from ``RatioSampler``) goes through the model config's
``train_pipeline``, mmdet's own transforms with ``MaskOutPeople`` (below) after the annotations are
loaded: the painting happens at image resolution, as BMP paints at inference before the letterbox.
The pipeline is RTMDet's second-stage pipeline (random resize 0.1-2x, crop, HSV, flip, pad 114), the
one RTMDet ends its own training with; Mosaic and MixUp are left out because they keep a cache of
earlier samples, so a sample would depend on the worker's history instead of its seed (resume would
not be exact). ``FilterAnnotations(keep_empty=False)`` keeps samples left without targets (everyone
painted): they teach the detector that painted people are background. Without ``augment`` the image is
letterboxed to the input size as at inference (no random resize, crop, colour or flip).

Masks are loaded as bitmaps (``poly2mask=True``): with polygons, mmdet drops every RLE-annotated
person (OCHuman, COCO crowds) to an ignored instance.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import random
from pathlib import Path
from typing import Sequence

import numpy as np
import torch.utils.data
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS

from bmp_ray.boxes import xywh_to_xyxy
from bmp_ray.errors import DatasetError
from bmp_ray.train.maskout import COVERED, mask_out

log = logging.getLogger(__name__)
AUGMENTATIONS = ("RandomCrop", "YOLOXHSVRandomAug", "RandomFlip")


@TRANSFORMS.register_module()
class MaskOutPeople(BaseTransform):
    """mmdet transform: ``bmp_ray.train.maskout.mask_out`` on a sample after ``LoadAnnotations``.

    Reads ``img`` (H, W, 3) and ``gt_masks`` (bitmap or polygon masks at image size) with
    ``gt_bboxes``, ``gt_bboxes_labels``, ``gt_ignore_flags``. Paints the chosen people (0, 0, 0) in
    ``img``, removes them and the people covered by the paint for ``covered`` or more from every
    ``gt_*`` field, and records ``masked_out`` (people painted). Ignored instances (crowds) are never
    painted nor removed. Randomness comes from numpy's global state, like mmdet's own transforms (the
    training set seeds it per sample).

    Args:
        p_none, p_all: odds of painting nobody and everybody.
        covered: a person under the paint for at least this fraction of its mask is removed.
    """

    def __init__(self, p_none: float = 0.25, p_all: float = 0.05, covered: float = COVERED):
        if not (0 <= p_none <= 1 and 0 <= p_all <= 1 and p_none + p_all <= 1):
            raise ValueError(f"MaskOutPeople: expected probabilities with p_none + p_all <= 1, got {p_none}, {p_all}")
        if not 0 < covered <= 1:
            raise ValueError(f"MaskOutPeople covered: expected a fraction in (0, 1], got {covered}")
        self.p_none, self.p_all, self.covered = float(p_none), float(p_all), float(covered)

    def transform(self, results: dict) -> dict:
        masks = results.get("gt_masks")
        n = 0 if masks is None else len(masks)
        results["masked_out"] = 0
        if n == 0:
            return results
        ignored = np.asarray(results.get("gt_ignore_flags", np.zeros(n, bool)), bool)
        people = np.flatnonzero(~ignored)
        rng = np.random.default_rng(np.random.randint(0, 2**31))
        out = mask_out(
            results["img"], masks.to_ndarray()[people], rng, p_none=self.p_none, p_all=self.p_all, covered=self.covered
        )
        keep = np.ones(n, bool)
        keep[people] = out.keep
        results["img"] = out.image
        for key in ("gt_bboxes", "gt_bboxes_labels", "gt_ignore_flags", "gt_masks"):
            if key in results:
                results[key] = results[key][np.flatnonzero(keep)] if key == "gt_masks" else results[key][keep]
        results["masked_out"] = int(out.painted.sum())
        return results

    def __repr__(self) -> str:
        return f"MaskOutPeople(p_none={self.p_none}, p_all={self.p_all}, covered={self.covered})"


def _person_category(data: dict, ann_file: str | os.PathLike) -> int:
    cats = [c["id"] for c in data.get("categories") or [] if c.get("name") == "person"]
    if data.get("categories") and not cats:
        names = [c.get("name") for c in data["categories"]][:10]
        raise DatasetError(
            f"{ann_file}: no 'person' category (categories: {names}); the detector is trained "
            "on COCO-format person instances"
        )
    return cats[0] if cats else 1


def load_instances(ann_file: str | os.PathLike, img_dir: str | os.PathLike, key: str = "data.train[].") -> list[dict]:
    """The images of a COCO instances file as mmdet data infos (person instances only).

    Returns one dict per image: ``img_path``, ``img_id``, ``height``, ``width``, ``seg_map_path``
    (None) and ``instances``: ``bbox`` [x1, y1, x2, y2] image pixels, ``bbox_label`` 0, ``mask``
    (polygons or RLE), ``ignore_flag`` (crowds and people without a mask). Raises ``DatasetError``
    naming the file (and the config ``key`` to fix) on a missing or malformed file, no person
    category, or a missing image.
    """
    from bmp_ray.export.coco_eval import load_ground_truth

    if not Path(ann_file).is_file():
        raise DatasetError(f"{ann_file}: not found; check {key}ann_file")
    try:
        data = json.loads(Path(ann_file).read_text())
        images = {int(im["id"]): im for im in data["images"]}
        person = _person_category(data, ann_file)
        anns = [a for a in data.get("annotations", []) if a.get("category_id", person) == person]
        gt = load_ground_truth({**data, "annotations": anns})
    except (ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"{ann_file}: not a COCO instances file ({type(exc).__name__}: {exc})") from None
    out, no_mask = [], 0
    for image_id in sorted(images):
        im = images[image_id]
        path = Path(img_dir) / im["file_name"]
        if not path.is_file():
            raise DatasetError(f"{ann_file}: image {im['file_name']} is missing from {img_dir}; check {key}img_dir")
        instances = []
        for a in gt.imgToAnns.get(image_id, []):
            w, h = (float(v) for v in a["bbox"][2:])
            if w < 1 or h < 1 or a.get("area", 1) <= 0:
                continue
            seg = a.get("segmentation") or None
            no_mask += seg is None
            x1, y1, x2, y2 = xywh_to_xyxy(a["bbox"], np.float64)[0].tolist()
            instances.append(
                dict(
                    bbox=[x1, y1, x2, y2],
                    bbox_label=0,
                    ignore_flag=int(bool(a.get("iscrowd")) or seg is None),
                    mask=seg if seg is not None else [[x1, y1, x2, y1, x2, y2, x1, y2]],
                )
            )
        out.append(
            dict(
                img_path=str(path),
                img_id=image_id,
                height=int(im["height"]),
                width=int(im["width"]),
                seg_map_path=None,
                instances=instances,
            )
        )
    if no_mask:
        log.warning("%s: %d people have no mask; they are ignored regions in training", ann_file, no_mask)
    return out


def train_steps(pipeline: Sequence[dict], *, augment: bool, mask_out: dict | None) -> list[dict]:
    """The config's ``train_pipeline`` as this run uses it: ``MaskOutPeople`` with ``mask_out``'s
    settings (``p_none``, ``p_all``, ``covered``) or left out (None); without ``augment`` the random
    resize becomes the inference letterbox and the crop, colour and flip are left out."""
    steps = []
    for t in copy.deepcopy(list(pipeline)):
        if t["type"] == "MaskOutPeople":
            if mask_out is None:
                continue
            t.update(mask_out)
        elif not augment and t["type"] in AUGMENTATIONS:
            continue
        elif not augment and t["type"] == "RandomResize":
            t = dict(type="Resize", scale=t["scale"], keep_ratio=True)
        steps.append(t)
    return steps


def compose(steps: Sequence[dict]):
    """mmdet's ``Compose`` of the transform configs ``steps`` (built in mmdet's registry scope)."""
    from mmengine.dataset import Compose
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope("mmdet"):
        return Compose([TRANSFORMS.build(dict(t)) for t in steps])


class DetTrainSet(torch.utils.data.Dataset):
    """Images as mmdet training samples (``{"inputs": (3, S, S) uint8 tensor, "data_samples"}``).

    Args:
        images: data infos of every training set, concatenated (``RatioSampler`` indexes them).
        pipeline: the model config's ``train_pipeline``.
        augment, mask_out: see ``train_steps``.
    """

    def __init__(
        self, images: Sequence[dict], pipeline: Sequence[dict], *, augment: bool = True, mask_out: dict | None = None
    ):
        self.images = list(images)
        self.steps = train_steps(pipeline, augment=augment, mask_out=mask_out)
        self.pipeline = compose(self.steps)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item: int | tuple[int, int]) -> dict:
        index, seed = item if isinstance(item, tuple) else (item, item)
        np.random.seed(seed % 2**32)  # mmdet's random transforms draw from numpy's and Python's state
        random.seed(seed)
        info = copy.deepcopy(self.images[index])
        try:
            return self.pipeline(info)
        except OSError as exc:
            raise DatasetError(f"training image {info['img_path']}: {exc}") from None
