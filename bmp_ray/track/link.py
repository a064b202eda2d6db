"""Conservative tracklet linking: a wrong merge costs more than a fragment.

A tracklet ``A`` that ends before a tracklet ``B`` starts, within ``link_max_gap`` frames, is a
candidate pair. Its link score is the weighted mean (``box_weight``, ``mask_weight``, ``pose_weight``)
of:

- motion: each end extrapolated across the gap at the velocity fitted to its last (first)
  ``FIT_ROWS`` boxes, the mean IoU of each extrapolation with the other end's box;
- mask IoU of A's last and B's first mask, for gaps of at most ``MASK_GAP`` frames;
- OKS of A's last and B's first confident pose, aligned on the box centres (the posture).

A pair is linked only when the extrapolated boxes overlap at all, its score is at least ``link_min``,
it is the best candidate of both its ends and beats every other candidate of both by ``link_margin``
(with a margin, refused when ambiguous; with 0, the default, mutual best), and the box heights differ
by less than a factor ``MAX_HEIGHT_RATIO``. Linking repeats until no pair qualifies. Then the sole
pairs are linked, in rounds as well: within ``link_sole_max_gap`` frames, a pair whose extrapolations
meet (score > 0) while no other candidate of either end's does, at a score of at least
``link_sole_min`` (below ``link_min``: with no rival, a weak but sole continuation is no risk of a
wrong merge among the tracklets; on the bench it links the people hidden longest, whose fitted
velocities carried across the gap overlap little). The motion part is computed for all candidate
pairs at once (``motion_scores``), so linking the many pieces that ``cut_gap`` makes stays cheap.
"""

from __future__ import annotations

import numpy as np

from bmp_ray.track import cues, kalman
from bmp_ray.track.config import TrackConfig
from bmp_ray.track.frames import Frame
from bmp_ray.track.tracklets import by_first_appearance, relabel, tracklets

FIT_ROWS = 10
MASK_GAP = 5
MAX_HEIGHT_RATIO = 1.5
MAX_ROUNDS = 20


