"""Streaming an output folder video by video: markers, manifest-only folders, one segment in memory."""

import dataclasses

import numpy as np
import pyarrow.parquet as pq
import pytest

from bmp_ray.errors import OutputError
from bmp_ray.export import output_name, parquet, write_manifest, write_results
from bmp_ray.export.read import read_results, read_run, run_sampling
from bmp_ray.pipeline.tracks import read_video
from bmp_ray.result import FrameResult
from bmp_ray.video.sampling import Sampling
from tests.export.runs import BAD, FRAMES, IMAGE, VIDEO, tracked_copy, untracked_copy


def _person(video_id, i, track):
    m = np.zeros((1, 8, 10), bool)
    m[0, 2:5, 3:7] = True
    return FrameResult.from_dense(
        video_id,
        i,
        i / 10,
        boxes=[[3, 2, 7, 5]],
        box_scores=[0.9],
        keypoints=np.full((1, 17, 3), 0.5, np.float32),
        masks=m,
        mask_scores=[0.8],
        iterations=[1 + i % 2],
        track_ids=[track],
    )


def test_a_run_streams_every_input_with_its_manifest_row(small_run):
    videos = {v.video_id: v for v in read_results(str(small_run))}
    assert sorted(videos) == sorted([VIDEO, IMAGE, BAD])
    assert videos[BAD].row["status"] == "error" and "not" in videos[BAD].row["error"]
    assert list(videos[BAD].frames()) == []
    assert [r.frame_index for r in videos[VIDEO].frames()] == FRAMES
    assert [r.frame_index for r in videos[IMAGE].frames()] == [0]
    old = {(r.video_id, r.frame_index): r for r in parquet.read_results(str(small_run))}  # poses as committed
    for v in videos.values():
        for r in v.frames():
            assert r.equals(dataclasses.replace(old[(r.video_id, r.frame_index)], track_ids=r.track_ids))
    assert videos[VIDEO].num_keypoints == 21 and videos[BAD].num_keypoints is None


def test_only_the_videos_asked_for_in_that_order(small_run):
    assert [v.video_id for v in read_results(str(small_run), [VIDEO, IMAGE])] == [VIDEO, IMAGE]
    with pytest.raises(OutputError, match=r"holds no video 'nope.mp4'; it holds 3: "):
        list(read_results(str(small_run), ["nope.mp4"]))


def test_not_an_output_folder_is_named(tmp_path):
    with pytest.raises(OutputError, match="is not a bmp_ray output folder .*give the --out folder of a run"):
        list(read_results(str(tmp_path)))


def test_the_run_record_gives_the_sampling(small_run):
    run = read_run(str(small_run))
    assert run["record"]["sampling"]["stride"] == 2 and run["meta"]["models"]["pose"]["model"]
    assert run_sampling(run) == Sampling(stride=2, stop=5)
    assert run_sampling({"meta": {"config": {"decode": {"target_fps": 2.0, "batch_size": 4}}}}) == Sampling(
        target_fps=2.0
    )


def test_segments_are_read_one_at_a_time_in_frame_order(tmp_path, monkeypatch):
    vid = "clips/a.mp4"
    stem = output_name(vid)
    for lo in (4, 0, 2):  # written out of order
        write_results(str(tmp_path), f"{stem}-f{lo:08d}-{lo + 2:08d}", [_person(vid, lo, 7), _person(vid, lo + 1, -1)])
    write_manifest(str(tmp_path), [{"video_id": vid, "path": "/x/clips/a.mp4", "status": "ok"}])
    reads = []
    real = pq.read_table
    monkeypatch.setattr(pq, "read_table", lambda path, **kw: reads.append(path) or real(path, **kw))
    (video,) = read_results(str(tmp_path))
    reads.clear()  # the manifest
    frames = video.frames()
    first = next(frames)
    assert first.frame_index == 0 and len(reads) == 2  # one segment's frames and poses files
    rest = list(frames)
    assert [r.frame_index for r in [first, *rest]] == list(range(6)) and len(reads) == 6
    assert [int(r.track_ids[0]) for r in [first, *rest]] == [7, -1] * 3  # null track ids read as -1


def test_track_ids_are_the_tracks_files(small_run, tmp_path):
    (video,) = read_results(str(small_run), [VIDEO])
    ours = list(video.frames())
    theirs = read_video(str(small_run), VIDEO, video.segments)  # the tracking step's own reader
    assert [r.track_ids.tolist() for r in ours] == [r.track_ids.tolist() for r in theirs]
    assert any((r.track_ids >= 0).any() for r in ours)
    (plain,) = read_results(str(untracked_copy(small_run, tmp_path / "untracked")), [VIDEO])
    assert all((r.track_ids == -1).all() for r in plain.frames())


def test_track_ids_of_the_poses_table_come_through(small_run, tmp_path):
    copy = tracked_copy(small_run, tmp_path / "tracked")
    (video,) = read_results(str(copy), [VIDEO])
    ids = [r.track_ids.tolist() for r in video.frames()]
    assert ids and all(t[0] == 10 for t in ids if t)
    assert any(-1 in t for t in ids) or all(len(t) < 2 for t in ids)
