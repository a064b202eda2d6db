import numpy as np
import pytest

from bmp_ray.bmp import BMPConfig, BMPLoop
from bmp_ray.bmp.rules import pose_nms
from bmp_ray.testdata import annotated_images


class Spy:
    """Records the calls of one method of a real stage object, then calls it."""

    def __init__(self, obj, name):
        self.calls, self.fn = [], getattr(obj, name)
        self.obj, self.name = obj, name

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return self.fn(*args, **kwargs)

    def __enter__(self):
        setattr(self.obj, self.name, self)
        return self

    def __exit__(self, *exc):
        delattr(self.obj, self.name)


class SpyCall(Spy):
    """The same for ``__call__`` of a stage (wrapped through a subclass attribute)."""

    def __init__(self, obj):
        super().__init__(obj, "__call__")
        self.stage = obj

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def __getattr__(self, name):
        return getattr(self.stage, name)


@pytest.fixture(scope="module")
def run(stages, shared_data):
    """The loop on a real image and a small grey frame, in one batch."""
    det, pose, sam = stages
    image = annotated_images(shared_data, "coco")[1].rgb
    grey = np.full((120, 90, 3), 128, np.uint8)
    d, p = SpyCall(det), SpyCall(pose)
    with Spy(sam, "embed") as embed, Spy(sam, "segment_windows") as segment:
        loop = BMPLoop(d, p, sam, BMPConfig())
        detector_calls_before = len(d.calls)
        results = loop([image, grey], video_id="v", frame_indices=[7, 8], pts_s=[0.5, 0.6])
    return dict(
        results=results,
        image=image,
        det=d,
        pose=p,
        embed=embed,
        segment=segment,
        detector_calls_before=detector_calls_before,
    )


def test_results_are_frozen_frame_results_with_every_field(run):
    r, small = run["results"]
    h, w = run["image"].shape[:2]
    assert (r.video_id, r.frame_index, r.pts_s, r.height, r.width) == ("v", 7, 0.5, h, w)
    assert len(r) > 0 and r.keypoints.shape == (len(r), 21, 3)
    np.testing.assert_allclose(r.pose_scores, r.keypoints[:, :17, 2].mean(1), rtol=1e-6)
    assert set(r.iterations.tolist()) <= {1, 2} and 1 in r.iterations
    assert all(len(c) > 0 for c in r.det_masks) and r.mask_array().shape == (len(r), h, w)
    assert (small.frame_index, small.pts_s, small.height, small.width) == (8, 0.6, 120, 90)


def test_sam_embeds_each_frame_once_in_rgb_and_decodes_per_frame_not_per_person(run):
    ((args, _),) = run["embed"].calls  # one call for the whole batch, in iteration 1
    frames = args[0]
    assert len(frames) == 2
    np.testing.assert_array_equal(frames[0], run["image"])  # RGB as given, not BGR
    r = run["results"][0]
    assert 2 <= len(run["segment"].calls) <= 4  # at most one decoder call per frame and iteration
    people = sum(len(a[1]) for a, _ in run["segment"].calls)
    assert people >= len(r)


def test_iteration_two_detects_on_the_masked_out_frame(run):
    calls = run["det"].calls
    (f1, e1), (f2, e2) = [(a[0], k["erase"]) for a, k in calls]
    assert len(f1) == 2 and e1 == [None, None]
    assert len(f2) == 2 and e2[0] is not None
    r = run["results"][0]
    first = r[r.iterations == 1]
    union = first.mask_array().any(0)
    np.testing.assert_array_equal(e2[0], union)  # exactly the refined masks of the people accepted so far
    assert e2[0].any()


def test_pose_runs_on_the_original_frame_with_detector_masks(run):
    for args, _ in run["pose"].calls:
        np.testing.assert_array_equal(args[0][0], run["image"])  # never the masked-out one
        assert all(len(m) == len(b) for m, b in zip(args[2], args[1]))


