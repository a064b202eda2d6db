"""Training annotations of three datasets mapped into the 21-keypoint space of MaskPose / ViTPose-multi.

The 21 keypoints (``bmp_ray.keypoints``, the one table of names and skeletons; ``configs/bmp_21kpt.py``):
COCO's 17 in COCO order, then 17 thorax, 18 upper neck, 19 head top, 20 pelvis. A keypoint a dataset
does not label is invisible (weight 0 in the loss).

- COCO (``format = "coco"``): a COCO keypoints json; 17 keypoints map to 0-16; instance masks kept.
- MPII (``"mpii"``): mmpose's MPII json (``[{image, center, scale, joints, joints_vis}]``, the
  distribution every mmpose/ViTPose recipe uses; the original ``.mat`` is converted to it by mmpose's
  tools). Read as mmpose's ``MpiiDataset`` does: scale x 200 px, center moved down 15 px per 200 px
  of scale and from 1-based to 0-based. No masks (the box conditions MaskPose, as at inference).
- AI Challenger (``"aic"``): its own json (``[{image_id, keypoint_annotations: {human1: [x, y, v] x
  14}, human_annotations: {human1: [x1, y1, x2, y2]}}]``, v = 1 visible, 2 occluded, 3 unlabelled);
  images ``<img_dir>/<image_id>.jpg``. No masks.

The mappings (source index -> 21-keypoint index) are ``MAPPINGS``; MPII's and AIC's hips, knees and
ankles map onto COCO's although their annotators placed hips slightly differently (as in ViTPose).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from bmp_ray.boxes import xywh_to_xyxy
from bmp_ray.errors import DatasetError
from bmp_ray.keypoints import HEAD_TOP, NAMES_21, PELVIS, THORAX, UPPER_NECK

NUM_KEYPOINTS = len(NAMES_21)
MAPPINGS: dict[str, dict[int, int]] = {
    "coco": {i: i for i in range(17)},
    # MPII: r_ankle, r_knee, r_hip, l_hip, l_knee, l_ankle, pelvis, thorax, upper_neck, head_top,
    #       r_wrist, r_elbow, r_shoulder, l_shoulder, l_elbow, l_wrist
    "mpii": {
        0: 16,
        1: 14,
        2: 12,
        3: 11,
        4: 13,
        5: 15,
        6: PELVIS,
        7: THORAX,
        8: UPPER_NECK,
        9: HEAD_TOP,
        10: 10,
        11: 8,
        12: 6,
        13: 5,
        14: 7,
        15: 9,
    },
    # AI Challenger: r_shoulder, r_elbow, r_wrist, l_shoulder, l_elbow, l_wrist, r_hip, r_knee,
    #                r_ankle, l_hip, l_knee, l_ankle, head_top, neck
    "aic": {
        0: 6,
        1: 8,
        2: 10,
        3: 5,
        4: 7,
        5: 9,
        6: 12,
        7: 14,
        8: 16,
        9: 11,
        10: 13,
        11: 15,
        12: HEAD_TOP,
        13: UPPER_NECK,
    },
}
SOURCE_KEYPOINTS = {"coco": 17, "mpii": 16, "aic": 14}


@dataclasses.dataclass(frozen=True, eq=False)
class PersonSample:
    """One annotated person.

    Attributes:
        image: image file path.
        image_id: the dataset's image id (COCO: int; others: the file stem or its index).
        width, height: image size in pixels (0 where the format does not say; read with the image).
        box: (4,) float32 xyxy, image pixels.
        keypoints: (21, 2) float32 x, y in image pixels (0 where not labelled).
        visible: (21,) float32 1 where labelled, else 0.
        segmentation: the COCO segmentation (polygons or RLE) or None (no mask: the box is used).
        source: "coco", "mpii" or "aic".
    """

    image: str
    image_id: Any
    width: int
    height: int
    box: np.ndarray
    keypoints: np.ndarray
    visible: np.ndarray
    segmentation: Any
    source: str


def map_keypoints(xy: np.ndarray, visible: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(n_src, 2) keypoints and (n_src,) visibility of ``source`` -> (21, 2) and (21,) float32."""
    n = SOURCE_KEYPOINTS[source]
    xy, visible = np.asarray(xy, np.float32), np.asarray(visible, np.float32)
    if xy.shape != (n, 2) or visible.shape != (n,):
        raise ValueError(
            f"{source}: expected ({n}, 2) keypoints and ({n},) visibility, got {xy.shape} and {visible.shape}"
        )
    out = np.zeros((NUM_KEYPOINTS, 2), np.float32)
    vis = np.zeros(NUM_KEYPOINTS, np.float32)
    src, dst = zip(*MAPPINGS[source].items())
    out[list(dst)] = xy[list(src)]
    vis[list(dst)] = (visible[list(src)] > 0).astype(np.float32)
    out[vis == 0] = 0.0
    return out, vis


def _read_json(path: str | os.PathLike) -> Any:
    if not os.path.isfile(path):
        raise DatasetError(f"annotation file {path}: not found; check data.train[].ann_file")
    try:
        with open(path) as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"annotation file {path}: not valid JSON ({exc})") from exc


def _bad(path, where: str, what: str) -> DatasetError:
    return DatasetError(f"annotation file {path}: {where}: {what}")


