"""A picture of detector training samples with people masked out (``bmp-ray maskout-preview``).

One row per image of a COCO instances file: the image with its people's boxes, then ``draws`` samples
of ``MaskOutPeople`` as training makes them (mmdet's loading, the same transform and odds): painted
people in black, people kept in the targets boxed green, people removed from the targets boxed red
(the painted ones, and those covered by the paint for ``covered`` or more).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

from bmp_ray.errors import ConfigError
from bmp_ray.train.det_data import MaskOutPeople, compose, load_instances
from bmp_ray.train.maskout import COVERED

log = logging.getLogger(__name__)
TILE_HEIGHT = 240
GREEN, RED, WHITE = (60, 200, 60), (40, 40, 230), (255, 255, 255)  # BGR


def _tile(img: np.ndarray, kept: np.ndarray, removed: np.ndarray, caption: str) -> np.ndarray:
    scale = TILE_HEIGHT / img.shape[0]
    tile = cv2.resize(img, (max(1, round(img.shape[1] * scale)), TILE_HEIGHT), interpolation=cv2.INTER_AREA)
    for boxes, colour in ((kept, GREEN), (removed, RED)):
        for x1, y1, x2, y2 in np.asarray(boxes, np.float64).reshape(-1, 4) * scale:
            cv2.rectangle(tile, (int(x1), int(y1)), (int(x2), int(y2)), colour, 2)
    cv2.putText(tile, caption, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(tile, caption, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, WHITE, 1, cv2.LINE_AA)
    return tile


def maskout_preview(
    ann_file: str | os.PathLike,
    img_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    draws: int = 3,
    seed: int = 0,
    width: int = 1200,
    p_none: float = 0.25,
    p_all: float = 0.05,
    covered: float = COVERED,
) -> Path:
    """Write the picture to ``out`` (.jpg / .png) and return its path."""
    from bmp_ray.models import registry
    from bmp_ray.models.build import mm_config

    if draws < 1 or width < 100:
        raise ConfigError(f"maskout_preview: expected draws >= 1 and width >= 100, got {draws} and {width}")
    out = Path(out)
    if out.suffix.lower() not in (".jpg", ".jpeg", ".png"):
        raise ConfigError(f"{out}: expected a .jpg or .png path for the picture")
    steps = mm_config(registry.get("rtmdet-ins-l-bmp")).train_pipeline
    load = compose(steps[: [t["type"] for t in steps].index("MaskOutPeople")])  # training's own loading
    mask_out = MaskOutPeople(p_none, p_all, covered)
    rows = []
    for k, info in enumerate(load_instances(ann_file, img_dir)):
        base = load(info)
        boxes = base["gt_bboxes"].tensor.numpy()
        tiles = [_tile(base["img"], boxes, [], f"{len(boxes)} people")]
        for d in range(draws):
            np.random.seed(np.random.SeedSequence([seed, k, d]).generate_state(1)[0])
            sample = mask_out(dict(base))
            kept = sample["gt_bboxes"].tensor.numpy()
            gone = np.array([b for b in boxes if not (np.abs(kept - b).sum(1) < 1e-3).any()]).reshape(-1, 4)
            tiles.append(_tile(sample["img"], kept, gone, f"painted {sample['masked_out']}, kept {len(kept)}"))
        rows.append(np.hstack(tiles))
    if not rows:
        raise ValueError(f"{ann_file}: no images to preview")
    wide = max(r.shape[1] for r in rows)
    picture = np.vstack([np.pad(r, ((0, 4), (0, wide - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    size = (width, round(picture.shape[0] * width / picture.shape[1]))
    picture = cv2.resize(picture, size, interpolation=cv2.INTER_AREA)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), picture):
        raise ValueError(f"{out}: could not write the picture (is the folder writable?)")
    log.info("wrote %s (%d images x %d draws)", out, len(rows), draws)
    return out