def _fit_ends(
    boxes: np.ndarray, starts: np.ndarray, pieces: list[tuple[np.ndarray, np.ndarray]], last: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The last (``last``) or first detection of each tracklet and the velocity fitted there.

    Args:
        boxes: (R, 4) xyxy boxes of every detection of the video, frame after frame.
        starts: (T + 1,) where each frame's detections start in ``boxes``.
        pieces: ``(ts, rows)`` per tracklet.

    Returns:
        ``t`` (E,) int64 frame of that detection, ``z`` (E, 4) its box (centre, size), ``vel`` (E, 4) the
        least-squares velocity of its ``FIT_ROWS`` last (first) boxes (0 for a single row); tracklets of
        one length are fitted together.
    """
    e = len(pieces)
    t_end, z_end, vel = np.zeros(e, np.int64), np.zeros((e, 4)), np.zeros((e, 4))
    size = np.array([min(FIT_ROWS, len(ts)) for ts, _ in pieces], np.int64)
    for n in np.unique(size).tolist():
        g = np.flatnonzero(size == n)
        part = slice(-n, None) if last else slice(0, n)
        t = np.stack([pieces[k][0][part] for k in g])  # (G, n)
        r = np.stack([pieces[k][1][part] for k in g])
        z = kalman.xyxy_to_cxcywh(boxes[starts[t] + r]).reshape(len(g), n, 4)
        k = -1 if last else 0
        t_end[g], z_end[g] = t[:, k], z[:, k]
        if n >= 2:
            tc = t - t.mean(1, keepdims=True)
            vel[g] = (tc[:, :, None] * (z - z.mean(1, keepdims=True))).sum(1) / (tc**2).sum(1)[:, None]
    return t_end, z_end, vel


def _cues_end(frames: list[Frame], ts: np.ndarray, rows: np.ndarray, last: bool) -> dict:
    """The frame, mask and last (first) confident pose at one end of a tracklet (for ``link_score``)."""
    t, r = (ts[-FIT_ROWS:], rows[-FIT_ROWS:]) if last else (ts[:FIT_ROWS], rows[:FIT_ROWS])
    k = -1 if last else 0
    pose_at = None
    for a, b in zip(t[::-1], r[::-1]) if last else zip(t, r):
        if frames[a].keypoint_ok[b].sum() >= 3:
            pose_at = (a, b)
            break
    return {"t": int(t[k]), "mask": frames[t[k]].masks[r[k]], "pose_at": pose_at}


def _pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise IoU of (P, 4) and (P, 4) xyxy boxes: (P,)."""
    lt, rb = np.maximum(a[:, :2], b[:, :2]), np.minimum(a[:, 2:], b[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    union = np.prod(a[:, 2:] - a[:, :2], axis=1) + np.prod(b[:, 2:] - b[:, :2], axis=1) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def motion_scores(
    ta: np.ndarray, za: np.ndarray, va: np.ndarray, tb: np.ndarray, zb: np.ndarray, vb: np.ndarray
) -> np.ndarray:
    """(P,) motion part of the link score of tracklet ends (frame ``ta`` (P,), box ``za`` (P, 4) centre and
    size, velocity ``va`` (P, 4); ``_fit_ends``) to starts (``tb``, ``zb``, ``vb``): the mean IoU of each
    end carried across the gap at its velocity with the other end's box; -1 where refused (no gap,
    heights differing by ``MAX_HEIGHT_RATIO`` or more, extrapolations that do not meet)."""
    if not len(ta):
        return np.zeros(0)
    gap = (tb - ta).astype(np.float64)[:, None]
    pa, pb = za + va * gap, zb - vb * gap
    pa[:, 2:], pb[:, 2:] = np.maximum(pa[:, 2:], 1.0), np.maximum(pb[:, 2:], 1.0)
    box = kalman.cxcywh_to_xyxy
    motion = (_pair_iou(box(pa), box(zb)) + _pair_iou(box(pb), box(za))) / 2
    ha, hb = za[:, 3], zb[:, 3]
    bad = (gap[:, 0] < 1) | (np.maximum(ha, hb) >= MAX_HEIGHT_RATIO * np.maximum(np.minimum(ha, hb), 1.0))
    return np.where(bad | (motion <= 0), -1.0, motion)


def link_score(frames: list[Frame], a: dict, b: dict, cfg: TrackConfig, motion: float) -> float:
    """Link score in [0, 1] of tracklet end ``a`` (its last detection, ``_cues_end``) to start ``b`` (-1:
    refused), given its ``motion_scores`` part."""
    if motion < 0:
        return -1.0  # the ends do not meet: no cue may link them
    gap = b["t"] - a["t"]
    num, den = cfg.box_weight * motion, cfg.box_weight
    if cfg.mask_weight > 0 and gap <= MASK_GAP and a["mask"] is not None and b["mask"] is not None:
        num += cfg.mask_weight * cues.mask_iou([a["mask"]], [b["mask"]])[0, 0]
        den += cfg.mask_weight
    if cfg.pose_weight > 0 and a["pose_at"] and b["pose_at"]:
        fa, fb = frames[a["pose_at"][0]], frames[b["pose_at"][0]]
        ia, ib = a["pose_at"][1], b["pose_at"][1]
        ca = (fa.boxes[ia, :2] + fa.boxes[ia, 2:]) / 2
        cb = (fb.boxes[ib, :2] + fb.boxes[ib, 2:]) / 2
        box = fb.boxes[ib]
        area = np.array([(box[2] - box[0]) * (box[3] - box[1])])
        s = cues.oks(
            (fa.keypoints[ia] - ca + cb)[None],
            fa.keypoint_ok[ia][None],
            fb.keypoints[ib][None],
            fb.keypoint_ok[ib][None],
            area,
        )[0, 0]
        num += cfg.pose_weight * s
        den += cfg.pose_weight
    return float(num / den)


def link(frames: list[Frame], labels: list[np.ndarray], cfg: TrackConfig) -> list[np.ndarray]:
    """Labels with tracklets linked (see the module docstring); renumbered by first appearance.

    Args:
        frames: the frames of the labelling.
        labels: per frame (N_t,) int64 labels, -1 untracked.

    Returns:
        The linked labelling (a new list).
    """
    if cfg.link_max_gap == 0:
        return labels
    starts = np.r_[0, np.cumsum([len(f) for f in frames])]
    boxes = np.concatenate([f.boxes.reshape(-1, 4) for f in frames]) if frames else np.zeros((0, 4))
    labels = _rounds(frames, boxes, starts, labels, cfg, cfg.link_max_gap, _best)
    if cfg.link_sole_max_gap:
        labels = _rounds(frames, boxes, starts, labels, cfg, cfg.link_sole_max_gap, _sole)
    return by_first_appearance(labels)


def _best(ia: np.ndarray, ib: np.ndarray, score: np.ndarray, n: int, cfg: TrackConfig) -> np.ndarray:
    """The pairs (indices into ``ia``, ``ib``, ``score``) at least ``link_min`` that are the best of both
    their ends by ``link_margin`` (``n``: tracklets)."""
    best_out = np.full(n, -np.inf)
    best_in = np.full(n, -np.inf)
    np.maximum.at(best_out, ia, score)
    np.maximum.at(best_in, ib, score)
    keep = []
    for k in np.flatnonzero((score >= cfg.link_min) & (score >= best_out[ia]) & (score >= best_in[ib])):
        # the best of both ends; refused when another candidate of either end is nearly as good
        others = np.r_[np.sort(score[ia == ia[k]])[:-1], np.sort(score[ib == ib[k]])[:-1]]
        if len(others) and score[k] - others.max() < cfg.link_margin:
            continue
        keep.append(k)
    return np.array(keep, np.int64)


def _sole(ia: np.ndarray, ib: np.ndarray, score: np.ndarray, n: int, cfg: TrackConfig) -> np.ndarray:
    """The pairs at least ``link_sole_min`` that are the one candidate of both their ends whose
    extrapolations meet (score > 0) within ``link_sole_max_gap``: nobody else could continue either."""
    live = score > 0
    n_out = np.bincount(ia[live], minlength=n)
    n_in = np.bincount(ib[live], minlength=n)
    return np.flatnonzero(live & (score >= cfg.link_sole_min) & (n_out[ia] == 1) & (n_in[ib] == 1))


def _rounds(frames, boxes, starts, labels, cfg: TrackConfig, max_gap: int, choose) -> list[np.ndarray]:
    """Link in rounds until ``choose`` takes no candidate pair (pairs within ``max_gap`` frames)."""
    for _ in range(MAX_ROUNDS):
        tl = tracklets(labels)
        ids = sorted(tl)
        if len(ids) < 2:
            break
        pieces = [tl[i] for i in ids]
        first = np.array([ts[0] for ts, _ in pieces])
        last = np.array([ts[-1] for ts, _ in pieces])
        order = np.argsort(first, kind="stable")  # candidates found by search, not an (n, n) matrix
        lo = np.searchsorted(first[order], last + 1, "left")
        hi = np.searchsorted(first[order], last + max_gap, "right")
        count = hi - lo
        if not count.sum():
            break
        # the candidate pairs (ia, ib), by ia, then by ib's start
        ia = np.repeat(np.arange(len(ids)), count)
        ib = order[np.arange(count.sum()) - np.repeat(np.cumsum(count) - count - lo, count)]
        score = _scores(frames, boxes, starts, pieces, ia, ib, cfg)
        merge = {ids[ib[k]]: ids[ia[k]] for k in choose(ia, ib, score, len(ids), cfg).tolist()}
        if not merge:
            break
        mapping = {}
        for i in ids:
            root = i
            while root in merge:
                root = merge[root]
            mapping[i] = root
        labels = relabel(labels, mapping)
    return labels


def _scores(
    frames: list[Frame],
    boxes: np.ndarray,
    starts: np.ndarray,
    pieces: list[tuple[np.ndarray, np.ndarray]],
    ia: np.ndarray,
    ib: np.ndarray,
    cfg: TrackConfig,
) -> np.ndarray:
    """(P,) link scores of the candidate pairs: tracklet ``pieces[ia]`` continued by ``pieces[ib]``."""
    need_a, need_b = np.unique(ia), np.unique(ib)
    ta, za, va = _fit_ends(boxes, starts, [pieces[i] for i in need_a], last=True)
    tb, zb, vb = _fit_ends(boxes, starts, [pieces[i] for i in need_b], last=False)
    pa, pb = np.searchsorted(need_a, ia), np.searchsorted(need_b, ib)
    motion = motion_scores(ta[pa], za[pa], va[pa], tb[pb], zb[pb], vb[pb])
    if cfg.mask_weight <= 0 and cfg.pose_weight <= 0:
        return motion
    ends: dict[tuple[int, bool], dict] = {}
    out = np.zeros(len(ia))
    for k, (a, b, m) in enumerate(zip(ia.tolist(), ib.tolist(), motion.tolist())):
        for i, is_last in ((a, True), (b, False)):
            if (i, is_last) not in ends:
                ends[i, is_last] = _cues_end(frames, *pieces[i], last=is_last)
        out[k] = link_score(frames, ends[a, True], ends[b, False], cfg, m)
    return out
