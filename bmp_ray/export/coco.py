"""An output folder as COCO results JSON (``pycocotools`` ``COCO.loadRes`` reads it), and its evaluation.

Two files:

``PATH`` (the results)
    a list of ``{"image_id", "category_id": 1, "score", "bbox": [x, y, w, h], "segmentation": {"size":
    [h, w], "counts": RLE}, "keypoints": [x, y, score] x 17}``, one per person (``coco_eval.to_coco_results``);
    ``score`` is the detector's (``score="box"``) or the pose score (``"pose"``).
``PATH`` with ``.images.json`` for ``.json`` (the image id mapping)
    a COCO file without annotations: ``images`` (``id``, ``file_name``, ``width``, ``height`` and ours:
    ``video_id``, ``frame_index``, ``pts_s``) and the person category with the 17 COCO keypoint names and
    skeleton, so ``COCO(mapping).loadRes(PATH)`` works as it is.

``file_name`` of an image input is its video id; of a video frame ``<video_id>/<frame_index:06d>.jpg``.
Image ids count from 1 in export order; with ground truth (``gt``) they are the ground truth's, matched
by ``file_name`` (or its base name), frames without a ground-truth image are left out, and COCO AP is
computed for bbox, segm (detector score) and keypoints (pose score).
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
from typing import Iterator, Sequence

from pycocotools.coco import COCO

from bmp_ray import keypoints as kp
from bmp_ray.errors import ConfigError
from bmp_ray.export import store
from bmp_ray.export.coco_eval import IOU_TYPES, cocoeval, load_ground_truth, to_coco_results
from bmp_ray.export.read import read_results
from bmp_ray.result import FrameResult
from bmp_ray.video.sources import kind_of

log = logging.getLogger(__name__)
CATEGORY = {
    "id": 1,
    "name": "person",
    "supercategory": "person",
    "keypoints": list(kp.COCO_NAMES),
    "skeleton": kp.one_based(kp.SKELETON_17),
}


def mapping_path(path: str) -> str:
    """Where the image id mapping of results ``path`` goes: ``x.json`` -> ``x.images.json``."""
    return (path[: -len(".json")] if path.endswith(".json") else path) + ".images.json"


def file_name(video_id: str, path: str | None, frame_index: int) -> str:
    """The COCO ``file_name`` of a result: the video id for an image input, else ``<id>/<frame:06d>.jpg``."""
    if kind_of(path or video_id) == "image":
        return video_id
    return f"{video_id}/{frame_index:06d}.jpg"


def _gt_ids(gt: COCO) -> dict[str, int]:
    by_name: dict[str, int] = {}
    base: dict[str, list[int]] = {}
    for img in gt.dataset.get("images", []):
        by_name[img["file_name"]] = img["id"]
        base.setdefault(posixpath.basename(img["file_name"]), []).append(img["id"])
    for name, ids in base.items():
        if len(ids) == 1:
            by_name.setdefault(name, ids[0])
    return by_name


def _frames(out: str, videos: Sequence[str] | None) -> Iterator[tuple[FrameResult, str]]:
    for video in read_results(out, videos):
        for r in video.frames():
            yield r, file_name(video.video_id, video.row.get("path"), r.frame_index)


def export_coco(
    out: str, path: str, *, videos: Sequence[str] | None = None, score: str = "box", gt: COCO | None = None
) -> dict:
    """Write the results of output folder ``out`` (or of ``videos``) to ``path`` and the mapping beside it.

    Returns ``{"results", "images", "frames", "people"}``, with ``gt``: also ``"left_out"`` (frames without
    a ground-truth image), ``"gt_images_missing"`` and per IoU type the AP and pycocotools' ``stats``.

    Raises:
        ConfigError: with ``gt``, no frame of the output matches a ground-truth image.
    """
    if score not in ("box", "pose"):
        raise ConfigError(f"--score: expected 'box' or 'pose', got {score!r}")
    gt_ids = _gt_ids(gt) if gt is not None else None
    images, kept, pose_scores = [], [], []
    counts = {"frames": 0, "people": 0, "left_out": 0}

    def entries() -> Iterator[dict]:
        for r, name in _frames(out, videos):
            if gt_ids is not None:
                image_id = gt_ids.get(name, gt_ids.get(posixpath.basename(name)))
                if image_id is None:
                    counts["left_out"] += 1
                    continue
            else:
                image_id = len(images) + 1
            images.append(
                {
                    "id": image_id,
                    "file_name": name,
                    "width": r.width,
                    "height": r.height,
                    "video_id": r.video_id,
                    "frame_index": r.frame_index,
                    "pts_s": r.pts_s,
                }
            )
            counts["frames"] += 1
            counts["people"] += len(r)
            for d, ps in zip(to_coco_results([r], [image_id], score=score), r.pose_scores.tolist()):
                if gt is not None:
                    kept.append(d)
                    pose_scores.append(ps)
                yield d

    def write(stream) -> None:
        stream.write(b"[")
        for i, d in enumerate(entries()):
            stream.write((b",\n" if i else b"") + json.dumps(d).encode())
        stream.write(b"]\n")
        if gt is not None and not images:  # raised inside the write: nothing replaces an earlier file
            raise ConfigError(
                f"--gt: none of the output's {counts['left_out']} frames matches an image of the "
                "ground truth by file_name (an image input's file_name is its video id)"
            )

    store.write_atomic(path, write)
    mapping = mapping_path(path)
    store.write_bytes(mapping, json.dumps({"images": images, "annotations": [], "categories": [CATEGORY]}).encode())
    summary = {"results": path, "images": mapping, "frames": counts["frames"], "people": counts["people"]}
    log.info("wrote %d people of %d frames to %s (image ids in %s)", counts["people"], counts["frames"], path, mapping)
    if gt is None:
        return summary
    ids = sorted({im["id"] for im in images})
    summary.update(left_out=counts["left_out"], gt_images_missing=len(set(gt.getImgIds()) - set(ids)))
    for iou_type in IOU_TYPES:
        dets = kept if iou_type != "keypoints" else [dict(d, score=s) for d, s in zip(kept, pose_scores)]
        stats = cocoeval(gt, dets, iou_type, ids)
        summary[iou_type] = stats[0]
        summary[f"{iou_type}_stats"] = stats
    return summary


def load_images(path: str | os.PathLike) -> COCO:
    """The mapping file as a pycocotools ``COCO`` (to ``loadRes`` the results into)."""
    return load_ground_truth(json.loads(store.read_bytes(str(path))))
