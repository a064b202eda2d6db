"""The run's one progress display: share weighed by segment length, ETA from the rate so far, a line
per interval; and a Ray run's terminal output is that display, not Ray Data's bars and notices."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bmp_ray.pipeline.progress import Progress
from bmp_ray.video.segments import OPEN_END
from tests.pipeline.conftest import TEST_SETTINGS


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_share_eta_and_interval():
    clock = Clock()
    p = Progress({"a": 1800, "b": 1800, "c": 400, "open": OPEN_END}, videos=2, interval_s=10, clock=clock)
    assert p.total == 1800 + 1800 + 400 + (1800 + 1800 + 400) / 3  # an open end weighs the mean
    assert p.tick() is None  # not yet due
    clock.t += 60
    p.update(["a"], frames=1800, finalized=0)
    line = p.tick()
    share = 1800 / p.total
    assert f"1/4 segments ({100 * share:.0f} %)" in line and "0/2 videos" in line and "1,800 frames" in line
    assert "30.0 frames/s" in line and f"ETA {round(60 * (1 - share) / share) // 60}m" in line
    assert p.tick() is None
    p.update(["a", "b", "c", "open"], frames=5000, finalized=2)
    assert p.tick(force=True).endswith("done")


def test_a_ray_run_shows_its_progress_line_not_ray_data_bars(tmp_path, test_weights, shared_data):
    settings = [a for s in TEST_SETTINGS for a in ("--set", s)]
    p = subprocess.run(
        [
            str(Path(sys.executable).parent / "bmp-ray"),
            "run",
            str(shared_data / "images" / "coco"),
            "--out",
            str(tmp_path / "out"),
            "--weights",
            str(test_weights),
            *settings,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    lines = p.stderr.splitlines()
    assert any("bmp_ray.progress: progress: " in ln and ln.rstrip().endswith("done") for ln in lines)
    assert not any("Running Dataset" in ln or "Total Progress" in ln for ln in lines), p.stderr[-3000:]
    assert not any("DeprecationWarning" in ln for ln in lines), p.stderr[-3000:]
    print(len(lines), "stderr lines")
