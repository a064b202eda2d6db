"""What linking could reach: the tracker's online pieces linked by their true identity (``bmp-ray bench
track --ceiling``).

The tracker makes pieces in an online pass (``bmp_ray.track.tracker.pieces``) and then links them
across gaps (``bmp_ray.track.link``). To tell how much of a shortfall lies in the linking, this module
links the very same pieces with the ground truth instead: each detection gets the ground-truth identity
of the box it overlaps most (Hungarian on box IoU, at least ``MATCH_IOU``), each piece the identity of
most of its detections, and each piece is joined to the last piece of its identity that ended before it
began, when at most ``max_gap`` frames lie between them (None: any gap). Pieces matched to no one stay
as they are. The result then goes through the tracker's own last steps (short tracks dropped, ids by
first appearance, gaps interpolated) and is scored like the tracker.

So ``ceiling_labels(..., max_gap=30, ...)`` is about the best any linker restricted to gaps of 30 frames
could do with these pieces (it makes no wrong link and misses none of the true ones), and the step from
15 to 30 frames is what the links across 16-30 frames are worth.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from bmp_ray.result import FrameResult
from bmp_ray.track import TrackConfig
from bmp_ray.track.cues import box_iou
from bmp_ray.track.frames import from_results
from bmp_ray.track.tracker import final_ids, pieces
from bmp_ray.track.tracklets import relabel, tracklets

MATCH_IOU = 0.5  # a detection takes the identity of a ground-truth box it overlaps at least this much
GAPS = (15, 30, None)  # the gaps the bench reports (None: any)


def true_ids(results: list[FrameResult], gt: dict) -> list[np.ndarray]:
    """Per frame, (N,) int64 ground-truth identity of each detection (-1: none at ``MATCH_IOU``);
    ``gt`` is ``{frame_index: (ids (M,), xywh boxes (M, 4))}``."""
    out = []
    for r in results:
        ids, xywh = gt.get(r.frame_index, (np.zeros(0, np.int64), np.zeros((0, 4))))
        t = np.full(len(r), -1, np.int64)
        if len(r) and len(ids):
            iou = box_iou(r.boxes.astype(np.float64), np.c_[xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])
            a, b = linear_sum_assignment(-iou)
            ok = iou[a, b] >= MATCH_IOU
            t[a[ok]] = ids[b[ok]]
        out.append(t)
    return out


def piece_identity(labels: list[np.ndarray], truth: list[np.ndarray]) -> dict[int, int]:
    """``{piece label: the identity of most of its detections}`` (-1 where none has one; ties: the
    smaller identity)."""
    out = {}
    for v, (ts, rows) in tracklets(labels).items():
        ids = np.array([truth[t][r] for t, r in zip(ts.tolist(), rows.tolist())], np.int64)
        ids = ids[ids >= 0]
        if not len(ids):
            out[v] = -1
            continue
        u, n = np.unique(ids, return_counts=True)
        out[v] = int(u[np.argmax(n)])
    return out


def oracle_link(labels: list[np.ndarray], identity: dict[int, int], max_gap: int | None) -> list[np.ndarray]:
    """``labels`` with each piece joined to the last piece of its identity that ended before it began,
    at most ``max_gap`` frames earlier (None: any gap); pieces of identity -1 untouched."""
    tl = tracklets(labels)
    spans = sorted((int(ts[0]), int(ts[-1]), v) for v, (ts, _) in tl.items())
    ends: dict[int, list[list[int]]] = {}  # identity -> open chains [last frame, root label]
    mapping = {}
    for first, last, v in spans:
        mapping[v] = v
        i = identity.get(v, -1)
        if i < 0:
            continue
        chains = ends.setdefault(i, [])
        fit = [c for c in chains if c[0] < first and (max_gap is None or first - c[0] <= max_gap)]
        if fit:
            c = max(fit, key=lambda c: c[0])
            mapping[v] = c[1]
            c[0] = max(c[0], last)
        else:
            chains.append([last, v])
    return relabel(labels, mapping)


def ceiling_labels(results: list[FrameResult], gt: dict, max_gap: int | None, config: TrackConfig) -> list[np.ndarray]:
    """Track ids of ``results`` from the oracle linking of the tracker's pieces (see the module
    docstring): ids from 1, -1 for detections left untracked."""
    frames = from_results(results, config.keypoint_score, poses=config.pose_weight > 0)
    base = pieces(frames, config)
    return final_ids(oracle_link(base, piece_identity(base, true_ids(results, gt)), max_gap), config)


def gap_key(max_gap: int | None) -> str:
    """The name of a gap in the bench's keys: ``"15"``, ``"30"``, ``"all"``."""
    return "all" if max_gap is None else str(max_gap)
