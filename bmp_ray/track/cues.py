"""The association cues: box IoU, mask IoU and keypoint OKS as (M, N) similarity matrices in [0, 1].

Masks stay in COCO compressed RLE: ``pycocotools.mask.iou`` works on the run lengths without decoding,
and it skips pairs whose mask boxes do not overlap, so the cost is small even at 30 people. BMP's
masks are exclusive within a frame, which is what lets mask IoU separate people whose boxes overlap.
"""

from __future__ import annotations

import numpy as np
from pycocotools import mask as _coco

from bmp_ray.keypoints import COCO_SIGMAS


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of (M, 4) and (N, 4) xyxy boxes: (M, N) float64 (0 where a box has no area)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    wh = np.maximum(np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2]), 0.0)
    inter = wh[..., 0] * wh[..., 1]
    wh_a = np.maximum(a[:, 2:] - a[:, :2], 0.0)
    wh_b = np.maximum(b[:, 2:] - b[:, :2], 0.0)
    union = (wh_a[:, 0] * wh_a[:, 1])[:, None] + (wh_b[:, 0] * wh_b[:, 1])[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def rle_objects(counts, height: int, width: int) -> list:
    """COCO RLE dicts for pycocotools from ``counts`` bytes (``b""``, an absent mask, gives None)."""
    return [{"size": [int(height), int(width)], "counts": c} if c else None for c in counts]


def mask_iou(a: list, b: list) -> np.ndarray:
    """IoU of two lists of RLE dicts (None: absent): (M, N) float64, 0 where either is absent."""
    out = np.zeros((len(a), len(b)))
    ia = [i for i, r in enumerate(a) if r is not None]
    ib = [j for j, r in enumerate(b) if r is not None]
    if ia and ib:
        iou = _coco.iou([a[i] for i in ia], [b[j] for j in ib], [0] * len(ib))
        out[np.ix_(ia, ib)] = np.asarray(iou, np.float64).reshape(len(ia), len(ib))
    return out


def oks(a: np.ndarray, a_ok: np.ndarray, b: np.ndarray, b_ok: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """Object keypoint similarity of poses ``a`` and ``b`` on the joints confident in both.

    Args:
        a: (M, J, 2) x, y; ``a_ok`` (M, J) bool, the joints of ``a`` to use.
        b: (N, J, 2) x, y; ``b_ok`` (N, J) bool.
        areas: (N,) the object scale s^2 of each pose of ``b`` (its box area).

    Returns:
        (M, N) float64 in [0, 1]; 0 where the two share no confident joint. J <= 17 (COCO order).
    """
    j = a.shape[1]
    if a.shape[0] == 0 or b.shape[0] == 0:
        return np.zeros((a.shape[0], b.shape[0]))
    k2 = (2 * COCO_SIGMAS[:j]) ** 2
    d2 = ((a[:, None] - b[None]) ** 2).sum(-1)  # (M, N, J)
    e = np.exp(-d2 / (2 * np.maximum(areas, 1.0)[None, :, None] * k2))
    both = a_ok[:, None] & b_ok[None]
    n = both.sum(-1)
    return np.divide((e * both).sum(-1), n, out=np.zeros(n.shape), where=n > 0)


def combine(parts: list[tuple[float, np.ndarray, np.ndarray | None]]) -> np.ndarray:
    """Weighted mean of similarity matrices over the cues present for each pair.

    Args:
        parts: ``(weight, sim (M, N), present (M, N) bool or None for everywhere)`` per cue.

    Returns:
        (M, N) float64.
    """
    num = den = 0.0
    for w, sim, present in parts:
        if w <= 0:
            continue
        if present is None:
            num, den = num + w * sim, den + w
        else:
            p = present.astype(np.float64)
            num, den = num + w * sim * p, den + w * p
    return num / den
