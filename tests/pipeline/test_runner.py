"""The single-process path end to end: error rows, resume, refusal to mix configs, partial outputs."""

import os

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from bmp_ray.errors import OutputError
from bmp_ray.export import output_name, read_results
from bmp_ray.pipeline import config as C
from bmp_ray.pipeline.runner import run

GOOD = {"mmpose_demo.mp4": 2, "posetrack18_000001_mpiinew_test.mp4": 2, "street.jpg": 1}
BAD = ("bad_corrupt.mp4", "bad_empty.mp4", "bad_text.mp4")


@pytest.fixture(scope="module")
def local_out(local_reference):
    return local_reference


def test_manifest_has_one_row_per_input(local_out):
    out, summary = local_out
    m = pd.read_parquet(out / "videos.parquet").set_index("video_id")
    assert sorted(m.index) == sorted([*GOOD, *BAD])
    for vid, n in GOOD.items():
        assert m.loc[vid, "status"] == "ok" and pd.isna(m.loc[vid, "error"])
        assert m.loc[vid, "frames_decoded"] == m.loc[vid, "frames_written"] == n
    for vid in BAD:
        assert m.loc[vid, "status"] == "error" and vid in m.loc[vid, "error"]
        assert m.loc[vid, "frames_written"] == 0
    assert "empty" in m.loc["bad_empty.mp4", "error"]
    assert (summary.ok, summary.failed, summary.frames, summary.skipped) == (3, 3, 5, 0)


def test_poses_read_in_pandas_and_duckdb(local_out):
    out, summary = local_out
    poses = pd.read_parquet(out / "poses")
    assert len(poses) == summary.people > 0
    assert not poses.duplicated(["video_id", "frame_index", "person_index"]).any()
    n = duckdb.sql(f"select count(*) from read_parquet('{out}/poses/*.parquet')").fetchall()[0][0]
    assert n == len(poses)
    per_frame = duckdb.sql(
        f"select video_id, frame_index, num_people from read_parquet('{out}/frames/*.parquet') "
        "order by video_id, frame_index"
    ).fetchall()
    assert [(v, f) for v, f, _ in per_frame] == sorted((v, f) for v, n in GOOD.items() for f in range(n))
    md = pq.read_schema(next((out / "poses").glob("*.parquet"))).metadata
    assert b"bmp_ray.run" in md and b"bmp_ray.fingerprint" in md and b"sha256" in md[b"bmp_ray.run"]


def test_rerun_skips_complete_items_and_retries_failed(local_out, mixed_inputs, small_config):
    out, first = local_out
    files = sorted((out / "poses").glob("*.parquet")) + sorted((out / "frames").glob("*.parquet"))
    stamps = [f.stat().st_mtime_ns for f in files]
    again = run([str(mixed_inputs)], str(out), small_config, use_ray=False)
    assert again.skipped == 3 and again.frames == 0 and (again.ok, again.failed) == (3, 3)
    assert [f.stat().st_mtime_ns for f in files] == stamps
    m = pd.read_parquet(out / "videos.parquet")
    assert m.set_index("video_id").loc["mmpose_demo.mp4", "frames_written"] == 2


def test_other_settings_into_the_same_folder_are_refused(local_out, mixed_inputs, small_config):
    out, _ = local_out
    other = C.RunConfig.from_dict({**small_config.to_dict(), "bmp": {"iterations": 1}})
    with pytest.raises(OutputError, match="bmp: folder .*iterations.: 2.*this run .*iterations.: 1.*new --out folder"):
        run([str(mixed_inputs)], str(out), other, use_ray=False)
    resources = C.RunConfig.from_dict({**small_config.to_dict(), "sam": {"batch_size": 7, "threads": 1}})
    assert run([str(mixed_inputs)], str(out), resources, use_ray=False).skipped == 3  # resources don't count


def test_a_partial_output_is_not_taken_for_a_complete_one(tmp_path, shared_data, small_config):
    video = shared_data / "videos" / "mmpose_demo.mp4"
    name = output_name("mmpose_demo.mp4") + "-f00000000-00000005"
    (tmp_path / "poses").mkdir()
    (tmp_path / "poses" / f"{name}.parquet").write_bytes(b"left by a crash")  # poses without frames
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / f".{name}.parquet.tmp-123").write_bytes(b"half a file")
    s = run([str(video)], str(tmp_path), small_config, use_ray=False)
    assert (s.skipped, s.frames) == (0, 2)
    assert len(read_results(str(tmp_path), name)) == 2
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [f"{name}.parquet"]  # temp file cleaned


