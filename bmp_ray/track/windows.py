"""Long videos: windows of frames linked on their own, with an overlap, stitched by vote.

Consecutive windows share ``overlap`` frames. On them, both windows label the same detections; a
label of the later window takes the id of the earlier window's label it shares most of its overlap
detections with (one-to-one, ``assign``), when they share at least half of its detections there and at
least ``MIN_VOTES``; otherwise it gets a fresh id. The earlier window's labels are kept up to the
middle of the overlap, the later window's (so mapped) from there on.

A window's linker sees only part of the context of a gap near its edges (the candidates beyond the
edge, the rows before it), and the vote then carries one window's partial view across the border: the
joins of two pieces across a gap that comes within ``margin`` frames of an overlap are undone
(``border_cuts``), for a link over the stitched video to decide them again with both sides in view.
"""

from __future__ import annotations

import numpy as np

from bmp_ray.track.assign import assign
from bmp_ray.track.tracklets import by_first_appearance, by_label, detections, labelling

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


def border_cuts(
    labels: list[np.ndarray], pieces: list[np.ndarray], spans: list[tuple[int, int]], margin: int
) -> list[np.ndarray]:
    """The stitched ``labels`` with every join of two ``pieces`` near a window border undone.

    Args:
        labels: per frame (N_t,) int64 ids of the stitched video (-1 untracked).
        pieces: per frame (N_t,) int64 labels of the same detections before the windows were linked
            (-1 untracked): each id of ``labels`` is a union of pieces.
        spans: the windows (``window_spans``).
        margin: frames on either side of an overlap within which a join counts as near it.

    Returns:
        A labelling (ids by first appearance from 0) in which a track passing from one piece to the next,
        from frame ``a`` to frame ``b``, is cut there when ``[a, b]`` comes within ``margin`` frames of
        the overlap ``[start, prev_stop)`` of two windows (``b >= start - margin`` and ``a < prev_stop +
        margin``); joins elsewhere and detections within one piece keep their id.
    """
    if len(labels) != len(pieces) or any(len(a) != len(b) for a, b in zip(labels, pieces)):
        raise ValueError("border_cuts: expected two labellings of the same frames and detections")
    if not labels:
        return []
    zones = np.array([(b[0] - margin, a[1] + margin) for a, b in zip(spans, spans[1:])], np.int64).reshape(-1, 2)
    ts, rows, lab = detections(labels)
    offsets = np.r_[0, np.cumsum([len(x) for x in pieces])[:-1]].astype(np.int64)
    piece = np.concatenate(pieces).astype(np.int64)[offsets[ts] + rows]
    order = by_label(ts, lab)  # by track, then frame
    same = lab[order][1:] == lab[order][:-1]
    a, b = ts[order][:-1], ts[order][1:]
    near = ((b[:, None] >= zones[:, 0]) & (a[:, None] < zones[:, 1])).any(1)
    cut = same & near & (piece[order][1:] != piece[order][:-1])
    out = np.empty(len(order), np.int64)
    out[order] = np.cumsum(np.r_[True, ~same | cut]) - 1
    return by_first_appearance(labelling(labels, ts, rows, out))
