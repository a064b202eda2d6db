import argparse

from bmp_ray.bench import pipeline


def test_bench_pipeline_reports_both_paths_and_object_store_bytes(shared_data):
    p = argparse.ArgumentParser()
    pipeline.add_arguments(p)
    args = p.parse_args(
        [str(shared_data / "videos" / "mmpose_demo.mp4"), "--max-people", "2", "--set", "decode.stop=2"]
    )
    args.json = True
    out = pipeline.run(args)
    assert out["frames"] == 1 and out["frames_per_s_ray"] > 0 and out["frames_per_s_one_process"] > 0
    assert out["ratio"] > 0 and out["object_store_bytes_per_frame"] > 960 * 540 * 3  # the frame travels
    assert "MapBatches(Sam_2)" in out["object_store_bytes"]
