import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bmp_ray.cli import main
from bmp_ray.pipeline.config import PRESETS


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

    synthesize(tmp_path / "w", list(PRESETS["test"].values()))
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "bmp-ray"),
            "run",
            str(shared_data / "images" / "coco"),
            str(tmp_path / "missing.mp4"),
            "--out",
            str(out),
            "--preset",
            "test",
            "--weights",
            str(tmp_path / "w"),
            "--no-ray",
            "--set",
            "models.max_people=2",
            "--fail-on-error",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert (summary["ok"], summary["failed"], summary["frames"]) == (4, 1, 4)
    assert (out / "videos.parquet").exists() and len(list((out / "poses").glob("*.parquet"))) == 4


def test_run_command_names_a_bad_setting(tmp_path):
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "bmp-ray"),
            "run",
            "x.mp4",
            "--out",
            str(tmp_path),
            "--set",
            "sam.num_gpus=many",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "sam.num_gpus: expected float, got 'many'" in proc.stderr
    assert proc.stdout == ""


def _one_line_error(capsys, caplog) -> str:
    err = capsys.readouterr().err.strip().splitlines() + [
        r.getMessage() for r in caplog.records if r.levelname == "ERROR"
    ]
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize(
    "argv, says",
    [
        (["probe"], "the following arguments are required: paths"),
        (["run", "x.mp4", "--out", "o", "--stride", "two"], "--stride: invalid int value: 'two'"),
        (["run", "x.mp4", "--out", "o", "--preset", "nope"], "--preset: invalid choice: 'nope'"),
        (["track"], "the following arguments are required: out"),
        (["train", "--workers", "some"], "--workers: invalid int value"),
        (["maskout-preview", "a.json"], "the following arguments are required"),
        (["bench", "nope"], "invalid choice: 'nope'"),
        (["bench", "decode", "--repeats", "x"], "--repeats: invalid int value"),
        (["weights", "synth"], "the following arguments are required: --out"),
        (["render", "out", "--opacity", "2"], "--opacity: expected a number in (0, 1], got 2.0"),
        (["export", "out", "--format", "csv", "--out", "x"], "--format: invalid choice: 'csv'"),
        (["report"], "the following arguments are required: OUT"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_every_command_exits_2_on_a_bad_argument_with_one_line(argv, says, capsys, caplog):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    line = _one_line_error(capsys, caplog)
    assert says in line and line.startswith("bmp-ray") and "--help" in line


@pytest.mark.parametrize(
    "argv, says",
    [
        (["track", "{tmp}/no-run"], "no-run"),
        (["train", "--set", "optim.lr=fast"], "optim.lr"),
        (["maskout-preview", "{tmp}/none.json", "{tmp}", "--out", "{tmp}/p.png"], "none.json"),
        (["maskout-preview", "{tmp}/none.json", "{tmp}", "--out", "{tmp}/p.png", "--draws", "0"], "draws"),
        (["weights", "fetch", "no-such-model"], "no-such-model"),
        (["render", "{tmp}/no-run"], "no-run"),
        (["export", "{tmp}/no-run", "--format", "coco", "--out", "{tmp}/r.json"], "no-run"),
        (["report", "{tmp}/no-run", "--out", "{tmp}/rep"], "no-run"),
        (
            [
                "run",
                "{tmp}/a/x.mp4",
                "{tmp}/b/x.mp4",
                "--out",
                "{tmp}/o",
                "--no-ray",
                "--preset",
                "test",
                "--weights",
                "{weights}",
            ],
            "same video_id",
        ),
        (["maskout-preview", "{tmp}/none.json", "{tmp}", "--out", "{tmp}/p.gif"], "expected a .jpg or .png"),
    ],
)
def test_every_command_exits_2_on_a_bad_input_with_one_line(argv, says, capsys, caplog, tmp_path, test_weights):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "x.mp4").write_bytes(b"not a video")
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{weights}", str(test_weights)) for a in argv]
    assert main(argv) == 2
    assert says in _one_line_error(capsys, caplog)


def test_probe_imports_neither_torch_nor_mmcv(make_video):
    code = (
        "import sys; from bmp_ray.cli import main; rc = main(['probe', sys.argv[1]]); "
        "bad = [m for m in ('torch', 'mmcv', 'mmdet', 'mmpose', 'ray') if m in sys.modules]; "
        "print(rc, bad, file=sys.stderr)"
    )
    r = subprocess.run([sys.executable, "-c", code, str(make_video(n=2))], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr.strip().splitlines()[-1] == "0 []", r.stderr[-2000:]
