"""Arrow schemas of the exported tables (version ``SCHEMA_VERSION``) and conversion from/to results.

Only plain Arrow types are used (no Ray or pandas extension types), so pandas, DuckDB, Polars and Spark
read the files without bmp_ray installed. Three tables:

``poses`` (one row per person per frame)
    video_id string, frame_index int32, pts_s float64, person_index int32, track_id int64 (null when
    untracked), bbox_xyxy fixed_size_list<float32>[4] (frame pixels), bbox_score float32,
    keypoints fixed_size_list<float32>[K*3] (x, y, score per keypoint, frame pixels; K in the file
    metadata), pose_score float32, mask_rle string (COCO compressed RLE counts of the refined mask),
    mask_height int32, mask_width int32, mask_score float32 (SAM predicted IoU), det_mask_rle string
    (null when absent), iteration int8 (1-based BMP iteration that found the person).

``frames`` (one row per processed frame, also frames with nobody in them)
    video_id, frame_index, pts_s, height int32, width int32, num_people int32.

``videos`` (the manifest, one row per input)
    video_id, path, status ("ok" | "partial" | "error"), error (null unless error), frames_decoded int64,
    frames_written int64, num_frames int64, fps float64, width int32, height int32, codec string,
    duration_s float64, rotation int16, seconds float64 (the input's own processing time: decode to
    commit, summed over its segments), frames_skipped int64 (dropped as corrupt), problems string
    (what decoding found wrong, null when nothing).

Every file carries ``bmp_ray.schema_version``, ``bmp_ray.table`` and ``bmp_ray.num_keypoints`` in its
key-value metadata, plus ``bmp_ray.run`` (JSON: config, model names, checkpoint hashes) when given.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bmp_ray.errors import SchemaError
from bmp_ray.result import FrameResult

SCHEMA_VERSION = "1"
USABLE = ("ok", "partial")  # manifest statuses whose frames are in the folder ("error": none)
_META = "bmp_ray."


def _metadata(table: str, num_keypoints: int | None = None, run: dict | None = None) -> dict[bytes, bytes]:
    md = {f"{_META}schema_version": SCHEMA_VERSION, f"{_META}table": table}
    if num_keypoints is not None:
        md[f"{_META}num_keypoints"] = str(num_keypoints)
    if run is not None:
        md[f"{_META}run"] = json.dumps(run, sort_keys=True, default=str)
    return {k.encode(): v.encode() for k, v in md.items()}


def poses_schema(num_keypoints: int = 17, run: dict | None = None) -> pa.Schema:
    return pa.schema(
        [
            ("video_id", pa.string()),
            ("frame_index", pa.int32()),
            ("pts_s", pa.float64()),
            ("person_index", pa.int32()),
            ("track_id", pa.int64()),
            ("bbox_xyxy", pa.list_(pa.float32(), 4)),
            ("bbox_score", pa.float32()),
            ("keypoints", pa.list_(pa.float32(), num_keypoints * 3)),
            ("pose_score", pa.float32()),
            ("mask_rle", pa.string()),
            ("mask_height", pa.int32()),
            ("mask_width", pa.int32()),
            ("mask_score", pa.float32()),
            ("det_mask_rle", pa.string()),
            ("iteration", pa.int8()),
        ],
        metadata=_metadata("poses", num_keypoints, run),
    )


def frames_schema(run: dict | None = None) -> pa.Schema:
    return pa.schema(
        [
            ("video_id", pa.string()),
            ("frame_index", pa.int32()),
            ("pts_s", pa.float64()),
            ("height", pa.int32()),
            ("width", pa.int32()),
            ("num_people", pa.int32()),
        ],
        metadata=_metadata("frames", None, run),
    )


def manifest_schema(run: dict | None = None) -> pa.Schema:
    return pa.schema(
        [
            ("video_id", pa.string()),
            ("path", pa.string()),
            ("status", pa.string()),
            ("error", pa.string()),
            ("frames_decoded", pa.int64()),
            ("frames_written", pa.int64()),
            ("num_frames", pa.int64()),
            ("fps", pa.float64()),
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("codec", pa.string()),
            ("duration_s", pa.float64()),
            ("rotation", pa.int16()),
            ("seconds", pa.float64()),
            ("frames_skipped", pa.int64()),
            ("problems", pa.string()),
        ],
        metadata=_metadata("videos", None, run),
    )


def tracks_schema(num_keypoints: int = 17, run: dict | None = None) -> pa.Schema:
    """``tracks/<video>.parquet``: one row per tracked person per frame, detected or interpolated."""
    return pa.schema(
        [
            ("video_id", pa.string()),
            ("frame_index", pa.int32()),
            ("person_index", pa.int32()),
            ("track_id", pa.int64()),
            ("interpolated", pa.bool_()),
            ("bbox_xyxy", pa.list_(pa.float32(), 4)),
            ("keypoints", pa.list_(pa.float32(), num_keypoints * 3)),
        ],
        metadata=_metadata("tracks", num_keypoints, run),
    )


def track_summary_schema(run: dict | None = None) -> pa.Schema:
    """``track_summary/<video>.parquet``: one row per track of the video."""
    return pa.schema(
        [
            ("video_id", pa.string()),
            ("track_id", pa.int64()),
            ("first_frame", pa.int32()),
            ("last_frame", pa.int32()),
            ("length", pa.int32()),
            ("interpolated", pa.int32()),
        ],
        metadata=_metadata("track_summary", None, run),
    )


def apply_tracks(results: Sequence[FrameResult], tracks: pa.Table) -> list[FrameResult]:
    """``results`` with ``track_ids`` taken from a tracks table's detected rows (-1 where it has none)."""
    det = tracks.filter(pc.invert(tracks.column("interpolated")))
    ids = {
        (v, f, p): t
        for v, f, p, t in zip(
            *(det.column(c).to_pylist() for c in ("video_id", "frame_index", "person_index", "track_id"))
        )
    }
    return [
        dataclasses.replace(
            r, track_ids=np.array([ids.get((r.video_id, r.frame_index, i), -1) for i in range(len(r))], np.int64)
        )
        for r in results
    ]


