"""Identities in the output folder: the per-video tracking step of ``commit.finalize_video`` and of
``bmp-ray track``.

The committed ``poses`` files are never rewritten (a segment's files are final once committed); the
ids live beside them, one pair of files per video (stem ``output_name(video_id)``)::

    OUT/tracks/<stem>.parquet          one row per tracked person per frame (``schema.tracks_schema``):
                                       detected rows (``person_index`` joins ``poses``) and
                                       interpolated rows (``interpolated = true``, ``person_index`` null)
    OUT/track_summary/<stem>.parquet   one row per track (``schema.track_summary_schema``)

Both are written (each atomically) before the video's marker, which records the tracker settings in
its fingerprint: a crash between them leaves a marker that does not match, and the next run (or
``bmp-ray track``) tracks that video again. Tracking is deterministic, so redoing it writes the same
files. ``read_video`` gives a video's results with the ids applied.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import pyarrow as pa

from bmp_ray.export import store
from bmp_ray.export.parquet import output_name, read_results, write_table_atomic
from bmp_ray.export.schema import (
    apply_tracks,
    fixed_list,
    frame_column,
    person_column,
    person_index,
    track_summary_schema,
    tracks_schema,
)
from bmp_ray.fs import filesystem, join_uri
from bmp_ray.result import FrameResult
from bmp_ray.track import TrackConfig, TrackOutput, track

log = logging.getLogger(__name__)
TRACKS, SUMMARY = "tracks", "track_summary"


def tracks_uri(out: str, video_id: str) -> str:
    return join_uri(out, TRACKS, f"{output_name(video_id)}.parquet")


def summary_uri(out: str, video_id: str) -> str:
    return join_uri(out, SUMMARY, f"{output_name(video_id)}.parquet")


def committed_results(out: str, names: Sequence[str], *, masks: bool = True) -> list[FrameResult]:
    """The results of a video's committed segments (``names`` in frame order; missing ones skipped);
    ``masks`` False: without their masks (all ``b""``), what the tracker reads unless its mask cue is on."""
    results: list[FrameResult] = []
    for name in names:
        if store.exists(join_uri(out, "frames", f"{name}.parquet")):
            results += read_results(out, name, masks=masks)
    return results


def tracks_table(output: TrackOutput, video_id: str, num_keypoints: int, run: dict | None) -> pa.Table:
    """The tracks rows of one tracked video: detected rows with an id, then interpolated rows, sorted
    by frame and track id. Built column by column (no object per row: an hour of people is millions of
    rows)."""
    res, inter = output.results, output.interpolated
    k3 = num_keypoints * 3
    ids = person_column(res, "track_ids", (), np.int64)
    det = ids >= 0  # every person of every frame, in order: those with an id
    n_det = int(det.sum())
    n = n_det + len(inter)
    frame = np.r_[frame_column(res, "frame_index").astype(np.int64)[det], inter.frame_index]
    person = np.r_[person_index(res)[det], np.zeros(len(inter), np.int64)]
    tid = np.r_[ids[det], inter.track_id]
    boxes = np.concatenate([person_column(res, "boxes", (4,), np.float32)[det], inter.boxes.reshape(-1, 4)])
    kpts = person_column(res, "keypoints", (num_keypoints, 3), np.float32).reshape(-1, k3)[det]
    kpts = np.concatenate([kpts, inter.keypoints.reshape(-1, k3)])
    interpolated = np.arange(n) >= n_det
    order = np.lexsort((tid, frame))
    table = pa.table(
        {
            "video_id": pa.repeat(pa.scalar(video_id, pa.string()), n),
            "frame_index": pa.array(frame[order].astype(np.int32), pa.int32()),
            "person_index": pa.array(person[order].astype(np.int32), pa.int32(), mask=interpolated[order]),
            "track_id": pa.array(tid[order], pa.int64()),
            "interpolated": pa.array(interpolated[order], pa.bool_()),
            "bbox_xyxy": fixed_list(boxes[order], 4),
            "keypoints": fixed_list(kpts[order], k3),
        }
    )
    return table.cast(tracks_schema(num_keypoints, run))


def summary_table(output: TrackOutput, video_id: str, run: dict | None) -> pa.Table:
    s = output.summary()
    cols = {k: pa.array(v, pa.int32() if k != "track_id" else pa.int64()) for k, v in s.items()}
    return pa.table({"video_id": pa.array([video_id] * len(s["track_id"]), pa.string()), **cols}).cast(
        track_summary_schema(run)
    )


def track_committed(out: str, video_id: str, names: Sequence[str], config: TrackConfig, run: dict | None) -> dict:
    """Track a video from its committed segments and write its two tracks files (or remove them when
    tracking is off or the video has no committed frame: a failed input). Returns the marker's ``tracks``
    entry: ``{"tracks", "rows", "interpolated"}``."""
    results = committed_results(out, names, masks=config.mask_weight > 0) if config.enabled else []
    if not results:
        for uri in (tracks_uri(out, video_id), summary_uri(out, video_id)):
            store.delete_file(uri)
        return {"tracks": 0, "rows": 0, "interpolated": 0}
    k = results[0].num_keypoints if results else 17
    output = track(results, config)
    table = tracks_table(output, video_id, k, run)
    summary = summary_table(output, video_id, run)
    write_table_atomic(summary, summary_uri(out, video_id))
    write_table_atomic(table, tracks_uri(out, video_id))
    entry = {"tracks": summary.num_rows, "rows": table.num_rows, "interpolated": len(output.interpolated)}
    log.info(
        "tracked %s: %d tracks over %d frames (%d interpolated rows)",
        video_id,
        entry["tracks"],
        len(results),
        entry["interpolated"],
    )
    return entry


def read_video(out: str, video_id: str, names: Sequence[str]) -> list[FrameResult]:
    """A video's committed results with their track ids (from ``tracks/``; -1 where it has none)."""
    results = committed_results(out, names)
    uri = tracks_uri(out, video_id)
    if not store.exists(uri):
        return results
    import pyarrow.parquet as pq

    fs, path = filesystem(uri)
    return apply_tracks(results, pq.read_table(path, filesystem=fs))
