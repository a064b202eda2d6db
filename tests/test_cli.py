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


def test_run_command_writes_output_and_prints_a_summary(tmp_path, shared_data):
    from bmp_ray.models.synth import synthesize

    synthesize(tmp_path / "w", ["rtmdet-ins-tiny", "maskpose-tiny", "sam-tiny"])
    out = tmp_path / "out"
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "bmp-ray"), "run", str(shared_data / "images" / "coco"),
         str(tmp_path / "missing.mp4"), "--out", str(out), "--preset", "test", "--weights", str(tmp_path / "w"),
         "--no-ray", "--set", "models.max_people=2", "--fail-on-error"], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert (summary["ok"], summary["failed"], summary["frames"]) == (4, 1, 4)
    assert (out / "videos.parquet").exists() and len(list((out / "poses").glob("*.parquet"))) == 4


def test_run_command_names_a_bad_setting(tmp_path):
    proc = subprocess.run([str(Path(sys.executable).parent / "bmp-ray"), "run", "x.mp4", "--out", str(tmp_path),
                           "--set", "sam.num_gpus=many"], capture_output=True, text=True)
    assert proc.returncode == 2 and "sam.num_gpus: expected float, got 'many'" in proc.stderr
    assert proc.stdout == ""
