"""Long videos: windows of frames tracked on their own, with an overlap, stitched by vote.

Consecutive windows share ``overlap`` frames. On them, both windows label the same detections; a
label of the later window takes the id of the earlier window's label it shares most of its overlap
detections with (one-to-one, ``assign``), when they share at least half of its detections there and at
least ``MIN_VOTES``; otherwise it gets a fresh id. The earlier window's labels are kept up to the
middle of the overlap, the later window's (so mapped) from there on.
"""

from __future__ import annotations

import numpy as np

from bmp_ray.track.assign import assign

MIN_VOTES = 2


def window_spans(num_frames: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(num_frames)``; consecutive spans share ``overlap``
    frames; ``size`` 0 or a video no longer than ``size``: one span. The last span is at most
    ``size`` long and starts ``size - overlap`` after the one before it, or earlier when the rest
    would be shorter than ``2 * overlap`` (it is then made longer, up to ``size + 2 * overlap``)."""
    if num_frames < 0 or size < 0 or overlap < 0 or (size and overlap * 2 >= size):
        raise ValueError(
            f"window_spans: expected num_frames, size >= 0 and 0 <= overlap < size / 2, got "
            f"{num_frames}, {size}, {overlap}"
        )
    if size == 0 or num_frames <= size:
        return [(0, num_frames)]
    spans, start = [], 0
    while start + size < num_frames:
        spans.append((start, start + size))
        start += size - overlap
    if num_frames - start < 2 * overlap and len(spans) > 1:  # too short to vote well: fold into the one before
        spans[-1] = (spans[-1][0], num_frames)
    else:
        spans.append((start, num_frames))
    return spans


def stitch(earlier: list[np.ndarray], later: list[np.ndarray]) -> dict[int, int]:
    """The earlier windows' id each label of the later window continues, voted on the overlap.

    Args:
        earlier: per overlap frame (N_t,) int64 ids given by the earlier windows (-1 untracked).
        later: per overlap frame (N_t,) int64 labels of the later window, same detections.

    Returns:
        ``{later label: earlier id}`` for the labels that won their vote (the others need fresh ids).
    """
    if len(earlier) != len(later) or any(len(a) != len(b) for a, b in zip(earlier, later)):
        raise ValueError("stitch: expected two labellings of the same overlap frames and detections")
    e = np.concatenate(earlier) if earlier else np.zeros(0, np.int64)
    lt = np.concatenate(later) if later else np.zeros(0, np.int64)
    both = (e >= 0) & (lt >= 0)
    mapping: dict[int, int] = {}
    if both.any():
        ge, inv_e = np.unique(e[both], return_inverse=True)
        gl, inv_l = np.unique(lt[both], return_inverse=True)
        votes = np.zeros((len(gl), len(ge)))
        np.add.at(votes, (inv_l, inv_e), 1)
        seen = np.array([(lt == v).sum() for v in gl], np.float64)
        ok = (votes >= MIN_VOTES) & (votes >= 0.5 * seen[:, None])
        pairs, _, _ = assign(np.where(ok, votes / seen[:, None], 0.0), 0.5)
        mapping = {int(gl[i]): int(ge[j]) for i, j in pairs}
    return mapping
