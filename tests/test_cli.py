import json
import shutil
import subprocess
import sys
from pathlib import Path

from bmp_ray.cli import main


def lines(capsys):
    return [json.loads(x) for x in capsys.readouterr().out.splitlines()]


def test_probe_prints_one_json_object_per_input(capsys, make_video, tmp_path):
    good = make_video("good.mp4", n=6)
    (tmp_path / "zero.mp4").write_bytes(b"")
    rc = main(["probe", str(good), str(tmp_path / "zero.mp4"), str(tmp_path / "nope.mp4")])
    out = {o["video_id"]: o for o in lines(capsys)}
    assert rc == 1  # some inputs failed
    assert out["good.mp4"]["ok"] and out["good.mp4"]["num_frames"] == 6 and out["good.mp4"]["codec"] == "h264"
    assert (out["zero.mp4"]["ok"], out["zero.mp4"]["cause"]) == (False, "empty")
    assert out["nope.mp4"]["cause"] == "missing" and "nope.mp4" in out["nope.mp4"]["error"]


def test_probe_all_good_exits_zero(capsys, shared_data):
    assert main(["probe", str(shared_data / "videos"), str(shared_data / "images" / "coco")]) == 0
    out = lines(capsys)
    assert len(out) == 9 and all(o["ok"] for o in out)


def test_console_script_is_installed(make_video):
    exe = shutil.which("bmp-ray", path=str(Path(sys.executable).parent))
    assert exe, "bmp-ray console script missing: run `pip install -e .`"
    r = subprocess.run([exe, "probe", str(make_video(n=2))], capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(r.stdout)["num_frames"] == 2


def test_errors_exit_2_with_a_message(capsys, tmp_path, caplog):
    assert main(["bench", "decode", "--repeats", "1", "--video", str(tmp_path / "nope.mp4")]) == 2
    assert "nope.mp4: missing" in caplog.text
