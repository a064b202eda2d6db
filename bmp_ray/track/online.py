"""One online pass over a sequence of frames: Kalman prediction, ByteTrack's two stages, OC-SORT's
recovery and re-update.

Per frame:

1. every track is predicted one frame ahead;
2. stage 1: detections scoring at least ``high_score`` against all tracks, on the combined similarity
   of box IoU (with the prediction), mask IoU (with the track's last accepted mask, however old: a
   mask cue on some pairs only would weigh the pairs unequally, as the mean with the mask cue is
   lower for the right pair than box IoU alone whenever the person's visible part changed) and
   keypoint OKS (with its last confident pose, moved by the predicted motion); a pair may be matched
   when its combined similarity or its box IoU is at least ``match_min`` (the other cues then only
   choose among the pairs the box allows, or rescue a pair the box alone would miss);
3. stage 2: detections in ``[low_score, high_score)`` against the tracks seen in the previous frame
   and still unmatched, on box IoU alone, at least ``low_match_min``;
4. recovery (OC-SORT's OCR): remaining confident detections against remaining tracks on box IoU
   with the track's last observed box, at least ``low_match_min``;
5. matched tracks are updated (the track's mask and pose only by a detection whose mask overlaps
   the track's by ``AGREE``, or when they are older than ``STALE`` frames); one seen again after a
   gap is re-updated along the straight line from its last observation (``kalman.reupdate``);
   confident detections left over start tracks; tracks unseen for more than ``max_age`` frames end.

The pass is deterministic: the same frames and settings give the same labels.
"""

from __future__ import annotations

import numpy as np

from bmp_ray.track import cues, kalman
from bmp_ray.track.assign import assign
from bmp_ray.track.config import TrackConfig
from bmp_ray.track.frames import Frame

STALE = 3  # frames after which a track's mask and pose are replaced whatever the new ones look like
AGREE = 0.3  # the least mask IoU of a detection with its track's mask for it to replace it


class _Tracks:
    """The live tracks as parallel arrays (M tracks)."""

    def __init__(self, joints: int):
        self.mean = np.zeros((0, 8))
        self.cov = np.zeros((0, *kalman.COV_SHAPE))
        self.obs_mean = np.zeros((0, 8))  # the state right after the last observation (for the re-update)
        self.obs_cov = np.zeros((0, *kalman.COV_SHAPE))
        self.last_box = np.zeros((0, 4))
        self.last_t = np.zeros(0, np.int64)
        self.label = np.zeros(0, np.int64)
        self.pose = np.zeros((0, joints, 2))
        self.pose_ok = np.zeros((0, joints), bool)
        self.pose_box = np.zeros((0, 4))  # the box the last confident pose was seen in
        self.masks: list = []
        self.cue_t = np.zeros(0, np.int64)  # the frame the track's mask and pose were last replaced in

    def keep(self, sel: np.ndarray) -> None:
        for name in (
            "mean",
            "cov",
            "obs_mean",
            "obs_cov",
            "last_box",
            "last_t",
            "label",
            "pose",
            "pose_ok",
            "pose_box",
            "cue_t",
        ):
            setattr(self, name, getattr(self, name)[sel])
        self.masks = [self.masks[i] for i in np.flatnonzero(sel)]

    def add(self, frame: Frame, idx: np.ndarray, t: int, labels: np.ndarray) -> None:
        mean, cov = kalman.initiate(frame.boxes[idx])
        cat = np.concatenate
        self.mean, self.cov = cat([self.mean, mean]), cat([self.cov, cov])
        self.obs_mean, self.obs_cov = cat([self.obs_mean, mean]), cat([self.obs_cov, cov])
        self.last_box = cat([self.last_box, frame.boxes[idx]])
        self.last_t = cat([self.last_t, np.full(len(idx), t, np.int64)])
        self.label = cat([self.label, labels])
        self.pose = cat([self.pose, frame.keypoints[idx]])
        self.pose_ok = cat([self.pose_ok, frame.keypoint_ok[idx]])
        self.pose_box = cat([self.pose_box, frame.boxes[idx]])
        self.masks += [frame.masks[i] for i in idx]
        self.cue_t = cat([self.cue_t, np.full(len(idx), t, np.int64)])


