"""Box formats: bmp_ray's boxes are xyxy in pixels everywhere; COCO files and tools speak xywh."""

from __future__ import annotations

import numpy as np


def xywh_to_xyxy(boxes) -> np.ndarray:
    """(N, 4) float32 xyxy boxes from COCO's ``[x, y, w, h]`` boxes (a list of them, or an (N, 4) array)."""
    b = np.array(boxes, np.float32).reshape(-1, 4)
    b[:, 2:] += b[:, :2]
    return b


def xyxy_to_xywh(boxes) -> np.ndarray:
    """(N, 4) float32 COCO ``[x, y, w, h]`` boxes from xyxy boxes."""
    b = np.array(boxes, np.float32).reshape(-1, 4)
    b[:, 2:] -= b[:, :2]
    return b


def coco_boxes(annotations) -> np.ndarray:
    """(N, 4) float32 xyxy boxes of COCO annotations (their ``bbox``)."""
    return xywh_to_xyxy([a["bbox"] for a in annotations])