def fixed_list(values: np.ndarray, width: int) -> pa.FixedSizeListArray:
    """A fixed-size list column of float32 from an array whose rows flatten to ``width`` values."""
    flat = pa.array(np.ascontiguousarray(values, np.float32).reshape(-1), pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, width)


def frame_column(results: Sequence[FrameResult], attr: str) -> np.ndarray:
    """A per-frame attribute of ``results`` (``frame_index``, ``height``, ...) once per person: (P,)."""
    return np.repeat([getattr(r, attr) for r in results], [len(r) for r in results])


def person_column(results: Sequence[FrameResult], attr: str, row: tuple[int, ...] = (), dtype=None) -> np.ndarray:
    """A per-person array of ``results`` (``boxes``, ``keypoints``, ...), frame after frame: (P, *row);
    ``row`` gives the empty column's shape when there are no results."""
    out = np.concatenate([getattr(r, attr) for r in results]) if results else np.zeros((0, *row))
    return out if dtype is None else out.astype(dtype, copy=False)


def person_index(results: Sequence[FrameResult]) -> np.ndarray:
    """Each person's row in its frame, frame after frame: (P,) int64."""
    n = np.array([len(r) for r in results], np.int64)
    return np.arange(int(n.sum()), dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)


def results_to_arrow(results: Sequence[FrameResult], run: dict | None = None) -> tuple[pa.Table, pa.Table]:
    """Convert frame results to ``(frames, poses)`` tables. All results must share K."""
    ks = {r.num_keypoints for r in results}
    if len(ks) > 1:
        raise SchemaError(f"results mix keypoint counts {sorted(ks)}; one file holds one K")
    k = ks.pop() if ks else 17
    n = np.array([len(r) for r in results], np.int64)
    frames = pa.table(
        {
            "video_id": [r.video_id for r in results],
            "frame_index": [r.frame_index for r in results],
            "pts_s": [r.pts_s for r in results],
            "height": [r.height for r in results],
            "width": [r.width for r in results],
            "num_people": n,
        },
        schema=frames_schema(run),
    )

    def rep(attr):
        return frame_column(results, attr)

    def cat(attr, row=()):
        return person_column(results, attr, row)

    tracks = cat("track_ids").astype(np.int64)
    det = cat("det_masks").astype(object)
    poses = pa.table(
        {
            "video_id": pa.array(rep("video_id") if n.sum() else [], pa.string()),
            "frame_index": rep("frame_index").astype(np.int32),
            "pts_s": rep("pts_s").astype(np.float64),
            "person_index": person_index(results).astype(np.int32),
            "track_id": pa.array(tracks, pa.int64(), mask=tracks < 0),
            "bbox_xyxy": fixed_list(cat("boxes", (4,)), 4),
            "bbox_score": cat("box_scores").astype(np.float32),
            "keypoints": fixed_list(cat("keypoints", (k, 3)), k * 3),
            "pose_score": cat("pose_scores").astype(np.float32),
            "mask_rle": pa.array([c.decode("ascii") for c in cat("masks")], pa.string()),
            "mask_height": rep("height").astype(np.int32),
            "mask_width": rep("width").astype(np.int32),
            "mask_score": cat("mask_scores").astype(np.float32),
            "det_mask_rle": pa.array([c.decode("ascii") if len(c) else None for c in det], pa.string()),
            "iteration": cat("iterations").astype(np.int8),
        },
        schema=poses_schema(k, run),
    )
    return frames, poses


