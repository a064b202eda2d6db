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


def test_results_in_other_sizes_equal_the_results_resized(stages, shared_data):
    """``sizes`` (the local path's video pixels) gives, byte for byte, the results resized."""
    import pickle

    det, pose, sam = stages
    image = annotated_images(shared_data, "coco")[0].rgb
    frames = [image, image[::2, ::2].copy()]
    loop = BMPLoop(det, pose, sam, BMPConfig(iterations=1))
    sizes = [(2 * image.shape[0] + 1, 2 * image.shape[1] - 1), image.shape[:2]]
    got = loop(frames, sizes=sizes)
    want = [r.resized(*z) for r, z in zip(loop(frames), sizes)]
    assert [(r.height, r.width) for r in got] == sizes and len(got[0]) > 0
    assert [pickle.dumps(r) for r in got] == [pickle.dumps(r) for r in want]
    with pytest.raises(ValueError, match="sizes: expected 2 values, got 2 / 2 / 1"):
        loop(frames, sizes=sizes[:1])


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


class _DenseFrame:
    """Reference for ``FrameState``'s mask bookkeeping, as the loop first did it on the full frame: a
    float32 best-score map (-inf: nobody), copied for each round's new people and raised by every new
    SAM mask in the order (-IoU, index), rebuilt from the survivors after pose NMS removals."""

    def __init__(self, h, w):
        self.best = np.full((h, w), -np.inf, np.float32)
        self.people = []  # (window, mask, score)

    @staticmethod
    def _raise(scores, window, mask, score):
        y0, y1, x0, x1 = window
        view = scores[y0:y1, x0:x1]
        np.maximum(view, np.where(mask, np.float32(score), -np.inf), out=view)

    def keep(self, alive):
        self.people = [p for p, a in zip(self.people, alive) if a]
        self.best.fill(-np.inf)
        for p in self.people:
            self._raise(self.best, *p)

    def add(self, windows, ious):
        order = sorted(range(len(windows)), key=lambda i: (-float(ious[i]), i))
        competing = self.best.copy()
        kept = {}
        for i in order:
            (y0, y1, x0, x1), m = windows[i]
            kept[i] = m & (np.float32(ious[i]) > competing[y0:y1, x0:x1])
            self._raise(competing, windows[i][0], m, ious[i])
        for i in range(len(windows)):
            (y0, _, x0, _), keep = windows[i][0], kept[i]
            rows, cols = np.flatnonzero(keep.any(1)), np.flatnonzero(keep.any(0))
            sy0, sy1, sx0, sx1 = (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) if rows.size else (0, 0, 0, 0)
            p = ((y0 + sy0, y0 + sy1, x0 + sx0, x0 + sx1), keep[sy0:sy1, sx0:sx1], float(ious[i]))
            self.people.append(p)
            self._raise(self.best, *p)

    def erase(self):
        return np.isfinite(self.best) if self.people else None


def _box(h, w, y0, y1, x0, x1, window=None, hole=None):
    """A SAM-like window mask: the rectangle [y0:y1, x0:x1] (minus ``hole``) inside ``window``
    (default: the rectangle's own box)."""
    full = np.zeros((h, w), bool)
    full[y0:y1, x0:x1] = True
    if hole is not None:
        full[hole[0] : hole[1], hole[2] : hole[3]] = False
    wy0, wy1, wx0, wx1 = window or (y0, y1, x0, x1)
    return (wy0, wy1, wx0, wx1), full[wy0:wy1, wx0:wx1]


def _hand_made_rounds(h, w):
    """Two rounds on a (h, w) frame: overlapping masks with equal IoUs, a tie with an accepted person,
    an empty mask, a loose window, a mask inside another; between them pose NMS drops two people."""
    first = [
        _box(h, w, 0, 8, 0, 8),  # 0
        _box(h, w, 4, 12, 4, 12),  # 1: same IoU as 0, overlaps it (0 is earlier: it wins the overlap)
        _box(h, w, 2, 10, 2, 14, hole=(4, 6, 4, 6)),  # 2: the highest, over both
        _box(h, w, 14, 20, 0, 6, window=(12, 22, 0, 10)),  # 3: a loose window, nobody else there
        ((0, 0, 0, 0), np.zeros((0, 0), bool)),  # 4: SAM found nothing
        _box(h, w, 5, 7, 10, 12),  # 5: inside 2, with 2's IoU (2 is earlier)
        _box(h, w, 0, 3, 18, 24),  # 6: alone
    ]
    ious1 = np.array([0.75, 0.75, 0.875, 0.5, 0.25, 0.875, 0.625], np.float32)
    alive = [True, False, True, True, True, False, True]  # pose NMS drops 1 and 5 before round 2
    second = [
        _box(h, w, 4, 12, 4, 12),  # where 1 was, above everyone
        _box(h, w, 6, 16, 6, 22),  # the IoU of 2 (the accepted one wins the tie)
        _box(h, w, 0, 4, 16, 24),  # above 6's IoU: shares 6's pixels (accepted people keep theirs)
        _box(h, w, 13, 21, 2, 8),  # below 3, inside 3's window
        _box(h, w, 8, 14, 0, 24),  # the same IoU as 1 of this round, later: loses the overlap to it
    ]
    ious2 = np.array([0.9375, 0.875, 0.6875, 0.375, 0.9375], np.float32)
    return [(None, first, ious1), (alive, second, ious2)]


