"""PoseTrack18 export: the shared file's structure, the output's track ids, the pinned keypoint mapping."""

import json
import logging

import numpy as np
import pytest

from bmp_ray import keypoints as kp
from bmp_ray.cli import main
from bmp_ray.export import output_name
from bmp_ray.export.posetrack import to_posetrack, vid_id
from bmp_ray.export.read import read_results
from tests.export.runs import FRAMES, IMAGE, VIDEO, tracked_copy, untracked_copy


@pytest.fixture(scope="module")
def shared(shared_data):
    return json.loads((shared_data / "posetrack18" / "012834_mpii_test.json").read_text())


@pytest.fixture
def exported(small_run, tmp_path, capsys):
    copy = tracked_copy(small_run, tmp_path / "tracked")
    assert main(["export", str(copy), "--format", "posetrack", "--out", str(tmp_path / "pt")]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return copy, tmp_path / "pt", summary


def _kind(v):
    return "number" if isinstance(v, (int, float)) and not isinstance(v, bool) else type(v).__name__


def _same_structure(ours: dict, theirs: dict, where: str):
    assert set(ours) == set(theirs), f"{where}: keys {sorted(set(ours) ^ set(theirs))} differ"
    for k, v in theirs.items():
        assert type(ours[k]) is type(v), f"{where}.{k}: {type(ours[k]).__name__}, shared {type(v).__name__}"
        if isinstance(v, list) and v and not isinstance(v[0], list):
            assert {_kind(x) for x in ours[k]} <= {_kind(x) for x in v}, f"{where}.{k}: element types"


def test_one_file_per_video_with_the_shared_files_structure(exported, shared):
    _, folder, summary = exported
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{output_name(v)}.json" for v in (VIDEO, IMAGE))
    data = json.loads((folder / f"{output_name(VIDEO)}.json").read_text())
    assert set(data) == set(shared) and data["categories"] == shared["categories"]
    assert len(data["images"]) == len(FRAMES) and data["annotations"]
    for im in data["images"]:
        _same_structure(im, shared["images"][0], "images[]")
    for a in data["annotations"]:
        _same_structure(a, shared["annotations"][0], "annotations[]")
        assert len(a["keypoints"]) == 51 and len(a["scores"]) == 17
        assert a["image_id"] in {i["id"] for i in data["images"]}
    im = data["images"][1]
    assert im["frame_id"] == im["id"] == int(f"1{im['vid_id']}0002") and im["file_name"].endswith("/000002.jpg")
    assert im["vid_id"] == "000001" and im["nframes"] == 5 and (im["width"], im["height"]) == (1280, 720)
    assert summary["frames"] == len(FRAMES) + 1


def _track_ids(out, folder):
    """(frame, person) -> track id: as the output holds them, and as the PoseTrack file says."""
    (video,) = read_results(str(out), [VIDEO])
    want = {(r.frame_index, j): int(t) for r in video.frames() for j, t in enumerate(r.track_ids)}
    data = json.loads((folder / f"{output_name(VIDEO)}.json").read_text())
    frame_of = {im["id"]: int(im["file_name"][-10:-4]) for im in data["images"]}
    got = {(frame_of[a["image_id"]], a["id"] - a["image_id"] * 1000): a["track_id"] for a in data["annotations"]}
    return want, got


def test_track_ids_are_the_outputs(exported, small_run, tmp_path):
    copy, folder, _ = exported  # ids in the poses table
    want, got = _track_ids(copy, folder)
    assert got == want and -1 in got.values() and 10 in got.values()
    assert main(["export", str(small_run), "--format", "posetrack", "--out", str(tmp_path / "run")]) == 0
    want, got = _track_ids(small_run, tmp_path / "run")  # ids in tracks/, as the run wrote them
    assert got == want and max(got.values()) >= 0


def test_untracked_people_are_minus_one_with_a_warning(small_run, tmp_path, caplog):
    plain = untracked_copy(small_run, tmp_path / "untracked")
    with caplog.at_level(logging.WARNING):
        assert main(["export", str(plain), "--format", "posetrack", "--out", str(tmp_path / "pt")]) == 0
    data = json.loads((tmp_path / "pt" / f"{output_name(VIDEO)}.json").read_text())
    assert {a["track_id"] for a in data["annotations"]} == {-1} and "no track id" in caplog.text


def test_the_keypoint_mapping_is_pinned(shared):
    assert kp.POSETRACK_FROM_21 == (0, 18, 19, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
    assert list(kp.POSETRACK_NAMES) == shared["categories"][0]["keypoints"]
    same = {"head_bottom": "upper_neck"}
    assert [kp.NAMES_21[i] for i in kp.POSETRACK_FROM_21] == [same.get(n, n) for n in kp.POSETRACK_NAMES]
    ours = np.zeros((21, 3), np.float32)
    ours[:, 0], ours[:, 1], ours[:, 2] = np.arange(21), 100 + np.arange(21), 0.9
    ours[4, 2] = 0.1  # right ear below the threshold
    pts, scores = to_posetrack(ours, 0.3)
    assert pts[:, 0].tolist() == [0, 18, 19, 3, 0, *range(5, 17)] and pts[1, 1] == 118
    assert pts[:, 2].tolist() == [1] * 4 + [0] + [1] * 12 and scores[4] == pytest.approx(0.1)
    pts17, _ = to_posetrack(ours[:17], 0.3)  # 17-keypoint output: no head bottom, no head top
    assert pts17[1].tolist() == pts17[2].tolist() == [0, 0, 0] and pts17[0, 2] == 1


def test_vid_id():
    assert vid_id("posetrack/012834_mpii_test.mp4") == "012834"
    assert len(vid_id("clip.mp4")) == 6 and vid_id("clip.mp4") == vid_id("clip.mp4") != vid_id("other.mp4")
