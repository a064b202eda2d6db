import numpy as np
import pytest

from bmp_ray.track.windows import stitch, window_spans


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
