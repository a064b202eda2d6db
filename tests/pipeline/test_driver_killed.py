"""The driver killed mid-run (whole process group, as when its machine dies), then the command rerun."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from tests.pipeline.conftest import TEST_SETTINGS, assert_output_invariants


def _command(inputs, out, weights):
    cmd = [str(Path(sys.executable).parent / "bmp-ray"), "run", str(inputs), "--out", str(out)]
    for s in TEST_SETTINGS + [
        f"models.weights={weights}",
        "decode.stop=4",
        "decode.batch_size=1",
        "output.part_frames=1",
    ]:  # commits one by one
        cmd += ["--set", s]
    return cmd


def test_rerun_after_the_driver_was_killed_completes_without_duplicates(mixed_inputs, test_weights, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    proc = subprocess.Popen(
        _command(mixed_inputs, out, test_weights),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not list((out / "frames").glob("*.parquet")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(3)  # a commit task that was running when its driver died may still land
    done_at_kill = len(list((out / "frames").glob("*.parquet")))
    assert 1 <= done_at_kill < 3 and not (out / "videos.parquet").exists(), "the kill did not land mid-run"
    assert (out / "_lock.json").exists()  # the dead driver's lock, taken over by the rerun

    rerun = subprocess.run(
        _command(mixed_inputs, out, test_weights), capture_output=True, text=True, env=env, timeout=600
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    summary = json.loads(rerun.stdout.strip().splitlines()[-1])
    # 6 segments (one per input): the rerun decodes only those that were not committed
    assert summary["skipped"] == done_at_kill and summary["segments"] == 6 - done_at_kill
    assert (summary["ok"], summary["failed"]) == (3, 3)
    assert_output_invariants(
        out,
        inputs=[
            "mmpose_demo.mp4",
            "posetrack18_000001_mpiinew_test.mp4",
            "street.jpg",
            "bad_corrupt.mp4",
            "bad_empty.mp4",
            "bad_text.mp4",
        ],
    )
    m = pd.read_parquet(out / "videos.parquet")
    assert m[m.status == "ok"].frames_written.sum() == 4 + 4 + 1
