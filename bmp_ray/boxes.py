"""Box formats: bmp_ray's boxes are xyxy in pixels everywhere; COCO files and tools speak xywh."""

from __future__ import annotations

import numpy as np


def xywh_to_xyxy(boxes, dtype=np.float32) -> np.ndarray:
    """(N, 4) xyxy boxes from COCO's ``[x, y, w, h]`` boxes (a list of them, or an (N, 4) array).

    ``dtype``: of the result and of the sums (float32 by default; float64 keeps a float64 box's values).
    """
    b = np.array(boxes, dtype).reshape(-1, 4)
    b[:, 2:] += b[:, :2]
    return b


def xyxy_to_xywh(boxes, dtype=np.float32) -> np.ndarray:
    """(N, 4) COCO ``[x, y, w, h]`` boxes from xyxy boxes; ``dtype`` as in ``xywh_to_xyxy``."""
    b = np.array(boxes, dtype).reshape(-1, 4)
    b[:, 2:] -= b[:, :2]
    return b


def coco_boxes(annotations) -> np.ndarray:
    """(N, 4) float32 xyxy boxes of COCO annotations (their ``bbox``)."""
    return xywh_to_xyxy([a["bbox"] for a in annotations])
