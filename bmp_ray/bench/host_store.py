"""Object-store bytes of the pipeline's rows without Ray running, and the "new" transport options.

Ray Data stores every operator's output batch as a block: a ``dict`` of numpy columns becomes an
Arrow table (``BlockAccessor.batch_to_block``; the frame column an Arrow tensor column, the pickled
states a binary column), and the bytes ``bmp-ray bench pipeline`` reports per operator are the sums
of those blocks' ``size_bytes``. ``block_bytes`` computes the same from the same Ray function, with
no cluster; where Ray is not installed it builds the Arrow table itself (the same layout for the
column types the stages emit).

``transport_options`` lists the transport options the stage objects of this checkout have, and
``decode_options`` the decode settings of the run config (each one looked up, none assumed):
"today" sets each to its old value, "new" to its new one.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pyarrow as pa

log = logging.getLogger(__name__)


def _ray_accessor():
    try:
        from ray.data.block import BlockAccessor
    except ImportError:
        return None
    return BlockAccessor


def arrow_table(batch: dict[str, np.ndarray]) -> pa.Table:
    """The batch as an Arrow table without Ray, in the layout of Ray's blocks: bytes columns binary,
    strings string, numbers as they are, (N, ...) arrays of more than one dimension (and lists of
    arrays) a large list per row (the storage of Ray's tensor column: int64 offsets, values in one
    buffer)."""
    cols = {}
    for k, v in batch.items():
        v = np.asarray(v) if not isinstance(v, list) else v
        if isinstance(v, np.ndarray) and v.dtype != object and v.ndim > 1:
            v = list(v)
        if isinstance(v, list) and v and all(isinstance(x, np.ndarray) for x in v):
            sizes = np.array([x.size for x in v], np.int64)
            values = pa.array(np.concatenate([np.ascontiguousarray(x).reshape(-1) for x in v]))
            cols[k] = pa.LargeListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(sizes)])), values)
        elif isinstance(v, list) or v.dtype == object:
            items = list(v)
            cols[k] = pa.array(items, pa.binary() if items and isinstance(items[0], bytes) else None)
        else:
            cols[k] = pa.array(v)
    return pa.table(cols)


def to_block(batch: dict[str, np.ndarray]):
    """The block Ray Data would store for ``batch`` (an Arrow table)."""
    acc = _ray_accessor()
    return acc.batch_to_block(batch) if acc is not None else arrow_table(batch)


def block_bytes(block) -> int:
    """Bytes of a block as Ray Data's stats count them (``size_bytes``; Arrow ``nbytes``)."""
    acc = _ray_accessor()
    if acc is not None:
        return int(acc.for_block(block).size_bytes())
    return int(block.nbytes)


def from_block(block) -> dict[str, np.ndarray]:
    """The numpy batch the next operator gets from ``block`` (Ray's ``to_batch_format("numpy")``;
    needs Ray)."""
    return _ray_accessor().for_block(block).to_batch_format("numpy")


def ray_available() -> bool:
    return _ray_accessor() is not None


# -- the "new" transport options ------------------------------------------------------------------

# (role, attribute of the stage object, today's value, the new value, what it changes): options that
# other work adds to the stage objects; each applies only where the object has the attribute.
OPTIONS = (
    ("sam", "transport", "fp32", "fp16", "SAM embedding pickled between stages in half precision"),
    ("pose", "backend", "reference", "torch", "pose crops and heatmap decoding batched in torch"),
    ("PoseStage", "drops_unread", False, True, "the last pose stage sends on no pixel the last SAM stage skips"),
)
ROLES = ("detector", "pose", "sam")


def _owners(models) -> dict:
    """What each option's role names: the stage objects (models) by role, and the pose stage class."""
    from bmp_ray.pipeline.stages import PoseStage

    return {**dict(zip(ROLES, models)), "PoseStage": PoseStage}


# (run config key, today's value, the new value, what it changes): how frames are decoded and sent
DECODE_OPTIONS = (
    ("decode.max_side", 0, 1024, "a 1024-pixel working resolution (no model reads more)"),
    ("decode.frame_transport", "rgb", "i420", "frames cross stages as I420 planes (half the bytes)"),
)


def decode_options() -> list[tuple[str, object, object, str]]:
    """The ``DECODE_OPTIONS`` the run config of this checkout has."""
    from bmp_ray.pipeline.config import DecodeConfig

    names = {f.name for f in dataclasses.fields(DecodeConfig)}
    return [o for o in DECODE_OPTIONS if o[0].split(".", 1)[1] in names]


def decode_overrides(options, new=()) -> list[str]:
    """``--set`` overrides giving the decode options named in ``new`` their new value, the others
    today's."""
    return [f"{k}={n if k in new else t}" for k, t, n, _ in options]


def transport_options(models) -> list[tuple[str, str, object, object, str]]:
    """The ``OPTIONS`` the stage objects ``models`` (detector, pose, SAM) and stage classes have."""
    by_role = _owners(models)
    return [o for o in OPTIONS if hasattr(by_role[o[0]], o[1])]


def apply_options(models, options, which: str) -> None:
    """Set each option's ``which`` ("today" or "new") value on the stage objects and classes."""
    by_role = _owners(models)
    for role, attr, today, new, _ in options:
        setattr(by_role[role], attr, today if which == "today" else new)
