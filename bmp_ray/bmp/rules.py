"""The BMP rules as pure numpy functions: OKS pose NMS, SAM prompt selection, exclusive masks, mask-out.

Where the research code (release 1.1.0) does otherwise, the docstring says so; ``tests/bmp`` pins it.
"""

from __future__ import annotations

import numpy as np

# COCO keypoint sigmas (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles)
COCO_SIGMAS = np.array([0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062,
                        0.107, 0.107, 0.087, 0.087, 0.089, 0.089], np.float64)
FACE = (0, 1, 2)  # nose, left eye, right eye


def box_areas(boxes: np.ndarray) -> np.ndarray:
    """(N,) areas of (N, 4) xyxy boxes: ``(x2 - x1) * (y2 - y1)``.

    The research code reads these boxes as xywh (area ``x2 * y2``); bmp_ray does not.
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def oks_matrix(kpts: np.ndarray, areas: np.ndarray, vis_thr: float,
               sigmas: np.ndarray = COCO_SIGMAS) -> np.ndarray:
    """(N, N) object keypoint similarity between people (mmpose's ``oks_iou`` rule, symmetric).

    Args:
        kpts: (N, 17, 3) x, y, score in frame pixels.
        areas: (N,) box areas; a pair uses the mean of its two areas.
        vis_thr: a keypoint counts when its score is above this in both people.

    Returns:
        (N, N) float64; 0 where two people share no visible keypoint; the diagonal is 1.
    """
    k = np.asarray(kpts, np.float64)[:, : len(sigmas)]
    n = len(k)
    var = (2 * sigmas) ** 2
    d2 = ((k[:, None, :, :2] - k[None, :, :, :2]) ** 2).sum(-1)  # (N, N, 17)
    area = (areas[:, None] + areas[None, :]) / 2 + np.spacing(1)
    e = d2 / var / area[..., None] / 2
    vis = k[:, :, 2] > vis_thr
    both = vis[:, None, :] & vis[None, :, :]
    count = both.sum(-1)
    oks = np.where(count > 0, (np.exp(-e) * both).sum(-1) / np.maximum(count, 1), 0.0)
    oks[np.arange(n), np.arange(n)] = 1.0
    return oks


def pose_nms(kpts: np.ndarray, boxes: np.ndarray, scores: np.ndarray, thr: float,
             vis_thr: float) -> np.ndarray:
    """Which people survive OKS pose NMS: (N,) bool.

    Repeatedly take the most similar remaining pair with OKS > ``thr`` and drop the member with fewer
    visible keypoints (score > ``vis_thr``); on a tie, the one with the lower ``scores``; then the later
    index. A dropped person leaves the pool at once: it can no longer suppress anybody (the research
    code keeps its similarity row active).

    Args:
        kpts: (N, 17+, 3) keypoints; boxes: (N, 4) xyxy; scores: (N,) person scores.
    """
    n = len(kpts)
    alive = np.ones(n, bool)
    if n < 2:
        return alive
    oks = oks_matrix(kpts, box_areas(boxes), vis_thr)
    np.fill_diagonal(oks, -1.0)
    nvis = (np.asarray(kpts)[:, :17, 2] > vis_thr).sum(1)
    while True:
        i, j = np.unravel_index(np.argmax(oks), oks.shape)
        if oks[i, j] <= thr:
            return alive
        key_i, key_j = (nvis[i], scores[i], -i), (nvis[j], scores[j], -j)
        loser = i if key_i < key_j else j
        alive[loser] = False
        oks[loser, :] = -1.0
        oks[:, loser] = -1.0


def select_prompts(kpts: np.ndarray, thr: float, most: int, percentile: float) -> np.ndarray:
    """SAM point prompts of one person from its 17 COCO keypoints: (P, 2) x, y, P <= ``most``.

    Keypoints with a score below ``thr`` are discarded; nose and eyes collapse to the single most
    confident of them; the first point is the most confident keypoint; each next one is, among the
    candidates whose score is at least the ``percentile`` of the remaining scores, the one farthest
    (largest distance to its nearest chosen point) from those already chosen.
    """
    k = np.asarray(kpts, np.float64)[:17]
    valid = k[:, 2] >= thr
    face = [i for i in FACE if valid[i]]
    if len(face) > 1:
        best = max(face, key=lambda i: (k[i, 2], -i))
        for i in face:
            valid[i] = i == best
    idx = list(np.flatnonzero(valid))
    if not idx:
        return np.zeros((0, 2), np.float32)
    chosen = [max(idx, key=lambda i: (k[i, 2], -i))]
    rest = [i for i in idx if i != chosen[0]]
    while rest and len(chosen) < most:
        cut = np.percentile(k[rest, 2], percentile)
        cand = [i for i in rest if k[i, 2] >= cut]
        dist = [np.min(np.hypot(*(k[chosen, :2] - k[i, :2]).T)) for i in cand]
        pick = cand[int(np.argmax(dist))]
        chosen.append(pick)
        rest.remove(pick)
    return k[chosen, :2].astype(np.float32)


def exclusive(new_masks: np.ndarray, new_scores: np.ndarray, old_masks: np.ndarray,
              old_scores: np.ndarray) -> np.ndarray:
    """New people's masks with every pixel another person claims more strongly removed.

    Each pixel belongs to the person with the highest mask x score (binary masks, score = SAM's
    predicted IoU); ties go to the earlier person (old before new, then by index). Only the new masks
    change: an old person keeps its pixels even where a new one scores higher.

    Args:
        new_masks: (N, h, w) bool; old_masks: (M, h, w) bool, the same window of the frame.
        new_scores: (N,); old_scores: (M,).

    Returns:
        (N, h, w) bool.
    """
    masks = np.concatenate([old_masks, new_masks]).astype(bool, copy=False)
    scores = np.concatenate([old_scores, new_scores]).astype(np.float64)
    m = len(old_masks)
    out = new_masks.astype(bool, copy=True)
    if len(masks) < 2:
        return out
    value = np.where(masks, scores[:, None, None], -np.inf)
    owner = np.argmax(value, axis=0)  # the first (earliest) maximum wins ties
    for i in range(len(new_masks)):
        out[i] &= owner == m + i
    return out


def mask_out(frame: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """A copy of ``frame`` (H, W, 3) with the pixels of any of ``masks`` (N, H, W) painted (0, 0, 0).

    Only mask pixels change: no dilation, no drawn labels (the research code writes a text label into
    the image it gives to the second detection pass).
    """
    out = frame.copy()
    if len(masks):
        out[np.any(masks, axis=0)] = 0
    return out
