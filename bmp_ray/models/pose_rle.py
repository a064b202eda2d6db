"""Decode a COCO RLE mask in its box window only, without the full frame.

pycocotools decodes a mask at frame size (2 MB at 1080p, per person); the pose crops need only the
window that holds the mask. The compressed ``counts`` string is parsed here in numpy (pycocotools'
``rleFrString``: 5 bits per character, a continuation bit, a sign bit on a number's last character,
and each count from the third on stored as the difference to the count two before), the runs give the
mask's columns and rows, and only that window is written.
"""

from __future__ import annotations

import numpy as np


def rle_counts(counts: bytes) -> np.ndarray:
    """The uncompressed run lengths (int64) of COCO compressed RLE ``counts`` (zeros first, column-major)."""
    s = np.frombuffer(bytes(counts), np.uint8).astype(np.int64) - 48
    ends = np.flatnonzero((s & 0x20) == 0)  # the last character of every number
    if ends.size == 0:
        return np.zeros(0, np.int64)
    s = s[:ends[-1] + 1]
    starts = np.r_[0, ends[:-1] + 1]
    shift = 5 * (np.arange(s.size) - np.repeat(starts, ends - starts + 1))
    x = np.add.reduceat((s & 0x1F) << shift, starts)
    negative = (s[ends] & 0x10) != 0
    x = np.where(negative, x - (np.int64(1) << (shift[ends] + 5)), x)
    x[1::2] = np.cumsum(x[1::2])
    x[2::2] = np.cumsum(x[2::2])
    return x


def rle_window(counts: bytes, height: int, width: int, transposed: bool = False) -> tuple[np.ndarray, int, int]:
    """The mask of ``counts`` in a window holding all of it.

    Args:
        counts: COCO compressed RLE of an (height, width) mask.
        transposed: return the window column-major, (w, h), as the runs lie (no transposing copy).

    Returns:
        window (h, w) uint8 0/1 (or (w, h) when ``transposed``), and its x0, y0 in the frame; the window
        is the mask's box, except that a run across columns takes the full column range of rows.
        An empty mask gives a (0, 0) window at 0, 0.
    """
    bounds = np.cumsum(rle_counts(counts))
    total = int(height) * int(width)
    on = len(bounds) // 2
    lo, hi = np.minimum(bounds[0:2 * on:2], total), np.minimum(bounds[1:2 * on:2], total)
    keep = hi > lo
    lo, hi = lo[keep], hi[keep]
    if lo.size == 0:
        return np.zeros((0, 0), np.uint8), 0, 0
    c0, c1 = lo // height, (hi - 1) // height
    across = c1 > c0
    x0, x1 = int(c0.min()), int(c1.max()) + 1
    y0 = int(np.where(across, 0, lo % height).min())
    y1 = int(np.where(across, height - 1, (hi - 1) % height).max()) + 1
    base, length = x0 * height, (x1 - x0) * height
    edges = np.stack([lo, hi], 1).ravel() - base
    runs = np.diff(np.concatenate([[0], edges, [length]]))
    values = np.zeros(runs.size, np.uint8)
    values[1::2] = 1
    cols = np.repeat(values, runs).reshape(x1 - x0, height)[:, y0:y1]
    win = np.ascontiguousarray(cols if transposed else cols.T)
    return win, x0, y0
