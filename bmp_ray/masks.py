"""Instance masks as COCO run-length encodings (pycocotools), the only form masks travel in.

A mask is stored as the ``counts`` bytes of COCO's compressed RLE, column-major, for a frame of
``(height, width)``. pycocotools decodes it; so does any COCO tool given ``{"size": [h, w], "counts": ...}``.
"""

from __future__ import annotations

import numpy as np
from pycocotools import mask as _coco


def encode(masks: np.ndarray) -> list[bytes]:
    """Encode binary masks.

    Args:
        masks: (N, H, W) or (H, W), bool or uint8 (non-zero is inside), frame pixels.

    Returns:
        N compressed RLE ``counts`` (bytes).
    """
    m = np.asarray(masks)
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3:
        raise ValueError(f"masks must be (N, H, W) or (H, W), got shape {m.shape}")
    if m.shape[0] == 0:
        return []
    rles = _coco.encode(np.asfortranarray(np.moveaxis(m != 0, 0, -1).astype(np.uint8)))
    return [r["counts"] for r in rles]


def _rles(counts, height: int, width: int) -> list[dict]:
    return [{"size": [int(height), int(width)], "counts": c if isinstance(c, bytes) else str(c).encode()}
            for c in counts]


def decode(counts, height: int, width: int) -> np.ndarray:
    """Decode RLE ``counts`` to an (N, H, W) bool array (N may be 0)."""
    counts = list(counts)
    if not counts:
        return np.zeros((0, int(height), int(width)), bool)
    return np.moveaxis(_coco.decode(_rles(counts, height, width)), -1, 0).astype(bool)


def area(counts, height: int, width: int) -> np.ndarray:
    """(N,) int64 pixel counts, without decoding."""
    counts = list(counts)
    return np.asarray(_coco.area(_rles(counts, height, width)) if counts else [], np.int64)


def to_bbox(counts, height: int, width: int) -> np.ndarray:
    """(N, 4) float32 tight boxes, xyxy in frame pixels, without decoding (zeros for empty masks)."""
    counts = list(counts)
    if not counts:
        return np.zeros((0, 4), np.float32)
    xywh = np.asarray(_coco.toBbox(_rles(counts, height, width)), np.float32).reshape(-1, 4)
    xywh[:, 2:] += xywh[:, :2]
    return xywh



def from_segmentation(seg, height: int, width: int) -> np.ndarray:
    """(H, W) bool mask of a COCO annotation's ``segmentation`` (polygons, uncompressed or compressed RLE)."""
    if isinstance(seg, list):
        rle = _coco.merge(_coco.frPyObjects(seg, height, width))
    elif isinstance(seg.get("counts"), list):
        rle = _coco.frPyObjects(seg, height, width)
    else:
        counts = seg["counts"]
        rle = {"size": list(seg["size"]), "counts": counts.encode() if isinstance(counts, str) else counts}
    return _coco.decode(rle).astype(bool)
