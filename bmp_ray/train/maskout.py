"""Mask-out augmentation for detector training: people painted black, as BMP's later passes see them.

In BMP's second and later iterations the detector sees the frame with every person already found
painted pure black (0, 0, 0). To teach it to ignore them while still finding the people around and
behind them, each training image gets:

1. a random subset of its annotated people chosen: none with probability ``p_none``, all with
   probability ``p_all`` (rare), otherwise k people with k uniform in 1..N-1 (N >= 2; one person: none
   or all by the same odds renormalised);
2. their instance masks painted (0, 0, 0), exactly as ``bmp_ray.bmp`` paints at inference;
3. those people removed from the targets, and also every other person whose mask is covered by the
   paint for at least ``covered`` of its area (default 0.7, ``>=``): too little of them is left to
   detect. Kept people keep their boxes and masks unchanged (the parts under the paint included: the
   full-extent box is what the detector should still predict for a partly occluded person).

People without a mask area (empty masks) are never painted and never counted as covered.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bmp_ray.masks import paint_black

COVERED = 0.7


@dataclasses.dataclass(frozen=True)
class MaskOut:
    """The result for one image.

    Attributes:
        image: (H, W, C) the painted image (same dtype as the input).
        keep: (N,) bool: people that stay in the targets.
        painted: (N,) bool: people chosen and painted.
        covered: (N,) float: fraction of each person's mask under the paint.
    """

    image: np.ndarray
    keep: np.ndarray
    painted: np.ndarray
    covered: np.ndarray


def choose(n: int, rng: np.random.Generator, p_none: float = 0.25, p_all: float = 0.05) -> np.ndarray:
    """(n,) bool: the people to paint (see the module docstring)."""
    chosen = np.zeros(n, bool)
    if n == 0:
        return chosen
    u = rng.random()
    if n == 1:
        chosen[0] = u >= p_none / (p_none + p_all) if p_none + p_all > 0 else bool(u < 0.5)
        return chosen
    if u < p_none:
        return chosen
    if u < p_none + p_all:
        chosen[:] = True
        return chosen
    k = int(rng.integers(1, n))
    chosen[rng.choice(n, size=k, replace=False)] = True
    return chosen


def mask_out(
    image: np.ndarray,
    masks: np.ndarray,
    rng: np.random.Generator,
    *,
    p_none: float = 0.25,
    p_all: float = 0.05,
    covered: float = COVERED,
) -> MaskOut:
    """Paint a random subset of people black and say who stays in the targets.

    Args:
        image: (H, W, C) image, any dtype (uint8 BGR or RGB in training); not modified.
        masks: (N, H, W) bool or 0/1 instance masks of the annotated people, image pixels.
        rng: the sample's generator (the same state gives the same sample).
        p_none, p_all: odds of painting nobody and everybody.
        covered: a kept person whose mask is under the paint for at least this fraction is removed.
    """
    masks = np.asarray(masks).astype(bool)
    n = len(masks)
    if masks.ndim != 3 or (n and masks.shape[1:] != image.shape[:2]):
        raise ValueError(f"masks: expected (N, {image.shape[0]}, {image.shape[1]}), got {masks.shape}")
    if not 0 < covered <= 1:
        raise ValueError(f"covered: expected a fraction in (0, 1], got {covered}")
    areas = masks.reshape(n, -1).sum(1) if n else np.zeros(0, np.int64)
    painted = choose(n, rng, p_none, p_all) & (areas > 0)
    paint = masks[painted].any(0) if painted.any() else np.zeros(image.shape[:2], bool)
    out = paint_black(image.copy(), paint)
    under = (masks & paint).reshape(n, -1).sum(1) if n else np.zeros(0, np.int64)
    frac = np.where(areas > 0, under / np.maximum(areas, 1), 0.0)
    keep = ~painted & ~((areas > 0) & (frac >= covered))
    return MaskOut(out, keep, painted, frac.astype(np.float64))
