import numpy as np
import pytest

from bmp_ray.track.windows import border_cuts, stitch, window_spans


def test_spans_cover_the_video_with_the_overlap():
    assert window_spans(50, 0, 0) == [(0, 50)]
    assert window_spans(50, 100, 10) == [(0, 50)]
    assert window_spans(250, 100, 10) == [(0, 100), (90, 190), (180, 250)]
    assert window_spans(195, 100, 10) == [(0, 195)] or window_spans(195, 100, 10)[-1][1] == 195
    spans = window_spans(1000, 100, 20)
    assert spans[0][0] == 0 and spans[-1][1] == 1000
    assert all(b[0] == a[1] - 20 for a, b in zip(spans, spans[1:]))
    with pytest.raises(ValueError, match="overlap < size / 2"):
        window_spans(100, 10, 5)


def test_stitch_votes_one_to_one():
    earlier = [np.array([3, 7, -1]), np.array([3, 7]), np.array([3, 7])]
    later = [np.array([0, 1, 2]), np.array([1, 0]), np.array([0, 1])]
    # label 0 shares 2 of 3 detections with 3, label 1 2 of 3 with 7; label 2 has nothing to vote with
    assert stitch(earlier, later) == {0: 3, 1: 7}
    assert stitch([np.array([3])], [np.array([0])]) == {}  # one vote is not enough
    with pytest.raises(ValueError, match="same overlap frames"):
        stitch(earlier, later[:2])


def test_border_cuts_undo_the_joins_near_an_overlap_only():
    spans = [(0, 10), (6, 16)]  # overlap: frames 6-9
    # track 5 (first detection) joins piece 0 to piece 1 between frames 7 and 8, in the overlap; track 9
    # (second detection, unseen in frames 4-5) joins piece 2 to piece 3 between frames 2 and 3
    labels = [np.array([5, 9 if t not in (4, 5) else -1]) for t in range(16)]
    pieces = [np.array([0 if t < 8 else 1, -1 if t in (4, 5) else 2 if t < 3 else 3]) for t in range(16)]
    near = border_cuts(labels, pieces, spans, margin=0)
    assert [x.tolist() for x in near] == [[0, 1]] * 4 + [[0, -1]] * 2 + [[0, 1]] * 2 + [[2, 1]] * 8
    wide = border_cuts(labels, pieces, spans, margin=4)  # frames 2-13 count as near the overlap
    assert [x.tolist() for x in wide] == [[0, 1]] * 3 + [[0, 2]] + [[0, -1]] * 2 + [[0, 2]] * 2 + [[3, 2]] * 8
    one = border_cuts(labels, pieces, spans[:1], margin=30)  # one window: no border, nothing cut
    assert [x.tolist() for x in one] == [[0, 1]] * 4 + [[0, -1]] * 2 + [[0, 1]] * 10
    assert border_cuts([], [], [(0, 0)], 5) == []
    with pytest.raises(ValueError, match="same frames and detections"):
        border_cuts(labels, pieces[:3], spans, 0)
