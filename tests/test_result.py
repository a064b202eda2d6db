import numpy as np
import pytest

from bmp_ray.result import FrameResult


def make(n=3, k=21, h=11, w=9, seed=0):
    rng = np.random.default_rng(seed)
    m = rng.random((n, h, w)) > 0.5
    return FrameResult.from_dense(
        "v.mp4",
        4,
        0.25,
        boxes=rng.random((n, 4)) * 5,
        box_scores=rng.random(n),
        keypoints=rng.random((n, k, 3)),
        masks=m,
        mask_scores=rng.random(n),
        iterations=np.arange(1, n + 1),
        det_masks=m,
    ), m


def test_from_dense_validates_and_freezes():
    r, m = make()
    assert len(r) == 3 and r.num_keypoints == 21 and r.boxes.dtype == np.float32 and r.iterations.dtype == np.int8
    np.testing.assert_allclose(r.pose_scores, r.keypoints[:, :17, 2].mean(axis=1))
    np.testing.assert_array_equal(r.mask_array(), m)
    np.testing.assert_array_equal(r.mask_array(refined=False), m)
    assert (r.track_ids == -1).all()
    with pytest.raises(ValueError, match="read-only"):
        r.boxes[0, 0] = 1
    with pytest.raises(AttributeError):
        r.frame_index = 5


def test_callers_arrays_are_not_frozen():
    boxes = np.zeros((1, 4), np.float32)
    FrameResult(
        video_id="v",
        frame_index=0,
        pts_s=0.0,
        height=4,
        width=4,
        boxes=boxes,
        box_scores=np.zeros(1),
        keypoints=np.zeros((1, 17, 3)),
        pose_scores=np.zeros(1),
        masks=np.array([b"4"], object),
        mask_scores=np.zeros(1),
        det_masks=np.array([b""], object),
        iterations=np.ones(1, np.int8),
        track_ids=np.full(1, -1),
    )
    boxes[0, 0] = 1.0  # still writable


def test_boolean_and_index_selection():
    r, m = make()
    sel = r[np.array([True, False, True])]
    assert len(sel) == 2 and sel.iterations.tolist() == [1, 3]
    np.testing.assert_array_equal(sel.mask_array(), m[[0, 2]])
    assert len(r[1]) == 1 and len(r[1:]) == 2 and len(r[np.zeros(3, bool)]) == 0
    with pytest.raises(IndexError, match=r"shape \(3,\)"):
        r[np.array([True])]


def test_empty_frame_has_no_people():
    e = FrameResult.empty("v", 0, 0.0, 480, 640)
    assert len(e) == 0 and e.keypoints.shape == (0, 17, 3) and e.mask_array().shape == (0, 480, 640)


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("boxes", np.zeros((3, 5)), r"boxes: expected shape \(N, 4\)"),
        ("box_scores", np.zeros(2), r"box_scores: expected shape \(3,\)"),
        ("keypoints", np.zeros((3, 5, 3)), r"keypoints: expected shape \(3, K>=17, 3\)"),
        ("iterations", np.ones(3) * 1.5, "iterations: expected integers"),
        ("masks", np.array(["abc"] * 3, object), "masks: expected"),
        ("video_id", "", "video_id: expected a non-empty str"),
        ("height", -1, "height: expected an integer >= 0"),
    ],
)
def test_bad_columns_name_field_expected_and_got(field, value, match):
    import dataclasses

    r, _ = make()
    kwargs = {f.name: getattr(r, f.name) for f in dataclasses.fields(r)}
    kwargs[field] = value
    with pytest.raises(ValueError, match=match):
        FrameResult(**kwargs)


def test_equals_tolerance():
    a, _ = make(seed=1)
    b, _ = make(seed=1)
    assert a.equals(b)
    import dataclasses

    c = dataclasses.replace(b, boxes=b.boxes + 1e-5)
    assert not a.equals(c) and a.equals(c, atol=1e-4)


def test_fields_are_keyword_only():
    r, _ = make()
    with pytest.raises(TypeError):
        FrameResult(*[getattr(r, f) for f in ("video_id", "frame_index", "pts_s", "height", "width")])


def test_concat_joins_the_people_of_one_frame_in_order():
    r, m = make()
    both = FrameResult.concat([r[:1], r[1:]])
    assert both.equals(r)
    np.testing.assert_array_equal(both.mask_array(), m)
    other = FrameResult.empty("v", r.frame_index + 1, 0.0, r.height, r.width)
    with pytest.raises(ValueError, match="expected results of frame"):
        FrameResult.concat([r, other])
    with pytest.raises(ValueError, match="at least one"):
        FrameResult.concat([])


def test_from_rle_defaults_the_pose_score_detector_masks_and_track_ids():
    r, _ = make()
    got = FrameResult.from_rle(
        r.video_id,
        r.frame_index,
        r.pts_s,
        r.height,
        r.width,
        boxes=r.boxes,
        box_scores=r.box_scores,
        keypoints=r.keypoints,
        masks=r.masks,
        mask_scores=r.mask_scores,
        iterations=r.iterations,
    )
    np.testing.assert_allclose(got.pose_scores, r.keypoints[:, :17, 2].mean(1), rtol=1e-6)
    assert list(got.det_masks) == [b""] * len(r) and (got.track_ids == -1).all()


def test_resized_is_the_same_people_in_the_videos_own_pixels():
    """A working-resolution result (``decode.max_side``) in the frame's own pixels: boxes scaled, keypoints
    about pixel centres, masks by nearest neighbour; the same size gives the same object."""
    r, m = make(h=10, w=8)
    big = r.resized(30, 16)
    assert (big.height, big.width) == (30, 16) and len(big) == len(r)
    np.testing.assert_allclose(big.boxes, r.boxes * [2, 3, 2, 3], rtol=1e-6)
    np.testing.assert_allclose(big.keypoints[..., 0], (r.keypoints[..., 0] + 0.5) * 2 - 0.5, rtol=1e-6)
    np.testing.assert_allclose(big.keypoints[..., 1], (r.keypoints[..., 1] + 0.5) * 3 - 0.5, rtol=1e-6)
    assert np.array_equal(big.keypoints[..., 2], r.keypoints[..., 2])
    up = m.repeat(3, axis=1).repeat(2, axis=2)  # integer factors: every source pixel becomes a block
    assert np.array_equal(big.mask_array(), up) and np.array_equal(big.mask_array(refined=False), up)
    for name in ("box_scores", "pose_scores", "mask_scores", "iterations", "track_ids"):
        assert np.array_equal(getattr(big, name), getattr(r, name))
    assert r.resized(10, 8) is r
    assert FrameResult.empty("v.mp4", 0, 0.0, 5, 4).resized(10, 8).height == 10
    with pytest.raises(ValueError, match="resized: expected sizes > 0"):
        r.resized(0, 8)
