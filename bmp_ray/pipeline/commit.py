"""Commit a segment (its parts become the public ``poses`` and ``frames`` files) and finalize a video
(its manifest row becomes a marker). Both run as Ray tasks on a cluster and are called in-process by
the single-process path; both are idempotent, so a retry or a rerun after a crash redoes them safely.

Per segment ``name``::

    OUT/_parts/<name>/*.arrow      parts (``parts``), removed by the commit
    OUT/poses/<name>.parquet       written first
    OUT/frames/<name>.parquet      written second: the marker of a committed segment

Per video (stem ``output_name(video_id)``)::

    OUT/tracks/<stem>.parquet      the video's track ids (``pipeline.tracks``), before the marker
    OUT/track_summary/<stem>.parquet
    OUT/_videos/<stem>.json        {"row": manifest row, "segments": [names], "fingerprint": ...,
                                    "tracks": {"tracks", "rows", "interpolated"}}
"""

from __future__ import annotations

import json
import logging
import time
from typing import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bmp_ray.errors import SchemaError
from bmp_ray.export import store
from bmp_ray.export.parquet import output_name, write_table_atomic
from bmp_ray.export.schema import frames_schema, poses_schema
from bmp_ray.fs import filesystem, join_uri
from bmp_ray.pipeline import faults
from bmp_ray.pipeline.parts import parts_dir, read_part

log = logging.getLogger(__name__)
SEGMENT_KEY = b"bmp_ray.segment"
FINGERPRINT_KEY = b"bmp_ray.fingerprint"
VIDEOS = "_videos"
MAX_PROBLEMS = 20  # problems listed in a manifest row (the rest counted)
MANIFEST_FIELDS = ("num_frames", "fps", "width", "height", "codec", "duration_s", "rotation")


def merge_parts(parts: Sequence[tuple[str, Sequence[int]]]) -> tuple[pa.Table, pa.Table]:
    """The ``(frames, poses)`` rows of a segment from its parts: each frame from the first part (in the
    given order) that covers it, sorted by frame index (poses by frame, then person)."""
    frames, poses, taken = [], [], set()
    for path, _ in parts:
        f, p = read_part(path)
        idx = f.column("frame_index").to_pylist()
        new = [i for i in idx if i not in taken]
        if not new:
            continue
        if len(new) < len(idx):
            keep = pa.array(new, pa.int32())
            f = f.filter(pc.is_in(f.column("frame_index"), keep))
            p = p.filter(pc.is_in(p.column("frame_index"), keep))
        taken.update(new)
        frames.append(f)
        poses.append(p)
    k = int((poses[0].schema.metadata or {}).get(b"bmp_ray.num_keypoints", b"17")) if poses else 17
    f = pa.concat_tables(frames) if frames else frames_schema().empty_table()
    p = pa.concat_tables(poses) if poses else poses_schema(k).empty_table()
    return (f.sort_by("frame_index"), p.sort_by([("frame_index", "ascending"), ("person_index", "ascending")]))


def check_segment(name: str, frames: pa.Table, poses: pa.Table, frames_decoded: int) -> None:
    """Raise ``SchemaError`` unless the segment has one row per decoded frame, unique keys, and as many
    poses rows per frame as its ``num_people``."""
    idx = frames.column("frame_index").to_numpy()
    if len(idx) != frames_decoded:
        raise SchemaError(f"{name}: {len(idx)} frames in its parts, {frames_decoded} decoded")
    if len(set(idx.tolist())) != len(idx):
        raise SchemaError(f"{name}: a frame index appears twice")
    keys = set(zip(poses.column("frame_index").to_pylist(), poses.column("person_index").to_pylist()))
    if len(keys) != poses.num_rows:
        raise SchemaError(f"{name}: a (frame_index, person_index) key appears twice")
    if int(pc.sum(frames.column("num_people")).as_py() or 0) != poses.num_rows:
        raise SchemaError(
            f"{name}: the frames count {pc.sum(frames.column('num_people'))} people, "
            f"the poses table has {poses.num_rows}"
        )


def _with_metadata(table: pa.Table, schema: pa.Schema, extra: Mapping[bytes, bytes]) -> pa.Table:
    return table.cast(schema).replace_schema_metadata({**schema.metadata, **extra})