def _read_list(path, entry: str) -> list:
    data = _read_json(path)
    if not isinstance(data, list):
        raise _bad(path, "top level", f"expected a list of {entry}")
    return data


def load_coco(ann_file: str | os.PathLike, img_dir: str | os.PathLike) -> list[PersonSample]:
    """People of a COCO keypoints file with at least one labelled keypoint (crowds skipped)."""
    data = _read_json(ann_file)
    if not isinstance(data, dict) or not {"images", "annotations"} <= set(data):
        raise _bad(ann_file, "top level", "expected a COCO object with 'images' and 'annotations'")
    images = {im["id"]: im for im in data["images"]}
    out = []
    for i, a in enumerate(data["annotations"]):
        kp = np.asarray(a.get("keypoints", []), np.float32)
        if kp.size != 51:
            raise _bad(ann_file, f"annotations[{i}] (id {a.get('id')})", f"expected 51 keypoint values, got {kp.size}")
        kp = kp.reshape(17, 3)
        if a.get("iscrowd", 0) or not (kp[:, 2] > 0).any():
            continue
        im = images.get(a["image_id"])
        if im is None:
            raise _bad(ann_file, f"annotations[{i}]", f"image_id {a['image_id']} is not in 'images'")
        w, h = int(im["width"]), int(im["height"])
        box = np.clip(xywh_to_xyxy(a["bbox"], np.float64)[0], 0, [w - 1, h - 1, w - 1, h - 1]).astype(np.float32)
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        xy, vis = map_keypoints(kp[:, :2], kp[:, 2], "coco")
        out.append(
            PersonSample(
                str(Path(img_dir) / im["file_name"]),
                im["id"],
                w,
                h,
                box,
                xy,
                vis,
                a.get("segmentation") or None,
                "coco",
            )
        )
    return out


def load_mpii(ann_file: str | os.PathLike, img_dir: str | os.PathLike) -> list[PersonSample]:
    """People of an mmpose MPII json (see the module docstring)."""
    out = []
    for i, a in enumerate(_read_list(ann_file, "{image, center, scale, joints, joints_vis}")):
        try:
            center = np.array(a["center"], np.float32).reshape(2)
            scale = float(a["scale"]) * 200.0
            joints = np.array(a["joints"], np.float32).reshape(16, 2)
            jvis = np.array(a["joints_vis"], np.float32).reshape(16)
            image = str(a["image"])
        except (KeyError, ValueError, TypeError) as exc:
            raise _bad(
                ann_file, f"entry {i}", f"expected image, center [x, y], scale, 16 joints and 16 joints_vis ({exc})"
            ) from exc
        if center[0] != -1:
            center[1] += 15.0 / 200.0 * scale
        center -= 1.0
        box = np.concatenate([center - scale / 2, center + scale / 2]).astype(np.float32)
        xy, vis = map_keypoints(joints, jvis, "mpii")
        stem = Path(image).stem
        out.append(
            PersonSample(
                str(Path(img_dir) / image), int(stem) if stem.isdigit() else stem, 0, 0, box, xy, vis, None, "mpii"
            )
        )
    return out


def load_aic(ann_file: str | os.PathLike, img_dir: str | os.PathLike) -> list[PersonSample]:
    """People of an AI Challenger keypoint json (see the module docstring); unlabelled people skipped."""
    out = []
    for i, a in enumerate(_read_list(ann_file, "{image_id, keypoint_annotations, human_annotations}")):
        try:
            image_id = str(a["image_id"])
            kps, boxes = a["keypoint_annotations"], a["human_annotations"]
        except (KeyError, TypeError) as exc:
            raise _bad(
                ann_file, f"entry {i}", f"expected image_id, keypoint_annotations and human_annotations ({exc})"
            ) from exc
        for human in sorted(kps):
            kp = np.asarray(kps[human], np.float32)
            if kp.size != 42 or human not in boxes:
                raise _bad(
                    ann_file,
                    f"entry {i} ({image_id}) {human}",
                    f"expected 42 keypoint values and a box, got {kp.size} values and box {boxes.get(human)}",
                )
            kp = kp.reshape(14, 3)
            labelled = (kp[:, 2] == 1) | (kp[:, 2] == 2)  # 3 = not labelled
            if not labelled.any():
                continue
            xy, vis = map_keypoints(kp[:, :2], labelled, "aic")
            box = np.asarray(boxes[human], np.float32).reshape(4)
            out.append(PersonSample(str(Path(img_dir) / f"{image_id}.jpg"), image_id, 0, 0, box, xy, vis, None, "aic"))
    return out


LOADERS = {"coco": load_coco, "mpii": load_mpii, "aic": load_aic}


def load_source(fmt: str, ann_file: str | os.PathLike, img_dir: str | os.PathLike) -> list[PersonSample]:
    """The people of one training set; ``DatasetError`` naming the file when it is missing or malformed,
    or when it holds nobody to train on."""
    people = LOADERS[fmt](ann_file, img_dir)
    if not people:
        raise DatasetError(f"annotation file {ann_file}: no person with a labelled keypoint ({fmt} format)")
    missing = sorted({p.image for p in people if not os.path.isfile(p.image)})
    if missing:
        raise DatasetError(
            f"{ann_file}: {len(missing)} image(s) not found under {img_dir}, e.g. {missing[0]}; "
            "check data.train[].img_dir"
        )
    return people
