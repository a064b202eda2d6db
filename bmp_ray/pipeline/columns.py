"""Arrow batches between the pipeline's stages: read the columns a stage needs, replace the ones it changes.

The model stages take and return ``pyarrow.Table`` batches (Ray Data's ``batch_format="pyarrow"``), in
the layout of Ray's own blocks (``BlockAccessor.batch_to_block``: tensors in Ray's tensor extension
types, strings and numbers as they are). A column a stage does not change (the frame until the last
pose stage, the SAM embedding through the detector and pose stages, names, sizes, summaries) goes on
as the same Arrow buffers: no conversion to numpy and back at every boundary, which is what Ray's
numpy batch format costs for every column, the pickled states' bytes copied each way. Reading is
zero-copy: a tensor column's rows are views of its buffer, a binary column's rows memoryviews of its
data (``pickle.loads`` reads them as they are).

Binary columns are ``large_binary`` (64-bit offsets): a batch of full-precision SAM embeddings may hold
more than the 2 GiB a ``binary`` chunk can.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["table", "binary", "tensors", "numbers", "rows", "replaced"]
BINARY = pa.large_binary()


def table(columns: dict[str, np.ndarray | list | pa.Array]) -> pa.Table:
    """An Arrow batch of ``columns`` in the order given: Arrow arrays as they are, numpy columns (and
    lists of arrays, which may differ in shape) as Ray Data stores them."""
    from ray.data.block import BlockAccessor

    converted = {k: v for k, v in columns.items() if not isinstance(v, (pa.Array, pa.ChunkedArray))}
    block = BlockAccessor.batch_to_block(converted) if converted else None
    return pa.table({k: block.column(k) if k in converted else v for k, v in columns.items()})


def binary(values) -> pa.Array:
    """A ``large_binary`` column of ``values`` (bytes, or any bytes-like object such as a memoryview)."""
    return pa.array(list(values), BINARY)


def tensors(arrays: list[np.ndarray]) -> pa.ChunkedArray:
    """A tensor column of one array per row (at least one): Ray's fixed-shape type where the shapes
    agree, its variable-shape type where they do not."""
    if len({a.shape for a in arrays}) == 1:
        return table({"c": np.stack(arrays)}).column("c")
    ragged = np.empty(len(arrays), object)
    for i, a in enumerate(arrays):
        ragged[i] = a
    return table({"c": ragged}).column("c")


def numbers(t: pa.Table, name: str) -> np.ndarray:
    """A column of numbers (or strings) as a numpy array."""
    return t.column(name).to_numpy()


def rows(t: pa.Table, name: str) -> list:
    """Column ``name`` row by row, without copying: tensors as arrays (views of the column's buffer),
    binary values as memoryviews, anything else as Python values.

    Raises:
        KeyError: the batch has no such column (its columns are named in the message).
    """
    if name not in t.column_names:
        raise KeyError(f"batch column {name!r}: not in this batch's columns {t.column_names}")
    out: list = []
    for chunk in t.column(name).chunks:
        if pa.types.is_binary(chunk.type) or pa.types.is_large_binary(chunk.type):
            out += _binary_rows(chunk)
        elif isinstance(chunk.type, pa.ExtensionType):  # Ray's tensor types
            out += list(chunk.to_numpy())
        else:
            out += chunk.to_pylist()
    return out


def _binary_rows(chunk: pa.Array) -> list:
    if chunk.null_count:
        raise ValueError(f"binary column with {chunk.null_count} null(s): the stages write b'' for no value")
    _, offsets, data = chunk.buffers()
    dtype = np.int64 if pa.types.is_large_binary(chunk.type) else np.int32
    off = np.frombuffer(offsets, dtype)[chunk.offset : chunk.offset + len(chunk) + 1].tolist()
    view = memoryview(data) if data is not None else memoryview(b"")
    return [view[a:b] for a, b in zip(off[:-1], off[1:])]


def replaced(t: pa.Table, **columns) -> pa.Table:
    """``t`` with each of ``columns`` (Arrow arrays of its length) set: in the place of a column of that
    name, else appended."""
    for name, values in columns.items():
        if len(values) != t.num_rows:
            raise ValueError(f"column {name!r}: {len(values)} rows for a batch of {t.num_rows}")
        i = t.schema.get_field_index(name)
        t = t.set_column(i, name, values) if i >= 0 else t.append_column(name, values)
    return t
