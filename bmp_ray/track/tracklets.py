"""Labels per frame <-> tracklets, cuts at long gaps, and the consensus of a forward and a backward pass.

A labelling is a list with one (N_t,) int64 array per frame: the label of each detection, -1 for none.
A tracklet is the set of detections sharing one label: ``ts`` (L,) frame positions, increasing, and
``rows`` (L,) the detection index in each of those frames.
"""

from __future__ import annotations

import numpy as np


def tracklets(labels: list[np.ndarray]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``{label: (ts (L,) int64, rows (L,) int64)}`` of a labelling (label -1 left out).

    Raises:
        ValueError: if one label occurs twice in a frame.
    """
    ts, rows, labs = [], [], []
    for t, lab in enumerate(labels):
        j = np.flatnonzero(lab >= 0)
        ts.append(np.full(len(j), t, np.int64))
        rows.append(j)
        labs.append(lab[j])
    if not labs or not sum(len(x) for x in labs):
        return {}
    ts, rows, labs = np.concatenate(ts), np.concatenate(rows), np.concatenate(labs)
    order = np.lexsort((ts, labs))
    ts, rows, labs = ts[order], rows[order], labs[order]
    cuts = np.flatnonzero(np.diff(labs)) + 1
    out = {}
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(labs)]):
        twice = np.flatnonzero(np.diff(ts[a:b]) == 0)
        if len(twice):
            raise ValueError(f"tracklets: label {labs[a]} occurs twice in frame {ts[a + twice[0]]}")
        out[int(labs[a])] = (ts[a:b], rows[a:b])
    return out


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
    out = [np.full(len(lab), -1, np.int64) for lab in labels]
    next_label = 0
    for _, (ts, rows) in sorted(tracklets(labels).items()):
        piece = np.r_[0, np.cumsum(np.diff(ts) > gap)]
        for t, r, k in zip(ts.tolist(), rows.tolist(), piece.tolist()):
            out[t][r] = next_label + k
        next_label += int(piece[-1]) + 1
    return by_first_appearance(out)


def relabel(labels: list[np.ndarray], mapping: dict[int, int]) -> list[np.ndarray]:
    """Each label through ``mapping`` (labels absent from it become -1)."""
    if not mapping:
        return [np.full(len(lab), -1, np.int64) for lab in labels]
    keys = np.array(sorted(mapping), np.int64)
    vals = np.array([mapping[k] for k in keys], np.int64)
    out = []
    for lab in labels:
        pos = np.clip(np.searchsorted(keys, lab), 0, len(keys) - 1)
        hit = (lab >= 0) & (keys[pos] == lab)
        out.append(np.where(hit, vals[pos], -1).astype(np.int64))
    return out


def by_first_appearance(labels: list[np.ndarray], start: int = 0) -> list[np.ndarray]:
    """The same partition, labels renumbered ``start``, ``start + 1``, ... by first appearance
    (frame, then detection index): a canonical form, so equal partitions give equal labels."""
    mapping: dict[int, int] = {}
    for lab in labels:
        for v in lab[lab >= 0].tolist():
            if v not in mapping:
                mapping[v] = start + len(mapping)
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
