"""MaskPose's training-time mask perturbations, so the pose model learns to use imperfect masks.

Every training mask is perturbed (the published recipe: dilate or erode, remove or add random
patches). ``perturb_mask`` applies, each with probability 0.5 and at least one of them:

- morphology: dilate or erode (equal odds) with an elliptical kernel whose radius is 2-8 percent of the
  box's mean side (at least 1 px);
- remove: 1-3 rectangles of 10-30 percent of the box's sides, placed inside the box, set to 0;
- add: 1-2 such rectangles placed inside the box grown by 25 percent, set to 1.

When the draws happen to leave the mask as it was (a patch removed outside the person, added inside
it), the mask is dilated by one pixel, so that a non-empty mask never comes back unchanged.

Only the window of the box grown by 25 percent changes; the mask outside it is returned unchanged.
"""

from __future__ import annotations

import cv2
import numpy as np

GROW = 0.25


def _window(box: np.ndarray, height: int, width: int, grow: float) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (float(v) for v in box)
    gx, gy = (x2 - x1) * grow / 2, (y2 - y1) * grow / 2
    return (
        max(int(np.floor(x1 - gx)), 0),
        max(int(np.floor(y1 - gy)), 0),
        min(int(np.ceil(x2 + gx)), width),
        min(int(np.ceil(y2 + gy)), height),
    )


def _patch(rng: np.random.Generator, bw: float, bh: float, area: tuple[int, int, int, int]):
    """A rectangle of 10-30 percent of the box's sides with its center uniform in ``area`` (x0, y0, x1, y1)."""
    pw, ph = max(1, int(bw * rng.uniform(0.1, 0.3))), max(1, int(bh * rng.uniform(0.1, 0.3)))
    cx, cy = rng.uniform(area[0], max(area[2], area[0] + 1)), rng.uniform(area[1], max(area[3], area[1] + 1))
    return int(cx - pw / 2), int(cy - ph / 2), int(cx + pw / 2) + 1, int(cy + ph / 2) + 1


def perturb_mask(mask: np.ndarray, box: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A perturbed copy of a person's mask.

    Args:
        mask: (H, W) bool or 0/1 uint8, image pixels.
        box: (4,) xyxy of the person, image pixels.
        rng: the sample's generator (the same state gives the same result).

    Returns:
        (H, W) uint8 0/1.
    """
    out = np.ascontiguousarray(mask, np.uint8).copy()
    h, w = out.shape
    x0, y0, x1, y1 = _window(box, h, w, GROW)
    if x1 <= x0 or y1 <= y0:
        return out
    win = out[y0:y1, x0:x1]  # a view: edits land in ``out``
    bw, bh = max(float(box[2] - box[0]), 1.0), max(float(box[3] - box[1]), 1.0)
    ops = rng.random(3) < 0.5
    if not ops.any():
        ops[rng.integers(3)] = True
    if ops[0]:
        r = max(1, int(round(rng.uniform(0.02, 0.08) * (bw + bh) / 2)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        op = cv2.dilate if rng.random() < 0.5 else cv2.erode
        win[:] = op(win, kernel, borderType=cv2.BORDER_REPLICATE)
    inner = (float(box[0]) - x0, float(box[1]) - y0, float(box[2]) - x0, float(box[3]) - y0)
    if ops[1]:
        for _ in range(rng.integers(1, 4)):
            a, b, c, d = _patch(rng, bw, bh, inner)
            win[max(b, 0) : max(d, 0), max(a, 0) : max(c, 0)] = 0
    if ops[2]:
        for _ in range(rng.integers(1, 3)):
            a, b, c, d = _patch(rng, bw, bh, (0, 0, x1 - x0, y1 - y0))
            win[max(b, 0) : max(d, 0), max(a, 0) : max(c, 0)] = 1
    if np.array_equal(win, mask[y0:y1, x0:x1]):
        win[:] = cv2.dilate(win, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
    return out
