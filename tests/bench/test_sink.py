import argparse
import json

import numpy as np
import pytest

from bmp_ray.bench import sink
from bmp_ray.export.parquet import read_results
from bmp_ray.pipeline.parts import END


def test_synthetic_rows_are_each_items_frames_then_its_end_row():
    items = sink.work_items(7, 3)  # segments of 3, 3 and 1 frames
    assert [(start, stop) for _, start, stop, _ in items] == [(0, 3), (3, 6), (6, 7)]
    assert items[0][0].endswith("-f00000000-00000003") and items[2][0].endswith("-f00000006-00000007")
    out = list(
        sink.result_rows({"lo": np.array([0]), "hi": np.array([10])}, items=items, n_frames=7, people=2, batch_rows=4)
    )
    assert [len(b["name"]) for b in out] == [4, 4, 2]
    ks = np.concatenate([b["frame_index"] for b in out]).tolist()
    assert ks == [0, 1, 2, END, 3, 4, 5, END, 6, END]
    ends = [json.loads(s) for b in out for s, k in zip(b["summary"], b["frame_index"]) if k == END]
    assert [e["frames_decoded"] for e in ends] == [3, 3, 1] and {e["status"] for e in ends} == {"ok"}
    assert {"status", "frames_decoded", "started", "video_id", "name", "segment", "segments"} <= set(ends[0])
    r = sink.synthetic_result(5, 10)
    assert len(r) == 10 and r.num_keypoints == 21 and (r.height, r.width) == (1080, 1920)
    assert r.mask_array().sum(axis=(1, 2)).min() > 1000  # real masks, not empty RLE strings


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("sink")
    p = argparse.ArgumentParser()
    sink.add_arguments(p)
    args = p.parse_args(
        ["--frames", "60", "200", "--people", "3", "--segment-frames", "50", "--no-floor", "--out", str(out)]
    )
    args.json = True
    return out, sink.run(args)


def test_bench_sink_reports_both_paths_and_the_ratios(tiny):
    _, result = tiny
    assert result["benchmark"] == "sink" and result["frames"] == [60, 200]
    assert result["ratio_driver_cpu"] > 0 and result["ratio_sink_thread_cpu"] > 0
    assert result["ratio_driver_rss_200_vs_60"] > 0 and result["ratio_old_driver_rss_200_vs_60"] > 0
    assert "ratio_driver_rss_100k_vs_10k" not in result  # only measured with --full
    assert result["ratio_pipeline_cpu"] > result["ratio_driver_cpu"]  # the coordinator's CPU counted there
    assert all(v > 0 for v in result["new_coordinator_cpu_ms_per_frame"].values())
    for path in ("old", "new"):
        assert set(result[f"{path}_driver_cpu_ms_per_frame"]) == {"60", "200"}
        assert all(v > 0 for v in result[f"{path}_peak_rss_mb"].values())
    by = {(r["path"], r["frames"]): r for r in result["results"]}
    assert by["old", 200]["items"] == 1 and by["new", 200]["items"] == 4  # segments of 50 frames
    assert by["new", 200]["files"] == 4 and by["old", 200]["files"] == 1
    for n in (60, 200):
        assert by["old", n]["frame_rows"] == by["new", n]["frame_rows"] == n
        assert by["old", n]["person_rows"] == by["new", n]["person_rows"] == 3 * n
        assert by["new", n]["parts_left"] == 0
    assert [len(r) for r in result["rows"]] == [len(result["rows"][0])] * len(result["rows"])


def test_bench_sink_paths_write_the_same_results(tiny):
    out, _ = tiny
    old = read_results(str(out / "old-200"))
    new = read_results(str(out / "new-200"))
    assert len(old) == len(new) == 200
    assert all(a.equals(b) for a, b in zip(old, new))
    assert all(a.equals(sink.synthetic_result(a.frame_index, 3)) for a in old[:5])


def test_bench_sink_fails_loudly_when_the_rows_differ():
    old = {"frame_rows": 10, "person_rows": 30, "frame_index_sum": 45, "num_people_sum": 30, "bbox_score_sum": 1.0}
    with pytest.raises(RuntimeError, match="person_rows"):
        sink.check_same_rows(old, {**old, "person_rows": 29, "parts_left": 0}, 10, 3)
    with pytest.raises(RuntimeError, match="_parts"):
        sink.check_same_rows(old, {**old, "parts_left": 2}, 10, 3)
    sink.check_same_rows(old, {**old, "parts_left": 0}, 10, 3)
