"""Labels per frame <-> tracklets, cuts at long gaps, and the consensus of a forward and a backward pass.

A labelling is a list with one (N_t,) int64 array per frame: the label of each detection, -1 for none.
A tracklet is the set of detections sharing one label: ``ts`` (L,) frame positions, increasing, and
``rows`` (L,) the detection index in each of those frames.
"""

from __future__ import annotations

import numpy as np


def detections(labels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every labelled detection of a labelling, as (D,) int64 columns ``ts``, ``rows``, ``labs``, ordered by
    frame, then row."""
    sizes = np.array([len(lab) for lab in labels], np.int64)
    if not sizes.sum():
        return (np.zeros(0, np.int64),) * 3
    labs = np.concatenate(labels).astype(np.int64, copy=False)
    ts = np.repeat(np.arange(len(labels), dtype=np.int64), sizes)
    rows = np.arange(len(labs), dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    keep = labs >= 0
    return ts[keep], rows[keep], labs[keep]


def by_label(ts: np.ndarray, labs: np.ndarray) -> np.ndarray:
    """The order of detections by label, then frame.

    Raises:
        ValueError: if one label occurs twice in a frame.
    """
    order = np.lexsort((ts, labs))
    ts, labs = ts[order], labs[order]
    twice = np.flatnonzero((labs[1:] == labs[:-1]) & (ts[1:] == ts[:-1]))
    if len(twice):
        raise ValueError(f"tracklets: label {labs[twice[0]]} occurs twice in frame {ts[twice[0]]}")
    return order


def tracklets(labels: list[np.ndarray]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``{label: (ts (L,) int64, rows (L,) int64)}`` of a labelling (label -1 left out), by label.

    Raises:
        ValueError: if one label occurs twice in a frame.
    """
    ts, rows, labs = detections(labels)
    if not len(labs):
        return {}
    order = by_label(ts, labs)
    ts, rows, labs = ts[order], rows[order], labs[order]
    cuts = np.flatnonzero(labs[1:] != labs[:-1]) + 1
    return dict(zip(labs[np.r_[0, cuts]].tolist(), zip(np.split(ts, cuts), np.split(rows, cuts))))


def cut_gaps(labels: list[np.ndarray], gap: int) -> list[np.ndarray]:
    """Each tracklet cut into pieces wherever two of its consecutive detections are more than ``gap``
    frames apart (``gap`` 0: unchanged).

    An online pass that picks a track up again after a long gap decides from one side only; cut
    there, the linker re-decides with both sides and every other tracklet end in competition.

    Returns:
        The labelling with every piece under a label of its own (labels by first appearance from 0).
    """
    if gap <= 0:
        return labels
    ts, rows, labs = detections(labels)
    order = by_label(ts, labs)
    ts_s, labs_s = ts[order], labs[order]
    start = np.r_[True, (labs_s[1:] != labs_s[:-1]) | (np.diff(ts_s) > gap)] if len(order) else np.zeros(0, bool)
    piece = np.empty(len(order), np.int64)
    piece[order] = np.cumsum(start) - 1
    return by_first_appearance(labelling(labels, ts, rows, piece))


def labelling(labels: list[np.ndarray], ts: np.ndarray, rows: np.ndarray, values: np.ndarray) -> list[np.ndarray]:
    """A labelling shaped like ``labels``: ``values`` at the detections (``ts``, ``rows``), -1 elsewhere."""
    sizes = np.array([len(lab) for lab in labels], np.int64)
    flat = np.full(sizes.sum(), -1, np.int64)
    flat[(np.cumsum(sizes) - sizes)[ts] + rows] = values
    return np.split(flat, np.cumsum(sizes)[:-1])


def relabel(labels: list[np.ndarray], mapping: dict[int, int]) -> list[np.ndarray]:
    """Each label through ``mapping`` (labels absent from it become -1)."""
    sizes = np.array([len(lab) for lab in labels], np.int64)
    if not mapping or not sizes.sum():
        return [np.full(n, -1, np.int64) for n in sizes.tolist()]
    keys = np.array(sorted(mapping), np.int64)
    vals = np.array([mapping[k] for k in keys.tolist()], np.int64)
    lab = np.concatenate(labels)
    pos = np.clip(np.searchsorted(keys, lab), 0, len(keys) - 1)
    hit = (lab >= 0) & (keys[pos] == lab)
    return np.split(np.where(hit, vals[pos], -1).astype(np.int64), np.cumsum(sizes)[:-1])


def by_first_appearance(labels: list[np.ndarray], start: int = 0) -> list[np.ndarray]:
    """The same partition, labels renumbered ``start``, ``start + 1``, ... by first appearance
    (frame, then detection index): a canonical form, so equal partitions give equal labels."""
    _, _, labs = detections(labels)
    seen, first = np.unique(labs, return_index=True)
    mapping = dict(zip(seen[np.argsort(first)].tolist(), range(start, start + len(seen))))
    return relabel(labels, mapping)


def consensus(forward: list[np.ndarray], backward: list[np.ndarray]) -> list[np.ndarray]:
    """The associations a forward and a backward pass agree on.

    Detections are grouped by their pair of labels (forward, backward): two detections share a
    consensus label only when both passes put them in one track. A detection only one pass tracked
    joins the group its track shares most detections with in the other pass (or a group of its own).

    Args:
        forward, backward: labellings of the same frames (the backward pass's labels already put back
            in forward frame order).

    Returns:
        The consensus labelling, labels by first appearance from 0.
    """
    if len(forward) != len(backward):
        raise ValueError(
            f"consensus: expected two labellings of one video, got {len(forward)} and {len(backward)} frames"
        )
    f = np.concatenate(forward) if forward else np.zeros(0, np.int64)
    b = np.concatenate(backward) if backward else np.zeros(0, np.int64)
    both = (f >= 0) & (b >= 0)
    f_partner = _most_common_partner(f[both], b[both])
    b_partner = _most_common_partner(b[both], f[both])
    keys: dict[tuple, int] = {}
    out = np.full(len(f), -1, np.int64)
    frame_of = np.repeat(np.arange(len(forward)), [len(x) for x in forward])
    taken: set[tuple[int, int]] = set()  # (group, frame) of the detections placed so far
    for stage in ("both", "forward only", "backward only"):
        for k, (fi, bi) in enumerate(zip(f.tolist(), b.tolist())):
            if stage == "both" and fi >= 0 and bi >= 0:
                key = (fi, bi)
            elif stage == "forward only" and fi >= 0 > bi:
                key = (fi, f_partner[fi]) if fi in f_partner else ("f", fi)
            elif stage == "backward only" and bi >= 0 > fi:
                key = (b_partner[bi], bi) if bi in b_partner else ("b", bi)
                if (keys.get(key), int(frame_of[k])) in taken:  # its group has a detection in this frame
                    key = ("b", bi)
            else:
                continue
            out[k] = keys.setdefault(key, len(keys))
            taken.add((int(out[k]), int(frame_of[k])))
    sizes = np.cumsum([0] + [len(x) for x in forward])
    return by_first_appearance([out[a:z] for a, z in zip(sizes[:-1], sizes[1:])])


def _most_common_partner(a: np.ndarray, b: np.ndarray) -> dict[int, int]:
    """For each value of ``a``, the value of ``b`` it is paired with most often (ties: the smallest)."""
    if len(a) == 0:
        return {}
    pairs, counts = np.unique(np.stack([a, b], 1), axis=0, return_counts=True)
    best: dict[int, tuple[int, int]] = {}
    for (x, y), c in zip(pairs.tolist(), counts.tolist()):
        if x not in best or c > best[x][0]:
            best[x] = (c, y)
    return {x: y for x, (c, y) in best.items()}
