"""``bmp_ray.video`` imports PyAV on first use: the package, and the run config that checks its rules,
load where PyAV is absent (the GPU benchmark's machine)."""

import subprocess
import sys

from bmp_ray.pipeline.config import PRESETS
from tests.absent import refuse_imports

ABSENT = refuse_imports("av", "decord")


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", ABSENT + code], capture_output=True, text=True, timeout=300)


def test_the_package_and_the_run_config_load_without_pyav():
    r = _run(
        "from bmp_ray.pipeline.config import PRESETS, load\n"
        "from bmp_ray.video import FrameReader, Sampling, probe, split_segments\n"
        "c = load(overrides=['models.preset=test', 'decode.backend=decord'])\n"
        "print(c.decode.backend, len(PRESETS), callable(probe), 'av' in sys.modules)\n"
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["decord", str(len(PRESETS)), "True", "False"]


def test_probing_without_pyav_names_the_missing_module(tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\0" * 64)
    r = _run(f"from bmp_ray.video import probe\nprobe({str(video)!r})\n")
    assert r.returncode != 0 and "No module named 'av' (absent on the GPU machine)" in r.stderr