def _random_rounds(h, w, seed):
    rng = np.random.default_rng(seed)
    rounds = []
    for r in range(3):
        n = int(rng.integers(1, 7))
        wins = []
        for _ in range(n):
            y0, x0 = rng.integers(0, h - 2), rng.integers(0, w - 2)
            y1, x1 = rng.integers(y0 + 1, h + 1), rng.integers(x0 + 1, w + 1)
            wins.append(((y0, y1, x0, x1), rng.random((y1 - y0, x1 - x0)) < 0.7))
        ious = rng.choice(np.array([0.25, 0.5, 0.75], np.float32), n)  # many ties
        alive = None if r == 0 else list(rng.random(100) < 0.7)
        rounds.append((alive, wins, ious))
    return rounds


def _check_against_dense(h, w, rounds):
    import pickle

    from bmp_ray.bmp.loop import FrameState, _Person

    rgb = np.zeros((h, w, 3), np.uint8)
    frame, ref = FrameState(rgb), _DenseFrame(h, w)
    for alive, windows, ious in rounds:
        frame = pickle.loads(pickle.dumps(frame)).attach(rgb)  # as between two stages: masks via RLE
        if alive is not None:
            alive = alive[: len(frame.people)]
            frame.people = [p for p, a in zip(frame.people, alive) if a]
            ref.keep(alive)
        np.testing.assert_array_equal(frame.erase(), ref.erase())
        new = [_Person(np.zeros(4), 1.0, b"", np.zeros((21, 3)), 0.5, 1) for _ in windows]
        frame.add_exclusive(new, windows, ious)
        ref.add(windows, ious)
        assert len(frame.people) == len(ref.people)
        for p, (window, mask, score) in zip(frame.people, ref.people):
            assert p.window == tuple(int(v) for v in window)
            assert p.window_mask().dtype == mask.dtype and p.window_mask().shape == mask.shape
            np.testing.assert_array_equal(p.window_mask(), mask)
            assert np.float64(p.mask_score).tobytes() == np.float64(score).tobytes()
        np.testing.assert_array_equal(frame.erase(), ref.erase())


def test_windowed_exclusivity_equals_the_dense_best_score_map():
    """Every window, mask, score and erase map equals the full-frame best-score map's (ties, equal
    IoUs, people dropped by pose NMS between rounds, states pickled between stages)."""
    h, w = 24, 24
    rounds = _hand_made_rounds(h, w)
    _check_against_dense(h, w, rounds)
    # the hand-made case does what it says: the tie with accepted 2 and between the new 0 and 4
    from bmp_ray.bmp.loop import FrameState, _Person

    frame = FrameState(np.zeros((h, w, 3), np.uint8))
    for alive, windows, ious in rounds:
        if alive is not None:
            frame.people = [p for p, a in zip(frame.people, alive) if a]
        new = [_Person(np.zeros(4), 1.0, b"", np.zeros((21, 3)), 0.5, 1) for _ in windows]
        frame.add_exclusive(new, windows, ious)
    assert [p.mask_score for p in frame.people][:5] == [0.75, 0.875, 0.5, 0.25, 0.625]
    dense = np.zeros((len(frame.people), h, w), bool)
    for i, p in enumerate(frame.people):
        y0, y1, x0, x1 = p.window
        dense[i, y0:y1, x0:x1] = p.window_mask()
    assert not dense[6, 6:8, 12:14].any() and dense[6, 6:8, 14:22].all()  # the tie with accepted 2
    assert dense[5, 4:12, 4:12].all() and not dense[9, 8:12, 4:12].any()  # new 0 wins the tie with new 4
    assert dense[7, 0:3, 18:24].all() and dense[4, 0:3, 18:24].all()  # accepted people keep their pixels


