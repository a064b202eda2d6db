"""Track ids in the output folder: written by each video's finalize, kept by a resume, reproduced and
changed by ``bmp-ray track`` (random test weights make people that jump around: this checks the
plumbing, not the tracking quality, which ``tests/track`` and ``bmp-ray bench track`` measure)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bmp_ray.export.parquet import output_name
from bmp_ray.pipeline.tracks import read_video, tracks_table
from bmp_ray.result import FrameResult
from bmp_ray.track import Interpolated, TrackOutput
from tests.pipeline.conftest import TEST_SETTINGS

BMP_RAY = str(Path(sys.executable).parent / "bmp-ray")
VIDEO = "mmpose_demo.mp4"


def person_frame(index, boxes, ids):
    n = len(boxes)
    k = np.zeros((n, 17, 3), np.float32)
    k[:, :, :2] = np.asarray(boxes, np.float32)[:, None, :2]
    return FrameResult.from_rle(
        "v.mp4",
        index,
        index / 10,
        100,
        100,
        boxes=np.asarray(boxes, np.float32),
        box_scores=np.full(n, 0.9),
        keypoints=k,
        pose_scores=np.full(n, 0.5),
        masks=np.array([b"0"] * n, object),
        mask_scores=np.full(n, 0.9),
        iterations=np.ones(n, np.int8),
        track_ids=np.asarray(ids, np.int64),
    )


def test_tracks_table_holds_detected_rows_with_their_person_index_then_interpolated_rows():
    results = [
        person_frame(0, [[0, 0, 10, 10], [50, 50, 60, 60]], [2, 1]),
        person_frame(2, [[4, 4, 14, 14], [70, 70, 80, 80]], [2, -1]),
    ]
    inter = Interpolated(
        np.array([1]), np.array([2]), np.array([[2, 2, 12, 12]], np.float32), np.zeros((1, 17, 3), np.float32)
    )
    t = tracks_table(TrackOutput(results, inter), "v.mp4", 17, None).to_pandas()
    assert t[["frame_index", "track_id", "interpolated"]].values.tolist() == [
        [0, 1, False],
        [0, 2, False],
        [1, 2, True],
        [2, 2, False],
    ]  # by frame, then id; -1 is not a row
    assert t.person_index.tolist()[:2] == [1, 0] and pd.isna(t.person_index[2]) and t.person_index[3] == 0
    assert t.bbox_xyxy[3].tolist() == [4, 4, 14, 14]  # a detected row's box exactly
    assert t.bbox_xyxy[2].tolist() == [2, 2, 12, 12]


def bmp_ray(*args):
    p = subprocess.run([BMP_RAY, *map(str, args)], capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def run_once(inputs, out, weights, *extra):
    settings = [a for s in TEST_SETTINGS if not s.startswith("decode.stop") for a in ("--set", s)]
    return bmp_ray(
        "run",
        inputs,
        "--out",
        out,
        "--weights",
        weights,
        "--no-ray",
        *settings,
        "--set",
        "decode.stop=8",
        "--set",
        "decode.segment_frames=4",
        *extra,
    )


def ids_of(out: Path) -> pd.DataFrame:
    t = pd.read_parquet(out / "tracks" / f"{output_name(VIDEO)}.parquet")
    return t.sort_values(["frame_index", "track_id"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, shared_data, test_weights):
    src = tmp_path_factory.mktemp("track-in")
    (src / VIDEO).symlink_to(shared_data / "videos" / VIDEO)
    out = tmp_path_factory.mktemp("track-out")
    code, _, err = run_once(src, out, test_weights)
    assert code == 0, err[-3000:]
    return src, out, test_weights


def test_finalize_writes_ids_that_join_the_poses_and_a_summary(tracked):
    _, out, _ = tracked
    t = ids_of(out)
    poses = pd.read_parquet(out / "poses")
    assert len(t) and (t.track_id >= 1).all()
    det = t[~t.interpolated]
    keys = set(zip(poses.frame_index, poses.person_index))
    assert set(zip(det.frame_index, det.person_index.astype(int))) <= keys
    assert poses.track_id.isna().all()  # committed poses files are never rewritten: ids live in tracks/
    summary = pd.read_parquet(out / "track_summary")
    assert sorted(summary.track_id) == sorted(t.track_id.unique())
    marker = json.loads((out / "_videos" / f"{output_name(VIDEO)}.json").read_text())
    assert marker["tracks"]["tracks"] == len(summary) and marker["tracks"]["rows"] == len(t)
    m = json.loads((out / "_videos" / f"{output_name(VIDEO)}.json").read_text())["segments"]
    results = read_video(str(out), VIDEO, m)
    got = sorted((r.frame_index, i, int(tid)) for r in results for i, tid in enumerate(r.track_ids) if tid >= 0)
    assert got == sorted(zip(det.frame_index, det.person_index.astype(int), det.track_id))


def test_the_tracker_reads_no_masks_unless_its_mask_cue_is_on(tracked):
    from bmp_ray.pipeline.tracks import committed_results
    from bmp_ray.track import TrackConfig, track

    _, out, _ = tracked
    names = json.loads((out / "_videos" / f"{output_name(VIDEO)}.json").read_text())["segments"]
    full = committed_results(str(out), names)
    light = committed_results(str(out), names, masks=False)
    assert sum(len(r) for r in light) == sum(len(r) for r in full) > 0
    assert all(c == b"" for r in light for c in (*r.masks, *r.det_masks))
    assert any(len(c) for r in full for c in r.masks)
    for a, b in zip(full, light):  # everything but the masks is the same
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
    cfg = TrackConfig()
    assert cfg.mask_weight == 0  # the default reads no masks, and tracks the same without them
    ids = [r.track_ids.tolist() for r in track(full, cfg).results]
    assert [r.track_ids.tolist() for r in track(light, cfg).results] == ids


def test_a_resume_that_redoes_a_segment_keeps_the_ids(tracked, tmp_path):
    src, out, weights = tracked
    before = ids_of(out)
    import shutil

    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    first = sorted((copy / "frames").glob("*.parquet"))[0]
    first.unlink()  # as if the run had died before this segment committed
    (copy / "_videos" / f"{output_name(VIDEO)}.json").unlink()
    code, stdout, err = run_once(src, copy, weights)
    assert code == 0 and json.loads(stdout)["segments"] == 1, err[-3000:]
    pd.testing.assert_frame_equal(ids_of(copy), before)


def test_bmp_ray_track_reproduces_then_changes_the_ids(tracked, tmp_path):
    src, out, weights = tracked
    import shutil

    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    before = ids_of(copy)
    run_file = json.loads((copy / "_run.json").read_text())
    code, stdout, err = bmp_ray("track", copy)
    assert code == 0, err[-3000:]
    assert json.loads(stdout)["fingerprint"] == run_file["fingerprint"]
    pd.testing.assert_frame_equal(ids_of(copy), before)

    code, stdout, err = bmp_ray(
        "track", copy, "--set", "track.interpolate_max_gap=0", "--set", "track.min_track_rows=1"
    )
    assert code == 0, err[-3000:]
    after = ids_of(copy)
    assert not after.interpolated.any()
    new = json.loads((copy / "_run.json").read_text())
    assert new["track"]["interpolate_max_gap"] == 0 and new["fingerprint"] != run_file["fingerprint"]
    marker = json.loads((copy / "_videos" / f"{output_name(VIDEO)}.json").read_text())
    assert marker["fingerprint"] == new["fingerprint"]
    # a run with the old tracker settings is refused, and told how to change them
    code, _, err = run_once(src, copy, weights)
    assert code == 2 and "bmp-ray track OUT" in err
    # with the folder's settings it has nothing to do
    code, stdout, err = run_once(
        src, copy, weights, "--set", "track.interpolate_max_gap=0", "--set", "track.min_track_rows=1"
    )
    assert code == 0 and json.loads(stdout)["segments"] == 0, err[-3000:]
    pd.testing.assert_frame_equal(ids_of(copy), after)


def test_bmp_ray_track_refuses_other_sections_and_unknown_folders(tracked, tmp_path):
    _, out, _ = tracked
    code, _, err = bmp_ray("track", out, "--set", "bmp.iterations=1")
    assert code == 2 and "changes only [track] settings" in err
    code, _, err = bmp_ray("track", out, "--set", "track.max_age=-1")
    assert code == 2 and "track.max_age" in err
    code, _, err = bmp_ray("track", tmp_path)
    assert code == 2 and "not an output folder" in err
    code, _, err = bmp_ray("track", out, "--video", "nope.mp4")
    assert code == 2 and "no finalized video 'nope.mp4'" in err