def test_segments_are_files_of_their_own_and_one_manifest_row(tmp_path, shared_data, small_config):
    cfg = C.load(
        overrides=["decode.segment_frames=1", "decode.stop=3"],
        **{k: v for k, v in _flat(small_config).items() if not k.startswith("decode.")},
    )
    s = run([str(shared_data / "videos" / "mmpose_demo.mp4")], str(tmp_path), cfg, use_ray=False)
    assert s.frames == 3
    assert sorted(p.name[-len("-f00000000-00000001.parquet") :] for p in (tmp_path / "frames").glob("*.parquet")) == [
        f"-f0000000{i}-0000000{i + 1}.parquet" for i in range(3)
    ]
    m = pd.read_parquet(tmp_path / "videos.parquet")
    assert len(m) == 1 and m.frames_written[0] == 3 and m.num_frames[0] == 5


def test_a_rerun_with_another_segment_length_is_refused_and_loses_nothing(tmp_path, shared_data, small_config):
    """Seen before segments were fingerprinted: 30 then 20 frames duplicated rows, 20 then 30 lost them."""
    video = [str(shared_data / "videos" / "mmpose_demo.mp4")]
    settings = {k: v for k, v in _flat(small_config).items() if not k.startswith("decode.")}
    three = C.load(overrides=["decode.segment_frames=3"], **settings)
    two = C.load(overrides=["decode.segment_frames=2"], **settings)
    first = run(video, str(tmp_path), three, use_ray=False)
    before = sorted(p.name for p in (tmp_path / "frames").iterdir())
    with pytest.raises(OutputError, match="segment_frames: folder 3, this run 2.*new --out folder"):
        run(video, str(tmp_path), two, use_ray=False)
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == before
    frames = pd.read_parquet(tmp_path / "frames")
    assert len(frames) == first.frames == 5 and not frames.duplicated(["video_id", "frame_index"]).any()
    assert not (tmp_path / "_lock.json").exists()  # a refused run leaves the lock as it found it


def test_runs_with_other_inputs_share_one_manifest(tmp_path, mixed_inputs, small_config):
    run([str(mixed_inputs / "street.jpg")], str(tmp_path), small_config, use_ray=False)
    s = run(
        [str(mixed_inputs / "mmpose_demo.mp4"), str(mixed_inputs / "bad_text.mp4")],
        str(tmp_path),
        small_config,
        use_ray=False,
    )
    assert (s.inputs, s.ok, s.failed) == (2, 1, 1)  # this run's inputs
    m = pd.read_parquet(tmp_path / "videos.parquet").set_index("video_id")
    assert sorted(m.index) == ["bad_text.mp4", "mmpose_demo.mp4", "street.jpg"]
    assert m.loc["street.jpg", "frames_written"] == 1 and m.loc["mmpose_demo.mp4", "frames_written"] == 2


def test_a_second_run_into_a_folder_in_use_is_refused(tmp_path, mixed_inputs, small_config):
    from bmp_ray.pipeline.outdir import OutputFolder

    holder = OutputFolder(str(tmp_path))
    holder.acquire()
    try:
        with pytest.raises(OutputError, match=f"in use by run {holder.run_id} on .*pid {os.getpid()}"):
            run([str(mixed_inputs / "street.jpg")], str(tmp_path), small_config, use_ray=False)
    finally:
        holder.release()
    assert run([str(mixed_inputs / "street.jpg")], str(tmp_path), small_config, use_ray=False).ok == 1


def _flat(cfg):
    return {f"{section}.{k}": v for section, d in cfg.to_dict().items() for k, v in d.items()}


def test_missing_weights_stop_before_any_work(tmp_path, shared_data):
    cfg = C.load(overrides=["models.preset=test", f"models.weights={tmp_path / 'nowhere'}"])
    with pytest.raises(Exception, match="nowhere"):
        run([str(shared_data / "videos" / "mmpose_demo.mp4")], str(tmp_path / "out"), cfg, use_ray=False)
    assert not os.path.exists(tmp_path / "out" / "poses")


def test_a_run_into_an_object_store_has_the_same_layout(mixed_inputs, small_config):
    """``memory://`` stands in for s3:// and gs://: no rename, one write per file, the same guarantees."""
    import fsspec

    out = "memory://bmp-runner/out"
    s = run([str(mixed_inputs / "street.jpg"), str(mixed_inputs / "bad_text.mp4")], out, small_config, use_ray=False)
    assert (s.ok, s.failed, s.frames) == (1, 1, 1)
    fs = fsspec.filesystem("memory")
    files = sorted(p.split("/out/", 1)[1] for p in fs.find("/bmp-runner/out"))
    stem = output_name("street.jpg") + "-f00000000-00000001"
    markers = [f"_videos/{output_name(v)}.json" for v in ("bad_text.mp4", "street.jpg")]
    tracks = [f"{d}/{output_name('street.jpg')}.parquet" for d in ("track_summary", "tracks")]
    assert files == [
        "_run.json",
        *markers,
        f"frames/{stem}.parquet",
        f"poses/{stem}.parquet",
        *tracks,
        "videos.parquet",
    ]  # a failed input (bad_text.mp4) has no tracks files
    assert len(read_results(out)) == 1
    assert run([str(mixed_inputs / "street.jpg")], out, small_config, use_ray=False).skipped == 1