@pytest.mark.parametrize("seed", range(20))
def test_windowed_exclusivity_equals_the_dense_map_on_random_masks(seed):
    _check_against_dense(20, 30, _random_rounds(20, 30, seed))


def test_windowed_exclusivity_equals_the_dense_map_for_non_finite_scores():
    """NaN, +inf and -inf IoUs (SAM never gives them) follow the dense map's rule all the same: a +inf
    mask over an accepted one leaves the pixels out of the erase map, and a NaN IoU puts the order by
    IoU out of order (0.3125, NaN, 0.9375: the last must still take the accepted 0.75 person's pixels)."""
    h, w = 24, 24
    (_, first, ious1), (alive, second, ious2) = _hand_made_rounds(h, w)
    ious1 = ious1.copy()
    ious1[[3, 6]] = np.inf, np.nan  # 3: alone (never erased), 6: no pixels
    ious2 = ious2.copy()
    ious2[[0, 2, 3]] = np.inf, np.nan, -np.inf  # 0: over accepted 0 and 2
    third = [_box(h, w, 20, 24, 18, 24), _box(h, w, 16, 22, 10, 16), _box(h, w, 0, 4, 0, 10)]
    ious3 = np.array([0.3125, np.nan, 0.9375], np.float32)
    assert sorted(range(3), key=lambda i: (-float(ious3[i]), i)) == [0, 1, 2]
    rounds = [(None, first, ious1), (alive, second, ious2), ([True] * 100, third, ious3)]
    _check_against_dense(h, w, rounds)


def test_frame_result_at_another_size_equals_the_result_resized():
    """``frame_result(size=...)`` (refined masks resized from their windows) is, byte for byte, the
    result at the frame's size resized (``FrameResult.resized``)."""
    import pickle

    from bmp_ray import masks
    from bmp_ray.bmp.loop import FrameState, _Person, frame_result

    h, w = 20, 30
    rng = np.random.default_rng(4)
    frame = FrameState(np.zeros((h, w, 3), np.uint8))
    for _, windows, ious in _random_rounds(h, w, 4):
        new = [
            _Person(
                rng.random(4).astype(np.float32) * 20,
                float(rng.random()),
                masks.encode(rng.random((h, w)) > (0.6, 1.0)[j % 2])[0],  # some empty, as the detector's
                rng.random((21, 3)).astype(np.float32) * 20,
                0.5,
                1,
            )
            for j in range(len(windows))
        ]
        frame.add_exclusive(new, windows, ious)
        frame = pickle.loads(pickle.dumps(frame)).attach(frame.rgb)
    assert len(frame.people) > 3
    for state in (frame, FrameState(frame.rgb)):
        for size in ((37, 61), (h, w), (9, 13), (h, 2 * w)):
            got = frame_result(state, "v", 3, 0.5, size=size)
            want = frame_result(state, "v", 3, 0.5).resized(*size)
            assert (got.height, got.width) == size and pickle.dumps(got) == pickle.dumps(want), size


def test_the_embedding_crosses_stages_that_do_not_read_it_as_its_pickled_bytes(monkeypatch):
    """A pickled ``FrameState`` keeps its embedding as pickled bytes until it is read: a stage that does
    not read it (detector, pose) passes the same bytes on without unpickling them; the SAM step reads
    the embedding the SAM step before it held."""
    import pickle

    import torch

    from bmp_ray.bmp.loop import FrameState
    from bmp_ray.models import segmenter
    from bmp_ray.models.sam import Embedding

    unpickled = []
    setstate = segmenter.TensorEmbedding.__setstate__
    monkeypatch.setattr(
        segmenter.TensorEmbedding, "__setstate__", lambda self, d: unpickled.append(1) or setstate(self, d)
    )
    rgb = np.zeros((6, 8, 3), np.uint8)
    state = FrameState(rgb)
    assert not state.embedded and state.embedding is None
    state.embedding = Embedding(torch.randn(4, 3, 3), (6, 8), (6, 8), "fp16").held()
    after_sam = pickle.loads(pickle.dumps(state)).attach(rgb)
    passed_on = pickle.loads(pickle.dumps(pickle.loads(pickle.dumps(after_sam)).attach(rgb))).attach(rgb)
    assert passed_on.embedded and unpickled == []
    assert passed_on.__getstate__()["_embedding"] == after_sam.__getstate__()["_embedding"]
    read = passed_on.embedding
    assert len(unpickled) == 1 and isinstance(read, Embedding) and passed_on.embedding is read
    assert torch.equal(read.features, state.embedding.features) and read.original_size == (6, 8)
