"""The part writer: results become Arrow in the worker and land as part files; the driver gets receipts.

A part is one Arrow IPC file (lz4) at ``OUT/_parts/<segment name>/<first>-<last>-<n>-<digest>.arrow``:
the poses rows of some frames of one segment, with those frames' rows (the ``frames`` table, IPC
serialized) in its schema metadata, so that a part is one object (one PUT on an object store). Its
name is a function of the segment and the frame indices it covers: a retried batch rewrites the same
name. The file is complete before the receipt exists.

A receipt is one small row: ``kind`` ("part" or "end"), ``name`` (segment), ``video_id``, ``path``
(the part's URI, "" for an end), ``frames`` (JSON list of frame indices), ``rows`` (people),
``bytes``, ``summary`` (the decode summary JSON on an end receipt, "" otherwise).
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from bmp_ray.export import store
from bmp_ray.export.schema import results_to_arrow
from bmp_ray.fs import join_uri
from bmp_ray.pipeline import faults
from bmp_ray.result import FrameResult

log = logging.getLogger(__name__)
PARTS = "_parts"
END = -1  # frame_index of a segment's end row (its decode summary)
_FRAMES_KEY = b"bmp_ray.part_frames"
_IPC = ipc.IpcWriteOptions(compression="lz4")
RECEIPT_COLUMNS = ("kind", "name", "video_id", "path", "frames", "rows", "bytes", "summary")


def parts_dir(out: str, name: str) -> str:
    return join_uri(out, PARTS, name)


def part_uri(out: str, name: str, frame_indices: Sequence[int]) -> str:
    """The part's URI: segment, first and last frame, count and a digest of the covered indices."""
    idx = sorted(int(i) for i in frame_indices)
    digest = hashlib.sha1(",".join(map(str, idx)).encode()).hexdigest()[:8]
    return join_uri(parts_dir(out, name), f"{idx[0]:08d}-{idx[-1]:08d}-{len(idx)}-{digest}.arrow")


def _ipc_bytes(table: pa.Table) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, table.schema, options=_IPC) as w:
        w.write_table(table)
    return sink.getvalue()


def write_part(out: str, name: str, results: Sequence[FrameResult]) -> dict:
    """Write the results of some frames of segment ``name`` as one part; returns its receipt."""
    results = sorted(results, key=lambda r: r.frame_index)
    frames, poses = results_to_arrow(results)
    md = dict(poses.schema.metadata or {})
    md[_FRAMES_KEY] = _ipc_bytes(frames).to_pybytes()
    data = _ipc_bytes(poses.replace_schema_metadata(md))
    idx = [r.frame_index for r in results]
    uri = part_uri(out, name, idx)
    faults.point("part.before_write")
    size = store.write_bytes(uri, data)
    faults.point("part.after_write")
    return {
        "kind": "part",
        "name": name,
        "video_id": results[0].video_id,
        "path": uri,
        "frames": json.dumps(idx),
        "rows": poses.num_rows,
        "bytes": size,
        "summary": "",
    }


def end_receipt(name: str, summary: dict) -> dict:
    return {
        "kind": "end",
        "name": name,
        "video_id": summary["video_id"],
        "path": "",
        "frames": "[]",
        "rows": 0,
        "bytes": 0,
        "summary": json.dumps(summary, sort_keys=True),
    }


def read_part(uri: str) -> tuple[pa.Table, pa.Table]:
    """``(frames, poses)`` of a part file (the poses' schema without the embedded frames)."""
    poses = ipc.open_file(pa.BufferReader(store.read_bytes(uri))).read_all()
    md = dict(poses.schema.metadata or {})
    frames = ipc.open_file(pa.BufferReader(md.pop(_FRAMES_KEY))).read_all()
    return frames, poses.replace_schema_metadata(md)


def receipts_batch(receipts: Sequence[dict]) -> dict[str, np.ndarray]:
    """Receipts as a columnar batch (Ray Data's numpy format)."""
    return (
        {c: np.array([r[c] for r in receipts], object if c in ("frames", "summary") else None) for c in RECEIPT_COLUMNS}
        if receipts
        else {c: np.array([], object) for c in RECEIPT_COLUMNS}
    )


def receipts_of(batch: dict[str, np.ndarray]) -> list[dict]:
    """The rows of a receipts batch as dicts (plain Python values)."""
    n = len(batch["kind"])
    return [
        {c: (v.item() if isinstance(v, np.generic) else v) for c, v in ((c, batch[c][i]) for c in RECEIPT_COLUMNS)}
        for i in range(n)
    ]


def write_parts(batch: dict[str, np.ndarray], *, out: str) -> dict[str, np.ndarray]:
    """Ray Data UDF (and the single-process path's step): the last model stage's rows (``name``,
    ``frame_index``, ``summary``, ``result``: pickled ``FrameResult``) in, receipts out. One part per
    segment present in the batch; an end row becomes an end receipt."""
    groups: dict[str, list[FrameResult]] = {}
    receipts = []
    for name, k, summary, blob in zip(batch["name"], batch["frame_index"], batch["summary"], batch["result"]):
        if int(k) == END:
            receipts.append(end_receipt(str(name), json.loads(summary)))
        else:
            groups.setdefault(str(name), []).append(pickle.loads(blob))
    parts = [write_part(out, name, results) for name, results in groups.items()]
    return receipts_batch(parts + receipts)
