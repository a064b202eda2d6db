"""Conservative tracklet linking: a wrong merge costs more than a fragment.

A tracklet ``A`` that ends before a tracklet ``B`` starts, within ``link_max_gap`` frames, is a
candidate pair. Its link score is the weighted mean (``box_weight``, ``mask_weight``, ``pose_weight``)
of:

- motion: each end extrapolated across the gap at the velocity fitted to its last (first)
  ``FIT_ROWS`` boxes, the mean IoU of each extrapolation with the other end's box;
- mask IoU of A's last and B's first mask, for gaps of at most ``MASK_GAP`` frames;
- OKS of A's last and B's first confident pose, aligned on the box centres (the posture).

A pair is linked only when the extrapolated boxes overlap at all, its score is at least ``link_min``
and beats every other candidate of both ends by ``link_margin`` (refused when ambiguous), and the
box heights differ by less than a factor ``MAX_HEIGHT_RATIO``. Linking repeats until no pair qualifies.
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
        vel = (tc[:, None] * (z - z.mean(0))).sum(0) / (tc ** 2).sum()
    else:
        vel = np.zeros(4)
    k = -1 if last else 0
    pose_at = None
    for a, b in (zip(t[::-1], r[::-1]) if last else zip(t, r)):
        if frames[a].keypoint_ok[b].sum() >= 3:
            pose_at = (a, b)
            break
    return {"t": int(t[k]), "z": z[k], "vel": vel, "mask": frames[t[k]].masks[r[k]], "pose_at": pose_at}


def link_score(frames: list[Frame], a: dict, b: dict, cfg: TrackConfig) -> float:
    """Link score in [0, 1] of tracklet end ``a`` (its last detection) to start ``b`` (-1: refused)."""
    gap = b["t"] - a["t"]
    ha, hb = a["z"][3], b["z"][3]
    if gap < 1 or max(ha, hb) >= MAX_HEIGHT_RATIO * max(min(ha, hb), 1.0):
        return -1.0
    za = a["z"] + a["vel"] * gap
    za[2:] = np.maximum(za[2:], 1.0)
    zb = b["z"] - b["vel"] * gap
    zb[2:] = np.maximum(zb[2:], 1.0)
    motion = (cues.box_iou(kalman.cxcywh_to_xyxy(za), kalman.cxcywh_to_xyxy(b["z"]))[0, 0]
              + cues.box_iou(kalman.cxcywh_to_xyxy(zb), kalman.cxcywh_to_xyxy(a["z"]))[0, 0]) / 2
    if motion <= 0:
        return -1.0  # the ends do not meet: no cue may link them
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
        s = cues.oks((fa.keypoints[ia] - ca + cb)[None], fa.keypoint_ok[ia][None], fb.keypoints[ib][None],
                     fb.keypoint_ok[ib][None], area)[0, 0]
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
        cand = [(ia, int(ib)) for ia in range(len(ids)) for ib in order[lo[ia]:hi[ia]]]
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
            s_ab = score[ia, ib] = link_score(frames, ends[ia, True], ends[ib, False], cfg)
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
