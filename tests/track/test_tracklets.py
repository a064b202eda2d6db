import numpy as np
import pytest

from bmp_ray.track.tracklets import by_first_appearance, consensus, cut_gaps, relabel, tracklets


def L(*xs):
    return [np.array(x, np.int64) for x in xs]


def test_tracklets_and_relabel():
    lab = L([0, 1], [1, -1], [0])
    tl = tracklets(lab)
    assert tl[0][0].tolist() == [0, 2] and tl[0][1].tolist() == [0, 0]
    assert tl[1][0].tolist() == [0, 1]
    assert [x.tolist() for x in relabel(lab, {1: 7})] == [[-1, 7], [7, -1], [-1]]
    assert [x.tolist() for x in by_first_appearance(L([5, 3], [3]), start=1)] == [[1, 2], [2]]
    with pytest.raises(ValueError, match="occurs twice"):
        tracklets(L([2, 2]))


def test_consensus_cuts_where_the_passes_disagree():
    # forward: one track through frames 0-3; backward: it switches identity after frame 1
    fwd = L([0], [0], [0], [0])
    bwd = L([4], [4], [9], [9])
    assert [x.tolist() for x in consensus(fwd, bwd)] == [[0], [0], [1], [1]]
    # full agreement (labels named differently) keeps the tracks
    assert [x.tolist() for x in consensus(L([0, 1], [1, 0]), L([3, 8], [8, 3]))] == [[0, 1], [1, 0]]


def test_consensus_places_one_sided_detections_without_doubling_a_frame():
    fwd = L([0], [0, -1], [0])
    bwd = L([5], [-1, 5], [5])
    out = consensus(fwd, bwd)
    assert out[0][0] == out[2][0]
    assert out[1][0] == out[0][0]  # forward-only joins its track's group
    assert out[1][1] not in (out[1][0], -1)  # backward-only would double frame 1: a group of its own
    with pytest.raises(ValueError, match="two labellings of one video"):
        consensus(fwd, bwd[:2])


def test_cut_gaps_cuts_only_where_a_track_skips_more_than_the_gap():
    # label 7 seen in frames 0, 1, 4 (3 frames after 1) and 9 (5 after 4); label 3 in every frame 0-9
    lab = [np.array([3, 7] if t in (0, 1, 4, 9) else [3], np.int64) for t in range(10)]
    out = cut_gaps(lab, 3)
    assert len({int(x[0]) for x in out}) == 1  # label 3 untouched
    seven = [int(x[1]) for x in out if len(x) == 2]
    assert seven[0] == seven[1] == seven[2] != seven[3]  # 3 frames apart kept, 5 apart cut
    assert len(set(seven)) == 2 and out[0][0] != seven[3]
    assert [x.tolist() for x in cut_gaps(lab, 4)] == [x.tolist() for x in cut_gaps(lab, 3)]
    assert [x.tolist() for x in cut_gaps(lab, 5)] == [x.tolist() for x in by_first_appearance(lab)]
    assert cut_gaps(lab, 0) is lab


def test_cut_gaps_relabel_and_first_appearance_with_empty_frames():
    lab = L([], [3, -1], [], [3, 5], [], [], [], [3], [5])
    # label 3 in frames 1, 3, 7: cut after frame 3 (a gap of 4 > 2); label 5 in frames 3 and 8: cut
    assert [x.tolist() for x in cut_gaps(lab, 2)] == [[], [0, -1], [], [0, 1], [], [], [], [2], [3]]
    assert [x.tolist() for x in cut_gaps(lab, 5)] == [[], [0, -1], [], [0, 1], [], [], [], [0], [1]]
    assert [x.tolist() for x in relabel(lab, {5: 0})] == [[], [-1, -1], [], [-1, 0], [], [], [], [-1], [0]]
    assert [x.tolist() for x in by_first_appearance(lab, start=1)] == [[], [1, -1], [], [1, 2], [], [], [], [1], [2]]
    assert tracklets(L([], [])) == {} and by_first_appearance([]) == [] and cut_gaps(L([]), 1)[0].tolist() == []
    with pytest.raises(ValueError, match="occurs twice"):
        cut_gaps(L([2, 2]), 1)
