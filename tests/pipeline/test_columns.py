"""Arrow batches between the stages: zero-copy rows, Ray's layout, replaced columns."""

import pickle

import numpy as np
import pyarrow as pa
import pytest
from ray.data.block import BlockAccessor

from bmp_ray.pipeline import columns


def _addresses(chunked: pa.ChunkedArray) -> list[int]:
    return [b.address for c in chunked.chunks for b in c.buffers() if b is not None]


def _inside(view, chunk: pa.Array) -> bool:
    """``view`` (an array or a memoryview) points into one of ``chunk``'s buffers."""
    address = (
        view.__array_interface__["data"][0]
        if isinstance(view, np.ndarray)
        else np.frombuffer(view, np.uint8).ctypes.data
    )
    return any(b is not None and b.address <= address < b.address + max(b.size, 1) for b in chunk.buffers())


def test_table_is_rays_block_layout():
    batch = {
        "name": np.array(["a", "b"]),
        "frame_index": np.array([3, -1]),
        "frame": np.arange(24, dtype=np.uint8).reshape(2, 2, 2, 3),
    }
    assert columns.table(batch).equals(BlockAccessor.batch_to_block(batch))
    mixed = columns.table({**batch, "state": columns.binary([b"x", b""])})
    assert mixed.column_names == ["name", "frame_index", "frame", "state"]
    assert mixed.schema.field("state").type == pa.large_binary()


def test_binary_rows_are_memoryviews_of_the_column_across_chunks_and_slices():
    blobs = [pickle.dumps({"i": i, "pad": bytes(100 * i)}) for i in range(5)]
    t = pa.table({"state": pa.chunked_array([columns.binary(blobs[:2]), columns.binary(blobs[2:])])}).slice(1, 3)
    got = columns.rows(t, "state")
    assert all(isinstance(v, memoryview) for v in got)
    assert [pickle.loads(v)["i"] for v in got] == [1, 2, 3]  # pickle reads the views as they are
    chunks = t.column("state").chunks
    assert _inside(got[0], chunks[0]) and _inside(got[1], chunks[1]) and _inside(got[2], chunks[1])
    small = pa.table({"s": pa.array([b"ab", b""], pa.binary())})  # Ray's own binary columns: 32-bit offsets
    assert [bytes(v) for v in columns.rows(small, "s")] == [b"ab", b""]


def test_tensor_rows_are_views_and_shapes_may_differ():
    frames = np.arange(2 * 4 * 6, dtype=np.uint8).reshape(2, 4, 6, 1)
    t = columns.table({"frame": frames})
    got = columns.rows(t, "frame")
    assert all(_inside(f, t.column("frame").chunk(0).storage) for f in got)
    np.testing.assert_array_equal(np.stack(got), frames)
    ragged = columns.tensors([np.zeros((0, 4, 6), np.uint8), frames[1]])
    assert "VariableShaped" in type(ragged.type).__name__
    assert [f.shape for f in columns.rows(pa.table({"f": ragged}), "f")] == [(0, 4, 6), (4, 6, 1)]
    same = columns.tensors([np.zeros((0, 4, 6), np.uint8)] * 2)
    assert "VariableShaped" not in type(same.type).__name__ and same.nbytes < 100  # no pixel travels


def test_replaced_keeps_the_other_columns_buffers_and_checks_lengths():
    t = columns.table({"frame": np.zeros((2, 8, 8, 3), np.uint8), "state": columns.binary([b"", b""])})
    out = columns.replaced(t, state=columns.binary([b"a", b"b"]), embedding=columns.binary([b"", b"e"]))
    assert out.column_names == ["frame", "state", "embedding"]
    assert _addresses(out.column("frame")) == _addresses(t.column("frame"))
    assert [bytes(v) for v in columns.rows(out, "embedding")] == [b"", b"e"]
    with pytest.raises(ValueError, match="column 'state': 1 rows for a batch of 2"):
        columns.replaced(t, state=columns.binary([b"a"]))


def test_bad_columns_are_named():
    t = pa.table({"state": pa.array([b"a", None], pa.large_binary())})
    with pytest.raises(KeyError, match=r"batch column 'frame': not in this batch's columns \['state'\]"):
        columns.rows(t, "frame")
    with pytest.raises(ValueError, match="1 null"):
        columns.rows(t, "state")
