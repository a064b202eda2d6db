import json

from bmp_ray.cli import main


def test_bench_loop_json_runs_both_loops(capsys, shared_data):
    assert main(["bench", "loop", "--json", "--max-per-img", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["benchmark"] == "loop" and out["size"] == "1920x1080" and out["iterations"] == 2
    assert out["bmp_ray"] > 0 and out["research"] > 0 and out["bmp_ray_iteration_1"] > 0
    assert out["ratio"] == out["seconds_research"] / out["seconds_bmp_ray"] > 0
