"""Planning: segments named by frame range, what an earlier run committed, parallel probing."""

import pytest

from bmp_ray.export import output_name
from bmp_ray.pipeline import config as C
from bmp_ray.pipeline import outdir
from bmp_ray.pipeline import plan as P


@pytest.fixture
def two_videos(shared_data):
    return [
        str(shared_data / "videos" / "mmpose_demo.mp4"),
        str(shared_data / "videos" / "posetrack18_000001_mpiinew_test.mp4"),
    ]


def test_videos_are_cut_into_named_segments_and_committed_ones_are_skipped(two_videos):
    cfg = C.load(overrides=["decode.segment_frames=2"])
    plan = P.make_plan(two_videos, cfg)
    stem = output_name("mmpose_demo.mp4")
    assert plan.videos["mmpose_demo.mp4"] == [
        f"{stem}-f00000000-00000002",
        f"{stem}-f00000002-00000004",
        f"{stem}-f00000004-00000005",
    ]
    assert [i.name for i in plan.items][:3] == plan.videos["mmpose_demo.mp4"] and plan.skipped == 0
    again = P.make_plan(two_videos, cfg, committed={f"{stem}-f00000002-00000004"})
    assert again.skipped == 1 and len(again.items) == len(plan.items) - 1


def test_a_finished_video_is_not_probed_again(two_videos, monkeypatch):
    cfg = C.load(overrides=["decode.segment_frames=2"])
    first = P.make_plan(two_videos, cfg)
    names = first.videos["mmpose_demo.mp4"]
    marker = {"row": {"video_id": "mmpose_demo.mp4", "status": "ok"}, "segments": names, "fingerprint": "f"}
    probed = []
    real = P.probe
    monkeypatch.setattr(P, "probe", lambda uri, **kw: probed.append(uri) or real(uri, **kw))
    plan = P.make_plan(two_videos, cfg, committed=set(names), markers={"mmpose_demo.mp4": marker}, fingerprint="f")
    assert [p.rsplit("/", 1)[-1] for p in probed] == ["posetrack18_000001_mpiinew_test.mp4"]
    assert plan.skipped == 3 and "mmpose_demo.mp4" not in plan.videos
    other = P.make_plan(two_videos, cfg, committed=set(names), markers={"mmpose_demo.mp4": marker}, fingerprint="g")
    assert "mmpose_demo.mp4" in other.videos  # a marker of another fingerprint proves nothing


def test_a_failed_probe_is_an_item_with_its_error(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    plan = P.make_plan([str(bad)], C.load())
    (item,) = plan.items
    assert item.error and "broken.mp4" in item.error and item.name.endswith("-f00000000-end")


def test_the_fingerprint_includes_the_segment_length():
    models = {r: {"model": r, "sha256": "0"} for r in ("detector", "pose", "sam")}
    a = P.run_metadata(C.load(overrides=["decode.segment_frames=30"]), models)["fingerprint"]
    b = P.run_metadata(C.load(overrides=["decode.segment_frames=20"]), models)["fingerprint"]
    c = P.run_metadata(C.load(overrides=["decode.segment_frames=30", "sam.batch_size=9"]), models)["fingerprint"]
    assert a != b and a == c


def test_the_working_resolution_and_transports_are_fingerprinted_only_when_set():
    """Folders written at full resolution keep their fingerprint; another ``decode.max_side`` is refused."""
    models = {r: {"model": r, "sha256": "0"} for r in ("detector", "pose", "sam")}
    full = P.run_record(C.load(), models)
    assert set(full) == {"bmp", "sampling", "segment_frames", "track", "models"}  # as before max_side existed
    small = P.run_record(C.load(overrides=["decode.max_side=960"]), models)
    assert small["max_side"] == 960 and P.fingerprint_of(small) != P.fingerprint_of(full)
    assert "max_side" in outdir.DECISIVE
    half = P.run_record(C.load(overrides=["models.sam_transport=fp16"]), models)
    assert half["sam_transport"] == "fp16" and P.fingerprint_of(half) != P.fingerprint_of(full)
    assert "sam_transport" in outdir.DECISIVE
    i420 = P.run_record(C.load(overrides=["decode.frame_transport=i420"]), models)
    assert i420["frame_transport"] == "i420" and P.fingerprint_of(i420) != P.fingerprint_of(full)
    assert "frame_transport" in outdir.DECISIVE
