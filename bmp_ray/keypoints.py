"""The keypoint layouts bmp_ray reads and writes: names, skeletons and the mapping to PoseTrack.

One table, shared by training (``train.keypoints``), drawing (``render``) and the exporters (``export.coco``,
``export.posetrack``). Indices are 0-based everywhere in bmp_ray; COCO and PoseTrack files want 1-based
skeletons, which :func:`one_based` gives.

- 21 keypoints (MaskPose / ViTPose-multi, ``models/configs/bmp_21kpt.py``): COCO's 17 in COCO order, then
  thorax, upper neck, head top, pelvis.
- 17 keypoints (COCO): the first 17 of the 21.
- PoseTrack18 (17): nose, head bottom, head top, ears, then COCO's shoulders to ankles. Head bottom is
  our upper neck and head top ours; PoseTrack has no eyes. From 17-keypoint output, head bottom and
  head top are missing (:data:`POSETRACK_FROM_21` points past the layout).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

COCO_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
#: (17,) float64: COCO's per-keypoint OKS constants, as pycocotools' COCOeval and mmpose's oks_iou write them
#: (the pose NMS of ``bmp.rules``, the tracker's pose cue and its benchmark use these).
COCO_SIGMAS = (
    np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89])
    / 10.0
)
COCO_SIGMAS.setflags(write=False)
NAMES_21: tuple[str, ...] = COCO_NAMES + ("thorax", "upper_neck", "head_top", "pelvis")
THORAX, UPPER_NECK, HEAD_TOP, PELVIS = (NAMES_21.index(n) for n in ("thorax", "upper_neck", "head_top", "pelvis"))

_LINKS_21 = (
    ("left_ankle", "left_knee"),
    ("left_knee", "left_hip"),
    ("right_ankle", "right_knee"),
    ("right_knee", "right_hip"),
    ("left_hip", "right_hip"),
    ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"),
    ("left_shoulder", "right_shoulder"),
    ("left_shoulder", "left_elbow"),
    ("right_shoulder", "right_elbow"),
    ("left_elbow", "left_wrist"),
    ("right_elbow", "right_wrist"),
    ("left_eye", "right_eye"),
    ("nose", "left_eye"),
    ("nose", "right_eye"),
    ("left_eye", "left_ear"),
    ("right_eye", "right_ear"),
    ("thorax", "upper_neck"),
    ("upper_neck", "head_top"),
    ("thorax", "pelvis"),
)
#: (20, 2) 0-based links of the 21-keypoint skeleton (the order of ``bmp_21kpt.py``'s skeleton_info).
SKELETON_21: tuple[tuple[int, int], ...] = tuple((NAMES_21.index(a), NAMES_21.index(b)) for a, b in _LINKS_21)
#: the links among COCO's 17 (the first 17 of ``SKELETON_21``).
SKELETON_17: tuple[tuple[int, int], ...] = tuple((a, b) for a, b in SKELETON_21 if a < 17 and b < 17)

# PoseTrack18: nose, head bottom, head top, ears, then COCO's shoulders to ankles
POSETRACK_NAMES: tuple[str, ...] = ("nose", "head_bottom", "head_top") + COCO_NAMES[3:]
#: PoseTrack index -> our index (21-keypoint layout).
POSETRACK_FROM_21: tuple[int, ...] = (0, UPPER_NECK, HEAD_TOP, 3, 4, *range(5, 17))
#: 0-based PoseTrack18 skeleton (the ``categories[0].skeleton`` of PoseTrack18 files, minus one).
POSETRACK_SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13),
    (13, 11),
    (16, 14),
    (14, 12),
    (11, 12),
    (5, 11),
    (6, 12),
    (5, 6),
    (5, 7),
    (6, 8),
    (7, 9),
    (8, 10),
    (1, 2),
    (0, 1),
    (0, 2),
    (1, 3),
    (2, 4),
    (3, 5),
    (4, 6),
)
#: PoseTrack keypoints that bound its head box (nose, head bottom, head top, ears).
POSETRACK_HEAD = (0, 1, 2, 3, 4)


def names(num_keypoints: int) -> tuple[str, ...]:
    """Keypoint names of the 17- or 21-keypoint layout."""
    return _layout(num_keypoints)[0]


def skeleton(num_keypoints: int) -> tuple[tuple[int, int], ...]:
    """0-based skeleton links of the 17- or 21-keypoint layout."""
    return _layout(num_keypoints)[1]


def _layout(k: int):
    if k == 21:
        return NAMES_21, SKELETON_21
    if k == 17:
        return COCO_NAMES, SKELETON_17
    raise ValueError(f"keypoint layout: expected 17 or 21 keypoints, got {k}")


def one_based(links: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Skeleton links as COCO and PoseTrack files write them (1-based lists)."""
    return [[a + 1, b + 1] for a, b in links]


def pose_score(keypoints):
    """A person's pose score: the mean score of its 17 COCO keypoints.

    Args:
        keypoints: (K, 3) or (N, K, 3) x, y, score with K >= 17.

    Returns:
        a float for one person, an (N,) float32 array for N.
    """
    import numpy as np

    k = np.asarray(keypoints, np.float32)
    if k.ndim not in (2, 3) or k.shape[-1] != 3 or k.shape[-2] < 17:
        raise ValueError(f"pose_score: expected (K >= 17, 3) or (N, K >= 17, 3) keypoints, got shape {k.shape}")
    s = k[..., :17, 2].mean(axis=-1)
    return float(s) if k.ndim == 2 else s.astype(np.float32)
