"""The BMP rules as pure numpy functions: OKS pose NMS and SAM prompt selection.

Pose NMS and prompt selection are exactly ``shared/spec/bmp-method.md``'s "Pose NMS, exactly" and
"SAM prompts, exactly": the research code (release 1.1.0) with its named defects fixed. Where the
research code does otherwise, the docstring says so; ``tests/bmp/test_rules.py`` pins every clause, and
checks the vectorised rules against a literal transcription of the spec on random crowds.
"""

from __future__ import annotations

import numpy as np

from bmp_ray.keypoints import COCO_SIGMAS

FACE = (0, 1, 2)  # nose, left eye, right eye


def box_areas(boxes: np.ndarray) -> np.ndarray:
    """(N,) areas of (N, 4) xyxy boxes: ``(x2 - x1) * (y2 - y1)``.

    The research code reads these boxes as xywh (area ``x2 * y2``); bmp_ray does not.
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def oks_matrix(kpts: np.ndarray, boxes: np.ndarray, vis_thr: float, sigmas: np.ndarray = COCO_SIGMAS) -> np.ndarray:
    """(N, N) object keypoint similarity ``OKS[i, j]`` with person i as the reference (COCO's rule).

    Asymmetric, as COCO's ``computeOks`` with i as the ground truth and j as the detection: the scale
    is i's own box area, and only i's visible keypoints (score > ``vis_thr``) count; j's scores play no
    part. When i has no visible keypoint, COCO's fallback: each of j's 17 keypoints is measured by how
    far it lies outside i's box grown by its own width and height on every side (0 inside), and all 17
    count. The research code reads the box as xywh there; bmp_ray reads xyxy.

    Args:
        kpts: (N, 17+, 3) x, y, score in frame pixels (the first 17, COCO's, are used).
        boxes: (N, 4) xyxy boxes, frame pixels.
        vis_thr: a keypoint of the reference is visible when its score is strictly above this.

    Returns:
        (N, N) float64 in [0, 1]; the diagonal is 1 by convention (``pose_nms`` never reads it).
    """
    k = np.asarray(kpts, np.float64)[:, : len(sigmas)]
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    n = len(k)
    var = (2 * sigmas) ** 2
    vis = k[:, :, 2] > vis_thr  # (N, 17), per reference
    blind = ~vis.any(1)  # references with no visible keypoint: COCO's fallback
    d2 = ((k[:, None, :, :2] - k[None, :, :, :2]) ** 2).sum(-1)  # (N_ref, N_cand, 17)
    if blind.any():
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        lo = np.stack([b[:, 0] - w, b[:, 1] - h], -1)[:, None, None, :]  # (N_ref, 1, 1, 2)
        hi = np.stack([b[:, 2] + w, b[:, 3] + h], -1)[:, None, None, :]
        xy = k[None, :, :, :2]
        outside = np.maximum(0.0, lo - xy) + np.maximum(0.0, xy - hi)
        d2 = np.where(blind[:, None, None], (outside**2).sum(-1), d2)
    e = d2 / var / (box_areas(b)[:, None, None] + np.spacing(1)) / 2
    used = vis | blind[:, None]  # (N, 17)
    oks = (np.exp(-e) * used[:, None, :]).sum(-1) / used.sum(-1)[:, None]
    oks[np.arange(n), np.arange(n)] = 1.0
    return oks


def pose_nms(kpts: np.ndarray, boxes: np.ndarray, thr: float, vis_thr: float) -> np.ndarray:
    """Which people survive OKS pose NMS: (N,) bool (``shared/spec/bmp-method.md``, "Pose NMS").

    People are ordered as the loop gives them (those accepted so far, then the new ones). While some
    alive pair (i, j), i != j, has ``OKS[i, j] > thr`` (``oks_matrix``, i the reference): take the pair
    with the largest OKS (the first in row-major order on ties) and remove j if i has more visible
    keypoints (score > ``vis_thr``) than j, else remove i, so on equal counts the reference goes. A
    removed person leaves the pool at once, row and column: it can no longer suppress anybody (the
    research code keeps its similarity row active).

    Args:
        kpts: (N, 17+, 3) keypoints; boxes: (N, 4) xyxy.
    """
    n = len(kpts)
    alive = np.ones(n, bool)
    if n < 2:
        return alive
    oks = oks_matrix(kpts, boxes, vis_thr)
    np.fill_diagonal(oks, -np.inf)
    nvis = (np.asarray(kpts)[:, :17, 2] > vis_thr).sum(1)
    while True:
        i, j = divmod(int(np.argmax(oks)), n)  # argmax: the first maximum in row-major order
        if not oks[i, j] > thr:
            return alive
        loser = j if nvis[i] > nvis[j] else i
        alive[loser] = False
        oks[loser, :] = -np.inf
        oks[:, loser] = -np.inf


def select_prompts(kpts: np.ndarray, thr: float, most: int, percentile: float) -> np.ndarray:
    """SAM point prompts of one person from its 17 COCO keypoints: (P, 2) x, y, P <= ``most``.

    The method's "distance+confidence" rule (``shared/spec/bmp-method.md``, "SAM prompts"):

    1. No keypoint with a score strictly above ``thr``: no points, (0, 2); the loop then prompts with
       the detector box (a named departure: the research code takes the first 6 keypoints).
    2. Nose and eyes: the most confident of them (the first on ties), if its score is >= ``thr``,
       replaces the three (15 entries: it, then keypoints 3..16); otherwise all 17 stay.
    3. Candidates: the entries with score >= ``thr``, by score descending, the later entry first on
       ties; ``c`` holds their scores in that order.
    4. The first candidate is chosen and its ``c`` set to -1. Then each next point: every candidate's
       distance to its nearest chosen point, set to -1 where ``c`` is below the ``percentile`` of the
       WHOLE array ``c`` (chosen points count as -1 in it, so the cut falls as points are chosen); the
       farthest (the first on ties) is chosen and its ``c`` set to -1.
    5. The first ``most`` chosen points, in the order chosen.
    """
    k = np.asarray(kpts, np.float64)[:17]
    if not (k[:, 2] > thr).any():
        return np.zeros((0, 2), np.float32)
    face = int(np.argmax(k[list(FACE), 2]))
    entries = k if k[face, 2] < thr else np.concatenate([k[face : face + 1], k[len(FACE) :]])
    cand = [m for m in range(len(entries)) if entries[m, 2] >= thr]
    cand.sort(key=lambda m: (-entries[m, 2], -m))
    xy, c = entries[cand, :2], entries[cand, 2].copy()
    chosen = [0]
    c[0] = -1.0
    while len(chosen) < min(most, len(cand)):
        dist = np.min(np.hypot(*(xy[:, None, :] - xy[None, chosen, :]).transpose(2, 0, 1)), axis=1)
        dist[c < np.percentile(c, percentile)] = -1.0
        pick = int(np.argmax(dist))
        chosen.append(pick)
        c[pick] = -1.0
    return xy[chosen].astype(np.float32)
