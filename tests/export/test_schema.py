import numpy as np
import pyarrow as pa
import pytest

from bmp_ray.errors import SchemaError
from bmp_ray.export import (
    SCHEMA_VERSION,
    poses_schema,
    results_from_arrow,
    results_to_arrow,
)
from bmp_ray.result import FrameResult


def frame(fi, n, h=13, w=7, k=17, vid="cam/a.mp4", seed=None):
    rng = np.random.default_rng(fi if seed is None else seed)
    if n == 0:
        return FrameResult.empty(vid, fi, fi / 25, h, w, k)
    m = rng.random((n, h, w)) > 0.5
    return FrameResult.from_dense(
        vid,
        fi,
        fi / 25,
        boxes=rng.random((n, 4)),
        box_scores=rng.random(n),
        keypoints=rng.random((n, k, 3)),
        masks=m,
        mask_scores=rng.random(n),
        iterations=rng.integers(1, 3, n),
        det_masks=m if fi % 2 else None,
        track_ids=np.arange(n) if fi == 3 else None,
    )


def test_round_trip_with_empty_frames_odd_mask_sizes_and_nulls():
    results = [frame(0, 2), frame(1, 0), frame(2, 3, h=1, w=1), frame(3, 1, h=31, w=17), frame(4, 0)]
    frames, poses = results_to_arrow(results, run={"models": ["x"]})
    assert frames.num_rows == 5 and poses.num_rows == 6
    assert poses.column("track_id").null_count == 5  # only frame 3 is tracked
    assert poses.column("det_mask_rle").null_count == 5  # frames 0 and 2 have no detector masks
    back = results_from_arrow(frames, poses)
    assert len(back) == 5 and all(a.equals(b) for a, b in zip(results, back))


def test_schema_uses_plain_arrow_types_and_carries_metadata():
    frames, poses = results_to_arrow([frame(0, 2, k=21)], run={"config": {"a": 1}})
    assert poses.schema.field("keypoints").type == pa.list_(pa.float32(), 63)
    assert poses.schema.field("bbox_xyxy").type == pa.list_(pa.float32(), 4)
    md = poses.schema.metadata
    assert md[b"bmp_ray.schema_version"] == SCHEMA_VERSION.encode() and md[b"bmp_ray.num_keypoints"] == b"21"
    assert b'"config"' in md[b"bmp_ray.run"]
    for f in poses.schema:
        assert not isinstance(f.type, pa.ExtensionType)


def test_all_empty_and_no_results():
    frames, poses = results_to_arrow([frame(0, 0), frame(1, 0)])
    assert (frames.num_rows, poses.num_rows) == (2, 0)
    assert [len(r) for r in results_from_arrow(frames, poses)] == [0, 0]
    frames, poses = results_to_arrow([])
    assert results_from_arrow(frames, poses) == []


def test_mixed_keypoint_counts_are_rejected():
    with pytest.raises(SchemaError, match=r"mix keypoint counts \[17, 21\]"):
        results_to_arrow([frame(0, 1, k=17), frame(1, 1, k=21)])


def test_wrong_version_and_wrong_columns_are_named():
    frames, poses = results_to_arrow([frame(0, 1)])
    old = poses.replace_schema_metadata({**poses.schema.metadata, b"bmp_ray.schema_version": b"0"})
    with pytest.raises(SchemaError, match="schema version 0, this bmp_ray reads version 1"):
        results_from_arrow(frames, old)
    bad = poses.set_column(
        poses.schema.get_field_index("bbox_score"), "bbox_score", poses.column("bbox_score").cast(pa.float64())
    )
    with pytest.raises(SchemaError, match="bbox_score"):
        results_from_arrow(frames, bad)
    assert poses_schema(17).field("iteration").type == pa.int8()


def test_frames_and_poses_tables_must_agree():
    frames, poses = results_to_arrow([frame(0, 2), frame(1, 1)])
    with pytest.raises(SchemaError, match="disagrees"):
        results_from_arrow(frames, poses.slice(0, 1))