def check_schema(table: pa.Table, expected: pa.Schema, name: str) -> None:
    """Raise ``SchemaError`` naming the version or the columns that differ from ``expected``."""
    md = table.schema.metadata or {}
    version = md.get(f"{_META}schema_version".encode(), b"?").decode()
    if version != SCHEMA_VERSION:
        raise SchemaError(
            f"{name}: schema version {version}, this bmp_ray reads version {SCHEMA_VERSION}; "
            "re-export with a matching bmp_ray"
        )
    got = {f.name: f.type for f in table.schema}
    want = {f.name: f.type for f in expected}
    bad = {c: (str(want[c]), str(got.get(c))) for c in want if got.get(c) != want[c]}
    if bad:
        raise SchemaError(f"{name}: columns differ from schema {SCHEMA_VERSION} (column: expected, got): {bad}")


MASK_COLUMNS = ("mask_rle", "det_mask_rle")


def results_from_arrow(frames: pa.Table, poses: pa.Table) -> list[FrameResult]:
    """Rebuild frame results (sorted by video_id, frame_index) from ``frames`` and ``poses`` tables.

    A ``poses`` table read without ``MASK_COLUMNS`` (the tracker, which needs no masks unless its mask
    cue is on) gives results whose masks are all absent (``b""``): a fraction of the memory."""
    k = int((poses.schema.metadata or {}).get(f"{_META}num_keypoints".encode(), b"17"))
    check_schema(frames, frames_schema(), "frames table")
    masks = all(c in poses.column_names for c in MASK_COLUMNS)
    want = poses_schema(k)
    check_schema(poses, want if masks else pa.schema([f for f in want if f.name not in MASK_COLUMNS]), "poses table")
    poses = poses.sort_by([("video_id", "ascending"), ("frame_index", "ascending"), ("person_index", "ascending")])
    frames = frames.sort_by([("video_id", "ascending"), ("frame_index", "ascending")])
    p = {c: poses.column(c) for c in poses.column_names}
    boxes = p["bbox_xyxy"].combine_chunks().flatten().to_numpy().reshape(-1, 4)
    kpts = p["keypoints"].combine_chunks().flatten().to_numpy().reshape(-1, k, 3)
    num = lambda c: p[c].to_numpy()  # noqa: E731
    if masks:
        rle = np.array([s.encode("ascii") for s in p["mask_rle"].to_pylist()], object)
        det = np.array([(s or "").encode("ascii") for s in p["det_mask_rle"].to_pylist()], object)
    else:
        rle = det = np.full(poses.num_rows, b"", object)
    tracks = p["track_id"].fill_null(-1).to_numpy()
    keys = list(zip(p["video_id"].to_pylist(), num("frame_index").tolist()))
    out, row = [], 0
    for vid, fi, t, h, w, count in zip(
        *(frames.column(c).to_pylist() for c in ("video_id", "frame_index", "pts_s", "height", "width", "num_people"))
    ):
        sl = slice(row, row + count)
        if keys[sl] != [(vid, fi)] * count:
            raise SchemaError(f"frames table says {count} people in {vid} frame {fi}; the poses table disagrees")
        out.append(
            FrameResult.from_rle(
                vid,
                fi,
                t,
                h,
                w,
                boxes=boxes[sl],
                box_scores=num("bbox_score")[sl],
                keypoints=kpts[sl],
                pose_scores=num("pose_score")[sl],
                masks=rle[sl],
                mask_scores=num("mask_score")[sl],
                det_masks=det[sl],
                iterations=num("iteration")[sl],
                track_ids=tracks[sl],
            )
        )
        row += count
    if row != len(keys):
        raise SchemaError(f"the poses table has {len(keys) - row} rows for frames missing from the frames table")
    return out
