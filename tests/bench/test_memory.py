import argparse

from bmp_ray.bench import memory


def test_memory_bench_reports_the_peak_increase_per_stage_and_size(shared_data):
    p = argparse.ArgumentParser()
    memory.add_arguments(p)
    out = memory.run(p.parse_args(["--quick", "--max-per-img", "4"]))
    assert out["sizes"] == ["320x180", "640x360"] and list(out["peak_increase_mb"]) == ["detector"]
    for size, m in out["measurements"]["detector"].items():
        assert m["peak_mb"] >= m["before_mb"] > 100  # a loaded model: resident memory is real
        assert out["peak_increase_mb"]["detector"][size] == round(m["peak_mb"] - m["before_mb"], 1)
    assert out["rows"][0] == ["stage", "320x180 MB", "640x360 MB"]
