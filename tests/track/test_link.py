import numpy as np

from bmp_ray.track import TrackConfig
from bmp_ray.track.frames import from_results
from bmp_ray.track.link import link
from tests.track.helpers import frame, walkers

CFG = TrackConfig()


def split(labels, at, new):
    """Give the detections of label 0 from frame ``at`` on the label ``new``."""
    return [np.where((lab == 0) & (t >= at), new, lab) for t, lab in enumerate(labels)]


def test_a_walker_cut_in_two_across_a_gap_is_linked():
    res = walkers(30, people=1, speed=2.0, skip=[(0, t) for t in range(12, 16)])
    frames = from_results(res, 0.3)
    labels = [np.zeros(len(r), np.int64) for r in res]
    labels = split(labels, 16, 1)
    out = link(frames, labels, CFG)
    assert {int(x) for lab in out for x in lab} == {0}


def test_refused_when_the_gap_is_too_long_or_the_motion_does_not_meet():
    res = walkers(40, people=1, speed=2.0, skip=[(0, t) for t in range(10, 25)])
    frames = from_results(res, 0.3)
    labels = split([np.zeros(len(r), np.int64) for r in res], 25, 1)
    short = TrackConfig(link_max_gap=10, link_sole_max_gap=10)
    assert {int(x) for lab in link(frames, labels, short) for x in lab} == {0, 1}
    # a person who ends at the left and one who starts far right: no link
    res = [frame(t, [[5, 30, 35, 90]]) for t in range(10)] + [frame(t, [[160, 30, 190, 90]]) for t in range(12, 20)]
    frames = from_results(res, 0.3)
    labels = [np.array([0 if t < 10 else 1]) for t in range(len(res))]
    assert {int(x) for lab in link(frames, labels, CFG) for x in lab} == {0, 1}


def test_refused_when_ambiguous():
    # two tracklets end side by side; one starts between them: either could continue, so none does
    res = [frame(t, [[40, 30, 70, 90], [72, 30, 102, 90]]) for t in range(10)]
    res += [frame(t, [[57, 30, 87, 90]]) for t in range(12, 20)]  # a little nearer the right one
    frames = from_results(res, 0.3)
    labels = [np.array([0, 1]) if t < 10 else np.array([2]) for t in range(len(res))]
    out = link(frames, labels, TrackConfig(link_min=0.2, link_margin=0.1))
    assert len({int(x) for lab in out for x in lab}) == 3
    out = link(frames, labels, TrackConfig(link_min=0.2, link_margin=0.0))
    assert len({int(x) for lab in out for x in lab}) == 2  # without the margin the better one is taken


def test_a_sole_continuation_is_linked_below_link_min_and_beyond_link_max_gap():
    # standing still at x 50-80, then again at x 70-100 after a gap: box IoU 0.2, below link_min (0.25)
    res = [frame(t, [[50, 30, 80, 90]]) for t in range(10)] + [frame(t, [[70, 30, 100, 90]]) for t in range(20, 30)]
    frames = from_results(res, 0.3)
    labels = [np.array([0 if r.frame_index < 10 else 1]) for r in res]
    assert len({int(x) for lab in link(frames, labels, CFG) for x in lab}) == 1  # nobody else could continue it
    assert len({int(x) for lab in link(frames, labels, TrackConfig(link_sole_max_gap=0)) for x in lab}) == 2
    assert len({int(x) for lab in link(frames, labels, TrackConfig(link_sole_min=0.3)) for x in lab}) == 2
    # a second start as near on the other side (IoU 0.2 as well): two candidates, no sole pair, no link
    res = res[:10] + [frame(t, [[70, 30, 100, 90], [30, 30, 60, 90]]) for t in range(20, 30)]
    labels = [np.array([0]) if r.frame_index < 10 else np.array([1, 2]) for r in res]
    assert len({int(x) for lab in link(from_results(res, 0.3), labels, CFG) for x in lab}) == 3
    # a walker hidden 40 frames (beyond link_max_gap 30, within link_sole_max_gap 45): linked
    res = walkers(60, people=1, speed=1.0, skip=[(0, t) for t in range(10, 50)])
    labels = split([np.zeros(len(r), np.int64) for r in res], 50, 1)
    assert len({int(x) for lab in link(from_results(res, 0.3), labels, CFG) for x in lab}) == 1
    off = TrackConfig(link_sole_max_gap=30)
    assert len({int(x) for lab in link(from_results(res, 0.3), labels, off) for x in lab}) == 2


def test_refused_when_the_tracklets_overlap_in_time_or_the_heights_differ():
    res = [frame(t, [[5 + t, 30, 35 + t, 90]]) for t in range(10)]
    res += [frame(t, [[15 + t, 10, 45 + t, 110]]) for t in range(11, 20)]  # 100 px tall instead of 60
    frames = from_results(res, 0.3)
    labels = [np.array([0 if t < 10 else 1]) for t in range(len(res))]
    assert len({int(x) for lab in link(frames, labels, CFG) for x in lab}) == 2


def test_fitted_ends_are_the_least_squares_velocity_of_the_last_and_first_rows():
    from bmp_ray.track.link import FIT_ROWS, _fit_ends

    rng = np.random.default_rng(0)
    boxes = rng.uniform(0, 100, (60, 4))
    boxes[:, 2:] += boxes[:, :2] + 10
    starts = np.arange(61)  # one detection per frame
    pieces = [(np.sort(rng.choice(60, n, replace=False)), np.zeros(n, np.int64)) for n in (1, 2, 5, 10, 14)]
    for last in (True, False):
        t, z, vel = _fit_ends(boxes, starts, pieces, last)
        for k, (ts, _) in enumerate(pieces):
            sel = ts[-FIT_ROWS:] if last else ts[:FIT_ROWS]
            zs = np.c_[(boxes[sel, :2] + boxes[sel, 2:]) / 2, boxes[sel, 2:] - boxes[sel, :2]]
            assert t[k] == sel[-1 if last else 0]
            np.testing.assert_array_equal(z[k], zs[-1 if last else 0])
            want = np.polyfit(sel, zs, 1)[0] if len(sel) > 1 else np.zeros(4)
            np.testing.assert_allclose(vel[k], want, atol=1e-9)
