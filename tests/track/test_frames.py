import numpy as np
import pytest

from bmp_ray.track import TrackConfig
from bmp_ray.track.frames import from_results
from bmp_ray.track.online import track_pass
from tests.track.helpers import frame, walkers


def test_frames_copy_boxes_scores_and_the_confident_joints():
    kpts = np.zeros((1, 17, 3), np.float32)
    kpts[0, :, :2] = np.arange(34).reshape(17, 2)
    kpts[0, :, 2] = np.where(np.arange(17) < 5, 0.9, 0.1)
    f = from_results([frame(0, [[10, 20, 40, 80]], scores=[0.7], kpts=kpts)], 0.3)[0]
    assert f.boxes.dtype == np.float64 and f.boxes.tolist() == [[10, 20, 40, 80]]
    assert f.scores.tolist() == pytest.approx([0.7])
    assert f.keypoints.dtype == np.float64 and f.keypoints[0].tolist() == kpts[0, :, :2].tolist()
    assert f.keypoint_ok[0].tolist() == [True] * 5 + [False] * 12


def test_frames_without_poses_hold_no_keypoint_bytes_and_compare_no_joint():
    res = walkers(3, people=4)
    for f, g in zip(from_results(res, 0.3, poses=False), from_results(res, 0.3)):
        assert f.keypoints.shape == g.keypoints.shape == (4, 17, 2)
        assert f.keypoint_ok.shape == (4, 17) and not f.keypoint_ok.any() and g.keypoint_ok.all()
        assert f.keypoints.base.nbytes == 8 and not f.keypoints.flags.writeable  # one zero, viewed
        assert np.array_equal(f.boxes, g.boxes) and np.array_equal(f.scores, g.scores)


@pytest.mark.parametrize("cfg", [TrackConfig(), TrackConfig(mask_weight=1.0)], ids=["box", "mask"])
def test_poses_left_out_change_no_label_when_the_pose_cue_is_off(cfg):
    res = walkers(30, people=3, gap=25, speed=1.5, skip=[(1, t) for t in range(10, 14)])
    with_poses = track_pass(from_results(res, 0.3), cfg)
    without = track_pass(from_results(res, 0.3, poses=False), cfg)
    assert [x.tolist() for x in with_poses] == [x.tolist() for x in without]
