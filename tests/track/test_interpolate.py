import numpy as np

from bmp_ray.track.interpolate import interpolate
from tests.track.helpers import walkers


def test_gaps_get_marked_rows_on_straight_lines_and_detected_rows_stay():
    res = walkers(10, people=1, speed=3.0, skip=[(0, 4), (0, 5), (0, 6)])
    ids = [np.ones(len(r), np.int64) for r in res]
    it = interpolate(res, ids, max_gap=5)
    assert it.frame_index.tolist() == [4, 5, 6] and it.track_id.tolist() == [1, 1, 1]
    np.testing.assert_allclose(it.boxes[:, 0], [5 + 12, 5 + 15, 5 + 18])
    assert it.keypoints.shape == (3, 17, 3)
    np.testing.assert_allclose(it.keypoints[1, 0, :2], (res[3].keypoints[0, 0, :2] + res[7].keypoints[0, 0, :2]) / 2)
    assert interpolate(res, ids, max_gap=2).frame_index.tolist() == []  # a gap longer than max_gap stays open
    assert len(interpolate(res, ids, max_gap=0)) == 0
    assert len(interpolate(res, [np.full(len(r), -1, np.int64) for r in res], max_gap=5)) == 0