def similarity(
    tr: _Tracks, pred_box: np.ndarray, frame: Frame, det: np.ndarray, t: int, cfg: TrackConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Stage-1 similarity of the tracks and the detections ``det`` of frame ``t``.

    Returns:
        ``(sim, iou, miou)``: the combined similarity and the box IoU with the prediction, (M, D) each,
        and the mask IoU of each track's last accepted mask with each detection's ((M, D), NaN where a
        mask is absent; None when the mask cue is off). The mask cue is used whatever the age of the
        track's mask (every pair is then weighed alike); a pair whose boxes do not overlap at all gets
        0 whatever its other cues.
    """
    iou = cues.box_iou(pred_box, frame.boxes[det])
    parts = [(cfg.box_weight, iou, None)]
    miou = None
    if cfg.mask_weight > 0:
        dm = [frame.masks[i] for i in det]
        have = (
            np.array([m is not None for m in tr.masks], bool)[:, None]
            & np.array([m is not None for m in dm], bool)[None]
        )
        mi = cues.mask_iou(tr.masks, dm)
        parts.append((cfg.mask_weight, mi, have))
        miou = np.where(have, mi, np.nan)
    if cfg.pose_weight > 0:
        shift = (pred_box[:, :2] + pred_box[:, 2:] - tr.pose_box[:, :2] - tr.pose_box[:, 2:]) / 2
        b = frame.boxes[det]
        areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        ok_t, ok_d = tr.pose_ok, frame.keypoint_ok[det]
        sim = cues.oks(tr.pose + shift[:, None], ok_t, frame.keypoints[det], ok_d, areas)
        have = ok_t.any(1)[:, None] & ok_d.any(1)[None]
        parts.append((cfg.pose_weight, sim, have))
    sim = cues.combine(parts)
    return np.where(iou > 0, sim, 0.0), iou, miou


def _observe(
    tr: _Tracks, f: Frame, ti: np.ndarray, dj: np.ndarray, t: int, check: bool, known: np.ndarray | None = None
) -> None:
    """Tracks ``ti`` saw detections ``dj`` of frame ``t``: filter updates (batched; a re-update along
    the gap for tracks seen again after one), last box, mask and confident pose (``check``: only from a
    detection whose mask agrees with the track's, see ``AGREE``; ``known``: (P,) the mask IoU of each
    pair where already computed, NaN elsewhere)."""
    gap = t - tr.last_t[ti]
    now = gap == 1
    # a detection whose mask disagrees with the track's (BMP swapped two people's cues, or the track
    # jumped) does not replace the track's mask and pose, unless those are stale
    agree = np.ones(len(ti), bool)
    ask = np.flatnonzero(t - tr.cue_t[ti] <= STALE) if check else ()
    if len(ask):
        have = np.full(len(ti), np.nan) if known is None else np.asarray(known, np.float64).copy()
        ask = [k for k in ask.tolist() if tr.masks[ti[k]] is not None and f.masks[dj[k]] is not None]
        left = [k for k in ask if np.isnan(have[k])]
        if left:  # one batched call (pycocotools skips the pairs whose mask boxes are apart)
            pairs = cues.mask_iou([tr.masks[ti[k]] for k in left], [f.masks[dj[k]] for k in left])
            have[left] = np.diagonal(pairs)
        agree[ask] = have[ask] >= AGREE
    if now.any():
        i, j = ti[now], dj[now]
        tr.mean[i], tr.cov[i] = kalman.update(tr.mean[i], tr.cov[i], f.boxes[j])
    if (~now).any():
        i, j = ti[~now], dj[~now]
        tr.mean[i], tr.cov[i] = kalman.reupdate(tr.obs_mean[i], tr.obs_cov[i], tr.last_box[i], f.boxes[j], gap[~now])
    tr.obs_mean[ti], tr.obs_cov[ti] = tr.mean[ti], tr.cov[ti]
    tr.last_box[ti], tr.last_t[ti] = f.boxes[dj], t
    for i, j, a in zip(ti.tolist(), dj.tolist(), agree.tolist()):
        if f.masks[j] is not None and a:
            tr.masks[i] = f.masks[j]
    tr.cue_t[ti[agree]] = t
    posed = (f.keypoint_ok[dj].sum(1) >= 3) & agree
    i, j = ti[posed], dj[posed]
    tr.pose[i], tr.pose_ok[i], tr.pose_box[i] = f.keypoints[j], f.keypoint_ok[j], f.boxes[j]


def track_pass(frames: list[Frame], cfg: TrackConfig) -> list[np.ndarray]:
    """Labels of one online pass over ``frames`` in the given order.

    Returns:
        Per frame an (N,) int64 array: the pass's track label of each detection (0, 1, ... in order of
        creation), -1 for detections left untracked.
    """
    joints = frames[0].keypoints.shape[1] if frames else 17
    tr = _Tracks(joints)
    next_label = 0
    out = []
    for t, f in enumerate(frames):
        labels = np.full(len(f), -1, np.int64)
        tr.mean, tr.cov = kalman.predict(tr.mean, tr.cov)
        pred = kalman.project(tr.mean)
        high = np.flatnonzero(f.scores >= cfg.high_score)
        low = np.flatnonzero((f.scores >= cfg.low_score) & (f.scores < cfg.high_score))
        # stage 1: confident detections, every cue
        sim, iou, miou = similarity(tr, pred, f, high, t, cfg)
        allowed = (sim >= cfg.match_min) | (iou >= cfg.match_min)
        pairs, free_t, free_h = assign(sim, cfg.match_min, allowed)
        ti, dj = [pairs[:, 0]], [high[pairs[:, 1]]]
        known = np.full(len(pairs), np.nan) if miou is None else miou[pairs[:, 0], pairs[:, 1]]
        # stage 2: low-score detections to the tracks seen in the previous frame, box IoU only
        recent = free_t[tr.last_t[free_t] == t - 1]
        if len(recent) and len(low):
            pairs, _, _ = assign(cues.box_iou(pred[recent], f.boxes[low]), cfg.low_match_min)
            ti.append(recent[pairs[:, 0]])
            dj.append(low[pairs[:, 1]])
            free_t = free_t[~np.isin(free_t, ti[-1])]
        # recovery: the last observed box of the tracks left, against the confident detections left
        if len(free_t) and len(free_h):
            pairs, _, _ = assign(cues.box_iou(tr.last_box[free_t], f.boxes[high[free_h]]), cfg.low_match_min)
            ti.append(free_t[pairs[:, 0]])
            dj.append(high[free_h[pairs[:, 1]]])
        ti, dj = np.concatenate(ti), np.concatenate(dj)
        if len(ti):
            known = np.r_[known, np.full(len(ti) - len(known), np.nan)]
            _observe(tr, f, ti, dj, t, check=cfg.mask_weight > 0 or cfg.pose_weight > 0, known=known)
            labels[dj] = tr.label[ti]
        new = high[(labels[high] < 0) & (f.scores[high] >= cfg.new_track_score)]
        if len(new):
            fresh = np.arange(next_label, next_label + len(new), dtype=np.int64)
            next_label += len(new)
            tr.add(f, new, t, fresh)
            labels[new] = fresh
        alive = t - tr.last_t <= cfg.max_age
        if not alive.all():
            tr.keep(alive)
        out.append(labels)
    return out