def test_accepted_people_are_pose_nms_survivors_and_new_masks_are_exclusive(run):
    r = run["results"][0]
    alive = pose_nms(r.keypoints, r.boxes, 0.8, 0.3)
    assert alive.all()  # nobody left in the result would be suppressed by another
    m = r.mask_array()
    for it in (1, 2):
        new = m[r.iterations == it]
        if len(new) > 1:
            assert new.sum(0).max() <= 1  # people found in one iteration never share a pixel
    later, earlier = m[r.iterations == 2], m[r.iterations == 1]
    s_later, s_earlier = r.mask_scores[r.iterations == 2], r.mask_scores[r.iterations == 1]
    for mk, sk in zip(later, s_later):
        for mo, so in zip(earlier, s_earlier):
            if so >= sk:
                assert not (mk & mo).any()  # a new person never takes a pixel an earlier, stronger one has


def test_no_detections_means_no_people_no_sam_and_no_second_pass(stages, shared_data):
    det, pose, sam = stages
    image = annotated_images(shared_data, "coco")[0].rgb
    calls = SpyCall(det)
    with Spy(sam, "embed") as embed:
        (r,) = BMPLoop(calls, pose, sam, BMPConfig(det_score_thr=1.0))([image])
    assert len(r) == 0 and r.boxes.shape == (0, 4) and embed.calls == []
    # nothing was accepted, so the masked-out frame is the frame itself: it is not detected again
    assert len(calls.calls) == 1 and calls.calls[0][1]["score_thr"] == 1.0


def test_people_without_confident_keypoints_are_prompted_by_their_box(stages, shared_data):
    det, pose, sam = stages
    image = annotated_images(shared_data, "coco")[1].rgb
    with Spy(sam, "segment_windows") as segment:
        (r,) = BMPLoop(det, pose, sam, BMPConfig(iterations=1, prompt_thr=1.0))([image])
    ((args, _),) = segment.calls
    points, boxes = args[1], args[2]
    assert all(len(p) == 0 for p in points) and all(b is not None for b in boxes)
    assert len(r) == len(points) and (r.iterations == 1).all()


def test_one_iteration_config(stages, shared_data):
    det, pose, sam = stages
    image = annotated_images(shared_data, "coco")[3].rgb
    calls = SpyCall(det)
    (r,) = BMPLoop(calls, pose, sam, BMPConfig(iterations=1))([image])
    assert len(calls.calls) == 1 and (r.iterations == 1).all()


def test_windowed_bookkeeping_equals_the_dense_rule():
    """The loop's box-window exclusivity gives exactly the full-frame oracle ``tests.bmp.oracles.exclusive``."""
    from bmp_ray.bmp.loop import FrameState, _Person, _window
    from tests.bmp.oracles import exclusive

    rng = np.random.default_rng(3)
    h, w = 40, 60
    frame = FrameState(np.zeros((h, w, 3), np.uint8))

    def people(n, it):
        out, dense = [], np.zeros((n, h, w), bool)
        for j in range(n):
            y, x = rng.integers(0, h - 15), rng.integers(0, w - 15)
            dense[j, y : y + rng.integers(5, 15), x : x + rng.integers(5, 15)] = True
            out.append(_Person(np.zeros(4), 1.0, b"", np.zeros((21, 3)), 0.5, it))
        return out, dense

    def windows(dense):
        wins = []
        for m in dense:
            y0, y1, x0, x1 = _window(m)
            wins.append(((y0, y1, x0, x1), m[y0:y1, x0:x1]))
        return wins

    def as_dense(ps):
        out = np.zeros((len(ps), h, w), bool)
        for i, p in enumerate(ps):
            y0, y1, x0, x1 = p.window
            out[i, y0:y1, x0:x1] = p.mask
        return out

    first, d1 = people(4, 1)
    s1 = np.array([0.5, 0.9, 0.9, 0.7], np.float32)
    frame.add_exclusive(first, windows(d1), s1)
    np.testing.assert_array_equal(as_dense(first), exclusive(d1, s1, np.zeros((0, h, w), bool), np.zeros(0)))
    second, d2 = people(5, 2)
    s2 = np.array([0.95, 0.6, 0.9, 0.2, 0.7], np.float32)
    old = as_dense(first)
    frame.add_exclusive(second, windows(d2), s2)
    np.testing.assert_array_equal(as_dense(second), exclusive(d2, s2, old, s1))
    np.testing.assert_array_equal(frame.erase(), np.concatenate([old, as_dense(second)]).any(0))
