"""``track``: identities for one video's people, offline, from BMP's boxes, masks and keypoints.

Steps (each in its module): an online pass forward, and with ``bidirectional`` one backward and
their consensus (``online``: Kalman, ByteTrack's two stages, OC-SORT's recovery and re-update, cues
from ``cues``; ``tracklets``); its tracks cut wherever they were picked up again more than ``cut_gap``
frames after their last detection (``tracklets.cut_gaps``: the online pass chose from one side of the
gap only), and the pieces linked again with both sides of every gap in competition (``link``); on long
videos the linking per window, stitched by vote on the overlaps (``windows``), the joins near the
borders undone and the stitched video linked once more; tracks with fewer than ``min_track_rows``
detected rows dropped; ids renumbered 1, 2, ... by first appearance; gaps filled with interpolated rows
(``interpolate``).

The online passes run over the whole video even when it is linked in windows: a pass is one sweep that
holds only its live tracks, and one restarted at each window forgot the people it was following (their
motion, those hidden at the border), so its ids went their own way for dozens of frames after every
border, well past the overlap (DanceTrack 0026 at level A, windows of 100 frames: 0.8 HOTA below the
whole video on the bench's three seeds).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bmp_ray.result import FrameResult
from bmp_ray.track.config import TrackConfig
from bmp_ray.track.frames import Frame, from_results
from bmp_ray.track.interpolate import Interpolated, interpolate
from bmp_ray.track.link import link
from bmp_ray.track.online import track_pass
from bmp_ray.track.tracklets import by_first_appearance, consensus, cut_gaps, relabel, tracklets
from bmp_ray.track.windows import border_cuts, stitch, window_spans


@dataclasses.dataclass(frozen=True, eq=False)
class TrackOutput:
    """The tracked video.

    Attributes:
        results: the input ``FrameResult``s, unchanged except ``track_ids`` ((N,) int64, ids from 1,
            -1 for people left untracked).
        interpolated: the rows that fill the gaps of tracks (``Interpolated``: frame index, track id,
            box and keypoints per row; no mask, no detector score).
    """

    results: list[FrameResult]
    interpolated: Interpolated

    def summary(self) -> dict[str, np.ndarray]:
        """Per track, ordered by id, as (T,) int64 columns: ``track_id``, ``first_frame`` and
        ``last_frame`` (source frame indices, interpolated rows included), ``length`` (rows: detected
        plus interpolated), ``interpolated`` (rows)."""
        return track_summary(self)


def track_summary(output: TrackOutput) -> dict[str, np.ndarray]:
    """The per-track summary of ``output`` (see ``TrackOutput.summary``)."""
    fi = [np.full(len(r), r.frame_index, np.int64) for r in output.results]
    ids = (
        np.concatenate([r.track_ids for r in output.results] + [output.interpolated.track_id])
        if output.results
        else np.zeros(0, np.int64)
    )
    frames = np.concatenate(fi + [output.interpolated.frame_index]) if output.results else np.zeros(0, np.int64)
    inter = np.r_[np.zeros(len(ids) - len(output.interpolated), bool), np.ones(len(output.interpolated), bool)]
    keep = ids >= 0
    ids, frames, inter = ids[keep], frames[keep], inter[keep]
    tid, inv = np.unique(ids, return_inverse=True)
    first = np.full(len(tid), np.iinfo(np.int64).max)
    last = np.full(len(tid), -1, np.int64)
    np.minimum.at(first, inv, frames)
    np.maximum.at(last, inv, frames)
    return {
        "track_id": tid.astype(np.int64),
        "first_frame": first,
        "last_frame": last,
        "length": np.bincount(inv, minlength=len(tid)).astype(np.int64),
        "interpolated": np.bincount(inv, weights=inter, minlength=len(tid)).astype(np.int64),
    }


def pieces(frames: list[Frame], cfg: TrackConfig) -> list[np.ndarray]:
    """What the linker starts from: the online pass (both ways and their consensus when
    ``bidirectional``), cut where a track was picked up again more than ``cut_gap`` frames after its last
    detection."""
    labels = track_pass(frames, cfg)
    if cfg.bidirectional:
        backward = track_pass(frames[::-1], cfg)[::-1]
        labels = consensus(labels, backward)
    if cfg.link_max_gap:
        labels = cut_gaps(labels, cfg.cut_gap)
    return labels


def video_labels(frames: list[Frame], cfg: TrackConfig) -> list[np.ndarray]:
    """Labels of the whole video: its ``pieces`` linked in windows (``window_frames``,
    ``window_overlap``) stitched by vote, the joins the windows made near their borders undone
    (``border_cuts``: within the longest link gap of an overlap, where a window saw only one side) and the
    stitched video linked once more (those joins, and the people hidden through an overlap); short
    tracks dropped; ids 1, 2, ... by first appearance."""
    spans = window_spans(len(frames), cfg.window_frames, cfg.window_overlap)
    base = pieces(frames, cfg)
    out: list[np.ndarray] = []
    next_id, prev_stop = 0, 0
    for start, stop in spans:
        lab = link(frames[start:stop], base[start:stop], cfg)
        if not out:
            out = by_first_appearance(lab)
        else:
            shared = prev_stop - start
            mapping = stitch(out[start:prev_stop], lab[:shared])
            for v in sorted(tracklets(lab)):
                if v not in mapping:
                    mapping[v] = next_id
                    next_id += 1
            cut = start + shared // 2
            out = out[:cut] + relabel(lab, mapping)[cut - start :]
        next_id = max([next_id] + [int(x.max()) + 1 for x in out if len(x)])
        prev_stop = stop
    if len(spans) > 1 and cfg.link_max_gap:
        out = link(frames, border_cuts(out, base, spans, max(cfg.link_max_gap, cfg.link_sole_max_gap)), cfg)
    return final_ids(out, cfg)


def final_ids(labels: list[np.ndarray], cfg: TrackConfig) -> list[np.ndarray]:
    """The track ids of a linked labelling: tracks with fewer than ``min_track_rows`` detected rows dropped
    (-1), the rest numbered 1, 2, ... by first appearance."""
    short = {v for v, (ts, _) in tracklets(labels).items() if len(ts) < cfg.min_track_rows}
    if short:
        labels = [np.where(np.isin(x, list(short)), -1, x) for x in labels]
    return by_first_appearance(labels, start=1)


def track(results: list[FrameResult], config: TrackConfig | None = None) -> TrackOutput:
    """Track one video.

    Args:
        results: the video's ``FrameResult``s in frame order (increasing ``frame_index``, one video).
        config: the settings (None: ``TrackConfig()``); ``enabled = False`` leaves every id -1.

    Returns:
        A ``TrackOutput``: the results with ``track_ids`` filled, and the interpolated rows.

    Raises:
        ValueError: if ``results`` is not one video's ``FrameResult``s in increasing frame order, or
            ``config`` is not a ``TrackConfig``.
    """
    cfg = TrackConfig() if config is None else config
    if not isinstance(cfg, TrackConfig):
        raise ValueError(f"track: config: expected a TrackConfig or None, got {type(cfg).__name__}")
    results = list(results)
    frames = from_results(results, cfg.keypoint_score, poses=cfg.pose_weight > 0)
    if not cfg.enabled:
        return TrackOutput(
            [dataclasses.replace(r, track_ids=np.full(len(r), -1, np.int64)) for r in results],
            Interpolated.empty(results[0].num_keypoints if results else 17),
        )
    return with_ids(results, video_labels(frames, cfg), cfg)


def with_ids(results: list[FrameResult], ids: list[np.ndarray], cfg: TrackConfig) -> TrackOutput:
    """The ``TrackOutput`` of ``results`` given their track ids (per frame, -1 untracked): the ids written
    in, and the gaps of at most ``interpolate_max_gap`` frames filled."""
    out = [dataclasses.replace(r, track_ids=i) for r, i in zip(results, ids)]
    return TrackOutput(out, interpolate(results, ids, cfg.interpolate_max_gap))


def track_video(results: list[FrameResult], config: TrackConfig | None = None) -> list[FrameResult]:
    """The results of one video (in frame order) with ``track_ids`` filled; ``track`` has the
    interpolated rows as well."""
    return track(results, config).results
