import dataclasses

import numpy as np
import pytest

from bmp_ray.result import FrameResult
from bmp_ray.track import TrackConfig, track, track_summary, track_video
from tests.track.helpers import frame, walkers


def ids(results):
    return [r.track_ids.tolist() for r in results]


def test_track_video_fills_ids_and_keeps_every_other_column():
    res = walkers(12)
    out = track_video(res)
    assert ids(out) == [[1, 2]] * 12
    for a, b in zip(res, out):
        assert a.equals(dataclasses.replace(b, track_ids=a.track_ids))
        assert b.track_ids.dtype == np.int64


def test_disabled_leaves_ids_at_minus_one():
    out = track(walkers(5), TrackConfig(enabled=False))
    assert ids(out.results) == [[-1, -1]] * 5 and len(out.interpolated) == 0


def test_interpolated_rows_and_summary():
    res = walkers(20, people=2, skip=[(0, t) for t in range(8, 11)])
    out = track(res)
    it = out.interpolated
    assert it.frame_index.tolist() == [8, 9, 10] and set(it.track_id.tolist()) == {1}
    assert all(len(r) == (1 if 8 <= r.frame_index <= 10 else 2) for r in out.results)  # detected rows only
    s = out.summary()
    assert s["track_id"].tolist() == [1, 2]
    assert s["first_frame"].tolist() == [0, 0] and s["last_frame"].tolist() == [19, 19]
    assert s["length"].tolist() == [20, 20] and s["interpolated"].tolist() == [3, 0]
    assert {k: v.tolist() for k, v in track_summary(out).items()} == {k: v.tolist() for k, v in s.items()}


def test_short_tracks_are_dropped():
    res = walkers(10, people=1)
    res[4] = frame(4, [[15 + 4, 30, 45 + 4, 90], [150, 10, 180, 70]])  # a one-frame false positive
    out = track_video(res, TrackConfig(min_track_rows=3))
    assert out[4].track_ids.tolist() == [1, -1]


@pytest.mark.parametrize("bidirectional", [False, True])
def test_deterministic(bidirectional):
    rng = np.random.default_rng(0)
    res = [
        frame(
            t,
            np.array([[5 + t, 30, 35 + t, 90], [60 + t, 30, 90 + t, 90], [120 - t, 20, 150 - t, 80]])
            + rng.normal(0, 1.5, (3, 4)),
        )
        for t in range(40)
    ]
    cfg = TrackConfig(bidirectional=bidirectional, mask_weight=1.0, pose_weight=1.0)
    assert ids(track_video(res, cfg)) == ids(track_video(res, cfg))


def test_windowed_tracking_stitches_ids_across_windows():
    res = walkers(130, people=3, speed=0.5)
    whole = track_video(res, TrackConfig(window_frames=0))
    windowed = track_video(res, TrackConfig(window_frames=40, window_overlap=10))
    assert ids(windowed) == ids(whole) == [[1, 2, 3]] * 130


def test_bad_input_is_refused_at_the_boundary():
    res = walkers(3)
    with pytest.raises(ValueError, match="increasing order"):
        track_video([res[1], res[0]])
    with pytest.raises(ValueError, match="expected one video"):
        track_video([res[0], dataclasses.replace(res[1], video_id="other.mp4")])
    with pytest.raises(ValueError, match="expected a FrameResult"):
        track_video([res[0], "frame"])
    with pytest.raises(ValueError, match="expected a TrackConfig"):
        track_video(res, {"enabled": True})
    assert track_video([]) == []
    assert ids(track_video([FrameResult.empty("v.mp4", 0, 0.0, 10, 10)])) == [[]]


def test_a_person_hidden_through_a_whole_overlap_keeps_the_id_across_windows():
    # windows of 40 frames overlapping by 4 (frames 36-39); person 1 is unseen in frames 33-42
    res = walkers(70, people=2, gap=80, speed=0.5, skip=[(0, t) for t in range(33, 43)])
    out = track_video(res, TrackConfig(window_frames=40, window_overlap=4, max_age=3))
    assert {i for r in out for i in r.track_ids.tolist()} == {1, 2}


def test_windows_keep_following_a_person_seen_only_with_low_scores_at_a_border():
    # person 2 is detected with a low score from frame 20 on: stage 2 keeps its track, but low scores never
    # start one, so an online pass restarted at the next window (frame 30) lost that person
    res = [
        frame(t, [[5 + t, 30, 35 + t, 90], [65 + t, 30, 95 + t, 90]], scores=[0.9, 0.9 if t < 20 else 0.3])
        for t in range(70)
    ]
    whole = track_video(res, TrackConfig(window_frames=0))
    windowed = track_video(res, TrackConfig(window_frames=40, window_overlap=10))
    assert ids(windowed) == ids(whole) == [[1, 2]] * 70


def test_a_link_near_a_window_border_is_decided_with_both_sides_in_view():
    # X walks right, hidden in frames 29-41; B walks left from frame 35 near where X was lost, X comes back
    # at frame 42 where its motion says. Windows 0-39 and 30-69: the first sees B but not X's return.
    res = []
    for t in range(70):
        boxes = [[5 + t, 30, 35 + t, 90]] if t <= 28 or t >= 42 else []
        if t >= 35:
            boxes.append([46 - (t - 35), 30, 76 - (t - 35), 90])
        res.append(frame(t, boxes))
    whole = track_video(res, TrackConfig(window_frames=0))
    windowed = track_video(res, TrackConfig(window_frames=40, window_overlap=10))
    assert ids(whole)[28] == [1] and ids(whole)[35] == [2] and ids(whole)[42] == [1, 2]
    assert ids(windowed) == ids(whole)


def _picked_up_by_another():
    """Person A walks right and is missed from frame 10; from frame 16 person B walks left from about
    where A was lost; A reappears at frame 20 where its motion says."""
    res = []
    for t in range(30):
        boxes = []
        if t < 10 or t >= 20:
            boxes.append([5 + 2 * t, 30, 35 + 2 * t, 90])
        if t >= 16:
            boxes.append([25 - (t - 16), 30, 55 - (t - 16), 90])
        res.append(frame(t, boxes))
    return res


def test_a_track_picked_up_after_a_long_gap_is_cut_and_linked_again():
    res = _picked_up_by_another()
    out = track_video(res)
    a = [r.track_ids[0] for r in out[:10] + out[20:]]  # A's row comes first where A is seen
    b = [r.track_ids[-1] for r in out[16:]]
    assert len(set(a)) == 1 and len(set(b)) == 1 and a[0] != b[0]
    # without the cut, the online pass's pickup stands: A's track goes on with B
    out = track_video(res, TrackConfig(cut_gap=0))
    assert out[9].track_ids[0] == out[16].track_ids[-1] != out[20].track_ids[0]
