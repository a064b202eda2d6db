"""Test oracles of the BMP rules: plain full-frame formulations the loop's windowed code must equal."""

from __future__ import annotations

import numpy as np


def exclusive(
    new_masks: np.ndarray, new_scores: np.ndarray, old_masks: np.ndarray, old_scores: np.ndarray
) -> np.ndarray:
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
