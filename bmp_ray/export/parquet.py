"""Write and read the Parquet output folder, atomically and with deterministic file names.

Layout of an output folder ``OUT`` (local path or URL)::

    OUT/poses/<name>.parquet    one row per person per frame of one video segment
    OUT/frames/<name>.parquet   one row per processed frame of it
    OUT/videos.parquet          the manifest, one row per input

``<name>`` is the video's stem (:func:`output_name`, from the video id alone) and the segment's frame
range (``-f00001800-00003600``), so a rerun writes the same names and never duplicates rows. Each file
appears whole or not at all (``store``): readers (pyarrow datasets, DuckDB globs on ``*.parquet``)
never see partial files. The ``frames`` file of a segment is written after its ``poses`` file, so
its presence marks the pair complete. The pipeline's own bookkeeping lives under ``_``-prefixed
names (``pipeline.outdir``), which readers skip.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from bmp_ray.export import store
from bmp_ray.export.schema import MASK_COLUMNS, manifest_schema, poses_schema, results_from_arrow, results_to_arrow
from bmp_ray.fs import filesystem, join_uri
from bmp_ray.result import FrameResult

log = logging.getLogger(__name__)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def output_name(video_id: str, suffix: str = "") -> str:
    """Deterministic, collision-free file stem for a video id (and segment suffix).

    ``"clips/day 1/a.mp4"`` -> ``"clips__day_1__a.mp4.<8 hex of sha1(video_id)>"`` + suffix.
    """
    readable = _SAFE.sub("_", video_id.replace("/", "__")).strip("._")[:120] or "video"
    return f"{readable}.{hashlib.sha1(video_id.encode()).hexdigest()[:8]}{suffix}"


def write_table_atomic(table: pa.Table, uri: str, compression: str = "zstd") -> None:
    """Write ``table`` to ``uri`` (local or URL) so that it appears whole or not at all
    (``store.write_table``: temporary name and rename on disks, one PUT on object stores)."""
    store.write_table(table, uri, compression)


def write_results(
    out: str,
    name: str,
    results: Sequence[FrameResult],
    run: dict | None = None,
    extra: dict[bytes, bytes] | None = None,
) -> None:
    """Write the ``poses`` then the ``frames`` file of one video or segment (``extra``: more key-value
    metadata for both files)."""
    frames, poses = results_to_arrow(results, run)
    if extra:
        frames = frames.replace_schema_metadata({**frames.schema.metadata, **extra})
        poses = poses.replace_schema_metadata({**poses.schema.metadata, **extra})
    write_table_atomic(poses, join_uri(out, "poses", f"{name}.parquet"))
    write_table_atomic(frames, join_uri(out, "frames", f"{name}.parquet"))
    log.debug("wrote %s: %d frames, %d people", name, frames.num_rows, poses.num_rows)


def write_manifest(out: str, rows: Sequence[dict], run: dict | None = None) -> pa.Table:
    """Write ``OUT/videos.parquet`` from dicts with the manifest's columns (missing ones are null)."""
    schema = manifest_schema(run)
    table = pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema)
    write_table_atomic(table, join_uri(out, "videos.parquet"))
    return table


def read_results(out: str, name: str | None = None, *, masks: bool = True) -> list[FrameResult]:
    """Read frame results back from an output folder (one segment's files, or all of them); ``masks``
    False leaves the mask columns unread (every mask absent, ``b""``)."""
    fs, path = filesystem(out)
    frames_path, poses_path = (
        join_uri(path, d, f"{name}.parquet") if name is not None else join_uri(path, d) for d in ("frames", "poses")
    )
    columns = None if masks else [f.name for f in poses_schema(17) if f.name not in MASK_COLUMNS]
    return results_from_arrow(
        pq.read_table(frames_path, filesystem=fs), pq.read_table(poses_path, filesystem=fs, columns=columns)
    )
