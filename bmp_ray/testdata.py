"""Where the shared real test data lives: ``$BMP_RAY_TEST_DATA``, else ``../shared/data`` beside the repo.

Tests and benchmarks reach the data only through :func:`data_dir`; nothing is ever copied into the
repository.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from bmp_ray.boxes import coco_boxes

ENV = "BMP_RAY_TEST_DATA"


def data_dir() -> Path | None:
    """The data folder, or None when it is absent (callers skip or ask for a path)."""
    env = os.environ.get(ENV)
    path = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return path if (path / "MANIFEST.md").is_file() else None


@dataclasses.dataclass(frozen=True, eq=False)
class AnnotatedImage:
    """One image of the shared COCO-format sets with its people.

    Attributes:
        path: the image file.
        image_id: COCO image id.
        rgb: (H, W, 3) uint8 RGB.
        boxes: (N, 4) float32, xyxy, pixels (from the COCO xywh boxes).
        keypoints: (N, 17, 3) float32, x, y, visibility (COCO).
    """

    path: Path
    image_id: int
    rgb: np.ndarray
    boxes: np.ndarray
    keypoints: np.ndarray


def annotated_images(root: Path, subset: str = "coco") -> list[AnnotatedImage]:
    """The images of ``images/<subset>`` (``coco`` or ``ochuman``) with their ground-truth people."""
    import cv2

    folder = root / "images" / subset
    data = json.loads((folder / f"test_{subset}.json").read_text())
    by_image: dict[int, list[dict]] = {}
    for a in data["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    out = []
    for img in sorted(data["images"], key=lambda i: i["id"]):
        anns = by_image.get(img["id"], [])
        boxes = coco_boxes(anns)
        kpts = np.array([a.get("keypoints", [0] * 51) for a in anns], np.float32).reshape(-1, 17, 3)
        bgr = cv2.imread(str(folder / img["file_name"]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"{folder / img['file_name']}: missing or unreadable image")
        out.append(
            AnnotatedImage(folder / img["file_name"], img["id"], np.ascontiguousarray(bgr[..., ::-1]), boxes, kpts)
        )
    return out


def middle_masks(sample: AnnotatedImage) -> np.ndarray:
    """(N, H, W) bool: the middle half (in width) of each box, a stand-in for detector masks."""
    h, w = sample.rgb.shape[:2]
    m = np.zeros((len(sample.boxes), h, w), bool)
    for j, (x1, y1, x2, y2) in enumerate(sample.boxes.astype(int)):
        m[j, y1:y2, (x1 + x2) // 2 - (x2 - x1) // 4 : (x1 + x2) // 2 + (x2 - x1) // 4 + 1] = True
    return m


def keypoint_prompts(sample: AnnotatedImage, most: int = 6) -> list[np.ndarray]:
    """Per person up to ``most`` labelled keypoints as (P, 2) points (the box center when none)."""
    out = []
    for box, k in zip(sample.boxes, sample.keypoints):
        vis = k[k[:, 2] > 0, :2][:most]
        out.append(vis if len(vis) else ((box[:2] + box[2:]) / 2)[None])
    return out
