"""The one keypoint table agrees with the model's dataset info and with PoseTrack18's own file."""

import json
from pathlib import Path

import pytest

import bmp_ray
from bmp_ray import keypoints as kp
from bmp_ray.train import keypoints as train_kp


def _dataset_info() -> dict:
    scope: dict = {}
    exec((Path(bmp_ray.__file__).parent / "models" / "configs" / "bmp_21kpt.py").read_text(), scope)
    return scope["dataset_info"]


def test_names_and_skeleton_are_the_models_dataset_info():
    info = _dataset_info()
    assert [info["keypoint_info"][i]["name"] for i in range(21)] == list(kp.NAMES_21)
    links = [info["skeleton_info"][i]["link"] for i in range(len(info["skeleton_info"]))]
    assert [(kp.NAMES_21[a], kp.NAMES_21[b]) for a, b in kp.SKELETON_21] == links


def test_layouts():
    assert kp.names(17) == kp.NAMES_21[:17] == kp.COCO_NAMES and len(kp.SKELETON_17) == 17
    assert kp.skeleton(21) == kp.SKELETON_21 and all(a < 17 and b < 17 for a, b in kp.skeleton(17))
    with pytest.raises(ValueError, match="expected 17 or 21 keypoints, got 133"):
        kp.names(133)
    assert kp.one_based([(0, 1)]) == [[1, 2]]


def test_training_uses_the_table():
    assert train_kp.NUM_KEYPOINTS == len(kp.NAMES_21)
    assert (train_kp.THORAX, train_kp.UPPER_NECK, train_kp.HEAD_TOP, train_kp.PELVIS) == (17, 18, 19, 20)


def test_posetrack_names_and_skeleton_are_the_shared_files(shared_data):
    cat = json.loads((shared_data / "posetrack18" / "012834_mpii_test.json").read_text())["categories"][0]
    assert list(kp.POSETRACK_NAMES) == cat["keypoints"]
    assert kp.one_based(kp.POSETRACK_SKELETON) == cat["skeleton"]


def test_pose_score_is_the_mean_of_the_17_coco_keypoint_scores():
    import numpy as np

    k = np.zeros((2, 21, 3), np.float32)
    k[0, :17, 2] = 0.5
    k[0, 17:, 2] = 1.0  # the 4 extra keypoints do not count
    k[1, :17, 2] = np.arange(17) / 16
    np.testing.assert_allclose(kp.pose_score(k), [0.5, 0.5])
    assert kp.pose_score(k[0]) == pytest.approx(0.5) and isinstance(kp.pose_score(k[0]), float)
    with pytest.raises(ValueError, match=r"expected \(K >= 17, 3\)"):
        kp.pose_score(np.zeros((2, 5, 3)))
