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
by less than a factor ``MAX_HEIGHT_RATIO``. Linking repeats until no pair qualifies. The motion part
is computed for all candidate pairs at once (``motion_scores``), so linking the many pieces that
``cut_gap`` makes stays cheap.
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


def _end(frames: list[Frame], ts: np.ndarray, rows: np.ndarray, last: bool) -> dict:
    """The boxes, velocity, mask and pose at one end of a tracklet."""
    sel = slice(-FIT_ROWS, None) if last else slice(0, FIT_ROWS)
    t, r = ts[sel], rows[sel]
    z = kalman.xyxy_to_cxcywh(np.stack([frames[a].boxes[b] for a, b in zip(t.tolist(), r.tolist())]))
    if len(t) >= 2:
        tc = t - t.mean()
        vel = (tc[:, None] * (z - z.mean(0))).sum(0) / (tc**2).sum()
    else:
        vel = np.zeros(4)
    k = -1 if last else 0
    pose_at = None
    for a, b in zip(t[::-1], r[::-1]) if last else zip(t, r):
        if frames[a].keypoint_ok[b].sum() >= 3:
            pose_at = (a, b)
            break
    return {"t": int(t[k]), "z": z[k], "vel": vel, "mask": frames[t[k]].masks[r[k]], "pose_at": pose_at}


def _pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise IoU of (P, 4) and (P, 4) xyxy boxes: (P,)."""
    lt, rb = np.maximum(a[:, :2], b[:, :2]), np.minimum(a[:, 2:], b[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    union = np.prod(a[:, 2:] - a[:, :2], axis=1) + np.prod(b[:, 2:] - b[:, :2], axis=1) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def motion_scores(a: list[dict], b: list[dict]) -> np.ndarray:
    """(P,) motion part of the link score of ends ``a[k]`` (last detections) to starts ``b[k]``: the mean
    IoU of each end carried across the gap at its velocity with the other end's box; -1 where refused
    (no gap, heights differing by ``MAX_HEIGHT_RATIO`` or more, extrapolations that do not meet)."""
    if not a:
        return np.zeros(0)
    za, zb = np.stack([x["z"] for x in a]), np.stack([x["z"] for x in b])
    va, vb = np.stack([x["vel"] for x in a]), np.stack([x["vel"] for x in b])
    gap = np.array([y["t"] - x["t"] for x, y in zip(a, b)], np.float64)[:, None]
    pa, pb = za + va * gap, zb - vb * gap
    pa[:, 2:], pb[:, 2:] = np.maximum(pa[:, 2:], 1.0), np.maximum(pb[:, 2:], 1.0)
    box = kalman.cxcywh_to_xyxy
    motion = (_pair_iou(box(pa), box(zb)) + _pair_iou(box(pb), box(za))) / 2
    ha, hb = za[:, 3], zb[:, 3]
    bad = (gap[:, 0] < 1) | (np.maximum(ha, hb) >= MAX_HEIGHT_RATIO * np.maximum(np.minimum(ha, hb), 1.0))
    return np.where(bad | (motion <= 0), -1.0, motion)


def link_score(frames: list[Frame], a: dict, b: dict, cfg: TrackConfig, motion: float | None = None) -> float:
    """Link score in [0, 1] of tracklet end ``a`` (its last detection) to start ``b`` (-1: refused);
    ``motion``: its ``motion_scores`` part when already computed."""
    motion = float(motion_scores([a], [b])[0]) if motion is None else motion
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
    for _ in range(MAX_ROUNDS):
        tl = tracklets(labels)
        ids = sorted(tl)
        if len(ids) < 2:
            break
        first = np.array([tl[i][0][0] for i in ids])
        last = np.array([tl[i][0][-1] for i in ids])
        order = np.argsort(first, kind="stable")  # candidates found by search, not an (n, n) matrix
        lo = np.searchsorted(first[order], last + 1, "left")
        hi = np.searchsorted(first[order], last + cfg.link_max_gap, "right")
        cand = [(ia, int(ib)) for ia in range(len(ids)) for ib in order[lo[ia] : hi[ia]]]
        if not cand:
            break
        ends: dict = {}
        score: dict[tuple[int, int], float] = {}
        outgoing: dict[int, list[float]] = {}
        incoming: dict[int, list[float]] = {}
        for ia, ib in cand:
            for i, is_last in ((ia, True), (ib, False)):
                if (i, is_last) not in ends:
                    ends[i, is_last] = _end(frames, *tl[ids[i]], last=is_last)
        motion = motion_scores([ends[ia, True] for ia, _ in cand], [ends[ib, False] for _, ib in cand])
        extra = cfg.mask_weight > 0 or cfg.pose_weight > 0
        for (ia, ib), m in zip(cand, motion.tolist()):
            s_ab = score[ia, ib] = link_score(frames, ends[ia, True], ends[ib, False], cfg, m) if extra else m
            outgoing.setdefault(ia, []).append(s_ab)
            incoming.setdefault(ib, []).append(s_ab)
        merge = {}
        for (ia, ib), s_ab in score.items():
            if s_ab < cfg.link_min:
                continue
            if max(outgoing[ia]) > s_ab or max(incoming[ib]) > s_ab:
                continue  # not the best of both ends
            others = sorted(outgoing[ia])[:-1] + sorted(incoming[ib])[:-1]  # every score but this pair's
            if others and s_ab - max(others) < cfg.link_margin:
                continue  # ambiguous: another candidate of either end is nearly as good
            merge[ids[ib]] = ids[ia]
        if not merge:
            break
        mapping = {}
        for i in ids:
            root = i
            while root in merge:
                root = merge[root]
            mapping[i] = root
        labels = relabel(labels, mapping)
    return by_first_appearance(labels)
