import json

from bmp_ray.bench import format_table
from bmp_ray.cli import main


def lines(capsys):
    return [json.loads(x) for x in capsys.readouterr().out.splitlines()]


def test_bench_decode_json_has_figures_and_ratio(capsys, make_video):
    video = make_video(n=12, width=160, height=96)
    assert main(["bench", "decode", "--json", "--repeats", "1", "--video", str(video)]) == 0
    (out,) = lines(capsys)
    assert out["benchmark"] == "decode" and out["frames"] == 12
    assert out["fps_pyav"] > 0 and out["fps_bmp_ray"] > 0 and out["fps_bmp_ray_decord"] > 0
    assert abs(out["ratio"] - out["fps_bmp_ray"] / out["fps_pyav"]) < 1e-9


def test_bench_table_for_people(capsys, make_video):
    assert main(["bench", "decode", "--repeats", "1", "--video", str(make_video(n=4))]) == 0
    text = capsys.readouterr().out
    assert "frames/s" in text and "ratio:" in text


def test_format_table_aligns_columns():
    text = format_table([["a", "bb"], [1.23456, "x"]])
    assert text.splitlines() == ["a     bb", "----  --", "1.23  x"]