def commit_segment(out: str, name: str, parts: Sequence[tuple[str, Sequence[int]]], summary: dict, run: dict) -> dict:
    """Merge the segment's parts into ``poses/<name>.parquet`` then ``frames/<name>.parquet`` (each
    atomic), then remove its parts. Returns ``{"name", "frames", "people"}``.

    Raises:
        SchemaError: the parts do not cover the decoded frames exactly once, or keys repeat.
    """
    frames, poses = merge_parts(parts)
    check_segment(name, frames, poses, summary["frames_decoded"])
    k = int((poses.schema.metadata or {}).get(b"bmp_ray.num_keypoints", b"17"))
    s = dict(summary, frames_written=frames.num_rows, seconds=round(time.time() - summary["started"], 3))
    extra = {SEGMENT_KEY: json.dumps(s, sort_keys=True).encode(), FINGERPRINT_KEY: run["fingerprint"].encode()}
    write_table_atomic(_with_metadata(poses, poses_schema(k, run), extra), join_uri(out, "poses", f"{name}.parquet"))
    faults.point("commit.between_files")
    write_table_atomic(_with_metadata(frames, frames_schema(run), extra), join_uri(out, "frames", f"{name}.parquet"))
    faults.point("commit.before_cleanup")
    store.delete_dir(parts_dir(out, name))
    log.info("committed %s: %d frames, %d people", name, frames.num_rows, poses.num_rows)
    return {"name": name, "frames": frames.num_rows, "people": poses.num_rows}


def segment_summary(out: str, name: str) -> dict:
    """The decode summary stored in a committed segment's frames file."""
    fs, path = filesystem(join_uri(out, "frames", f"{name}.parquet"))
    md = pq.read_schema(path, filesystem=fs).metadata or {}
    return json.loads(md.get(SEGMENT_KEY, b"{}"))


def manifest_row(video_id: str, path: str, summaries: Sequence[dict]) -> dict:
    """One manifest row from the summaries of a video's segments: counts summed, errors and problems
    joined, the worst status (error > partial > ok)."""
    row = {
        "video_id": video_id,
        "path": path,
        "status": "ok",
        "error": None,
        "problems": None,
        "frames_decoded": 0,
        "frames_written": 0,
        "frames_skipped": 0,
        "seconds": 0.0,
    }
    problems: list[str] = []
    for s in summaries:
        status = s.get("status")
        if status == "error":
            row["status"] = "error"
            row["error"] = "; ".join(e for e in (row["error"], s.get("error")) if e)
        elif status == "partial" and row["status"] == "ok":
            row["status"] = "partial"
        problems += s.get("problems") or []
        for key in ("frames_decoded", "frames_written", "frames_skipped"):
            row[key] += s.get(key) or 0
        row["seconds"] += s.get("seconds") or 0.0
        for key in MANIFEST_FIELDS:
            if row.get(key) is None and s.get(key) is not None:
                row[key] = s[key]
    if problems:
        shown = problems[:MAX_PROBLEMS] + (
            [f"... {len(problems) - MAX_PROBLEMS} more"] if len(problems) > MAX_PROBLEMS else []
        )
        row["problems"] = "; ".join(shown)
    row["seconds"] = round(row["seconds"], 3)
    return row


def marker_uri(out: str, video_id: str) -> str:
    return join_uri(out, VIDEOS, f"{output_name(video_id)}.json")


def finalize_video(
    out: str, video_id: str, path: str, names: Sequence[str], failures: Mapping[str, dict], run: dict
) -> dict:
    """Once every segment of a video is committed (or failed in this run: ``failures``, name ->
    summary): build its manifest row from the committed segments' summaries, track the video
    (``pipeline.tracks``, the per-video work that needs its frames in order), and write its marker.
    Returns the manifest row."""
    summaries = [failures[n] if n in failures else segment_summary(out, n) for n in names]
    row = manifest_row(video_id, path, summaries)
    for n in failures:  # parts of a segment that failed after writing some (a rerun redoes it)
        store.delete_dir(parts_dir(out, n))
    from bmp_ray.pipeline.tracks import track_committed
    from bmp_ray.track import TrackConfig

    tracks = track_committed(
        out,
        video_id,
        [n for n in names if n not in failures],
        TrackConfig(**run.get("config", {}).get("track", {})),
        run,
    )
    faults.point("finalize.before_marker")
    marker = {"row": row, "segments": list(names), "fingerprint": run["fingerprint"], "tracks": tracks}
    store.write_bytes(marker_uri(out, video_id), json.dumps(marker, sort_keys=True).encode())
    log.info("finalized %s: %s, %d frames", video_id, row["status"], row["frames_written"])
    return row


def read_markers(out: str) -> dict[str, dict]:
    """Every video marker in ``out``: video id -> marker (read in parallel)."""
    folder = join_uri(out, VIDEOS)
    names = store.list_files(folder, ".json")
    markers = store.read_many([join_uri(folder, n) for n in names], lambda u: json.loads(store.read_bytes(u)))
    return {m["row"]["video_id"]: m for m in markers}
