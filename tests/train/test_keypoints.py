"""The three datasets' own formats, written by the tests, read into the 21-keypoint space."""

import json

import cv2
import numpy as np
import pytest

from bmp_ray.errors import DatasetError
from bmp_ray.train import keypoints as kp


def _image(folder, name):
    folder.mkdir(exist_ok=True)
    cv2.imwrite(str(folder / name), np.zeros((40, 60, 3), np.uint8))


def test_coco_people_keep_keypoints_masks_and_skip_the_unlabelled(coco_dir):
    people = kp.load_source("coco", coco_dir / "test_coco.json", coco_dir)
    data = json.loads((coco_dir / "test_coco.json").read_text())
    labelled = [a for a in data["annotations"] if max(a["keypoints"][2::3]) > 0]
    assert len(people) == len(labelled) == 12  # 14 people, two without keypoints
    a, p = labelled[0], next(p for p in people if p.image_id == labelled[0]["image_id"])
    xyv = np.array(a["keypoints"], np.float32).reshape(17, 3)
    assert np.array_equal(p.visible[:17], (xyv[:, 2] > 0).astype(np.float32))
    assert np.array_equal(p.keypoints[:17][p.visible[:17] > 0], xyv[xyv[:, 2] > 0, :2])
    assert not p.visible[17:].any() and p.segmentation is not None


def test_mpii_own_json_maps_into_21(tmp_path):
    joints = [[100 + 10 * i, 200 + i] for i in range(16)]
    vis = [1] * 16
    vis[9] = 0  # head top not labelled
    (tmp_path / "mpii.json").write_text(
        json.dumps(
            [{"image": "000001.jpg", "center": [301.0, 401.0], "scale": 1.5, "joints": joints, "joints_vis": vis}]
        )
    )
    _image(tmp_path / "img", "000001.jpg")
    (p,) = kp.load_source("mpii", tmp_path / "mpii.json", tmp_path / "img")
    want = {0: 16, 1: 14, 2: 12, 3: 11, 4: 13, 5: 15, 6: 20, 7: 17, 8: 18, 10: 10, 11: 8, 12: 6, 13: 5, 14: 7, 15: 9}
    for src, dst in want.items():
        assert p.visible[dst] == 1 and tuple(p.keypoints[dst]) == tuple(joints[src]), (src, dst)
    assert p.visible.sum() == 15 and p.visible[kp.HEAD_TOP] == 0
    assert not p.visible[:5].any()  # MPII has no face keypoints
    # mmpose's MpiiDataset: scale x 200, center 15 px per 200 px lower, then 1-based -> 0-based
    cx, cy, s = 300.0, 400.0 + 15 * 1.5, 300.0
    assert np.allclose(p.box, [cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2])
    assert p.image_id == 1 and p.segmentation is None


def test_aic_own_json_maps_into_21(tmp_path):
    pts = [[10 + i, 20 + 2 * i, 1] for i in range(14)]
    pts[5][2] = 2  # occluded: labelled
    pts[7][2] = 3  # not labelled
    (tmp_path / "aic.json").write_text(
        json.dumps(
            [
                {
                    "image_id": "abc",
                    "url": "http://x",
                    "keypoint_annotations": {"human1": sum(pts, []), "human2": [0, 0, 3] * 14},
                    "human_annotations": {"human1": [5, 6, 50, 60], "human2": [1, 1, 2, 2]},
                }
            ]
        )
    )
    _image(tmp_path / "img", "abc.jpg")
    (p,) = kp.load_source("aic", tmp_path / "aic.json", tmp_path / "img")  # human2 has no labelled keypoint
    want = {0: 6, 1: 8, 2: 10, 3: 5, 4: 7, 5: 9, 6: 12, 8: 16, 9: 11, 10: 13, 11: 15, 12: 19, 13: 18}
    for src, dst in want.items():
        assert p.visible[dst] == 1 and tuple(p.keypoints[dst]) == tuple(pts[src][:2]), (src, dst)
    assert p.visible.sum() == 13 and p.visible[14] == 0  # AIC 7 (right knee) unlabelled
    assert np.array_equal(p.box, [5, 6, 50, 60]) and p.image.endswith("abc.jpg")


def test_mappings_are_one_to_one_into_the_21_names():
    for source, mapping in kp.MAPPINGS.items():
        assert len(set(mapping.values())) == len(mapping) == kp.SOURCE_KEYPOINTS[source]
        assert all(0 <= d < kp.NUM_KEYPOINTS for d in mapping.values())


@pytest.mark.parametrize(
    "fmt, content, message",
    [
        ("mpii", "{}", "expected a list of {image, center"),
        (
            "mpii",
            '[{"image": "a.jpg", "center": [1, 2], "scale": 1, "joints": [[0, 0]], "joints_vis": [1]}]',
            "entry 0: expected image, center",
        ),
        (
            "aic",
            '[{"image_id": "a", "keypoint_annotations": {"human1": [1, 2, 1]}, "human_annotations": {}}]',
            "entry 0 (a) human1: expected 42 keypoint values",
        ),
        ("coco", "not json", "not valid JSON"),
    ],
)
def test_malformed_files_name_file_and_entry(tmp_path, fmt, content, message):
    (tmp_path / "ann.json").write_text(content)
    with pytest.raises(DatasetError) as exc:
        kp.load_source(fmt, tmp_path / "ann.json", tmp_path)
    assert str(tmp_path / "ann.json") in str(exc.value) and message in str(exc.value)


def test_missing_file_and_images_are_named(tmp_path, coco_dir):
    with pytest.raises(DatasetError, match="not found; check data.train"):
        kp.load_source("coco", tmp_path / "nope.json", tmp_path)
    with pytest.raises(DatasetError, match=r"4 image\(s\) not found under .*check data.train\[\].img_dir"):
        kp.load_source("coco", coco_dir / "test_coco.json", tmp_path)
