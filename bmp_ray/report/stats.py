"""What a run report shows, gathered in one streaming pass over an output folder (``export.read``).

Per video: people per frame split by the BMP iteration that found them, and the length (frames) of every
track. Over the run: histograms of the detector, pose and mask scores in fixed bins, and the inputs that
failed with their errors. Memory grows with frames (one count per frame and iteration), never with people.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from bmp_ray.export.read import read_results, read_run

BINS = np.linspace(0.0, 1.0, 21)  # score histogram edges; scores outside [0, 1] are clipped into the ends
SCORES = {"bbox_score": "box_scores", "pose_score": "pose_scores", "mask_score": "mask_scores"}


@dataclasses.dataclass
class VideoStats:
    """One video.

    Attributes:
        video_id, row: its id and manifest row.
        pts_s: (F,) presentation times of its processed frames.
        people: iteration (1-based) -> (F,) people found in that iteration per frame.
        track_lengths: track id -> frames it appears in (tracked people only).
    """

    video_id: str
    row: dict
    pts_s: np.ndarray
    people: dict[int, np.ndarray]
    track_lengths: dict[int, int]


@dataclasses.dataclass
class RunStats:
    """A whole output folder: ``videos`` (ok ones with frames), ``failed`` manifest rows, ``hist`` (name ->
    (len(BINS) - 1,) counts), ``run`` (``export.read.read_run``), totals ``frames`` and ``people``."""

    videos: list[VideoStats]
    failed: list[dict]
    hist: dict[str, np.ndarray]
    run: dict
    frames: int = 0
    people: int = 0


def collect(out: str, videos: Sequence[str] | None = None) -> RunStats:
    """One pass over ``out`` (or its ``videos``)."""
    stats = RunStats([], [], {k: np.zeros(len(BINS) - 1, np.int64) for k in SCORES}, read_run(out))
    for video in read_results(out, videos):
        if not video.ok or video.row.get("status") == "partial":  # partial: listed with its problems
            stats.failed.append(
                {**video.row, "error": video.row.get("error") or f"partly decoded: {video.row.get('problems')}"}
            )
        pts, per_iter, tracks = [], [], {}
        for r in video.frames():
            pts.append(r.pts_s)
            per_iter.append(np.bincount(r.iterations.astype(np.int64), minlength=1))
            for t in r.track_ids[r.track_ids >= 0].tolist():
                tracks[t] = tracks.get(t, 0) + 1
            for name, attr in SCORES.items():
                stats.hist[name] += np.histogram(np.clip(getattr(r, attr), 0, 1), BINS)[0]
            stats.frames += 1
            stats.people += len(r)
        if not pts:
            continue
        width = max(len(c) for c in per_iter)
        counts = np.stack([np.pad(c, (0, width - len(c))) for c in per_iter])  # (F, max iteration + 1)
        people = {i: counts[:, i] for i in range(1, width)}
        stats.videos.append(VideoStats(video.video_id, video.row, np.asarray(pts), people, tracks))
    return stats
