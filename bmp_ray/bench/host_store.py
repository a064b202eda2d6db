"""Object-store bytes of the pipeline's rows without Ray running, and the "new" transport options.

Ray Data stores every operator's output batch as a block, an Arrow table: the model stages' own
Arrow batches as they are, a ``dict`` of numpy columns converted (``BlockAccessor.batch_to_block``;
a frame column an Arrow tensor column, pickled bytes a binary column). The bytes ``bmp-ray bench
pipeline`` reports per operator are the sums of those blocks' ``size_bytes``; ``block_bytes`` computes
the same with the same Ray function, with no cluster.

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


def to_block(batch: dict[str, np.ndarray] | pa.Table) -> pa.Table:
    """The block Ray Data stores for an operator's output ``batch`` (an Arrow table: the stages' own
    Arrow batches as they are, a numpy batch converted)."""
    from ray.data.block import BlockAccessor

    return BlockAccessor.batch_to_block(batch)


def block_bytes(block: pa.Table) -> int:
    """Bytes of a block as Ray Data's stats count them (``size_bytes``; Arrow ``nbytes``)."""
    from ray.data.block import BlockAccessor

    return int(BlockAccessor.for_block(block).size_bytes())


def from_block(block: pa.Table, batch_format: str = "numpy"):
    """The batch the next operator gets from ``block`` in its ``batch_format`` (Ray's
    ``to_batch_format``: "pyarrow" the block itself, "numpy" a dict of numpy columns)."""
    from ray.data.block import BlockAccessor

    return BlockAccessor.for_block(block).to_batch_format(batch_format)


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
