import json

from bmp_ray.cli import main


def test_bench_stages_json_has_every_ratio(capsys, shared_data):
    assert main(["bench", "stages", "--json", "--copies", "1", "--repeats", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["benchmark"] == "stages" and out["frames"] == 7 and out["people"] == 19
    for key in (
        "ratio_detector",
        "ratio_pose",
        "ratio_sam_decoder",
        "ratio_sam_encoder",
        "ratio_sam2_decoder",
        "ratio_sam2_encoder",
        "ratio_dimming",
    ):
        assert out[key] > 0
    assert out["models"][-2:] == ["sam-tiny", "sam2.1-tiny"]
    assert 0 < out["dimming_mean_abs_diff"] < 1.0
