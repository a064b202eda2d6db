"""The output stage's failure table, row by row, with deterministic fault points (``pipeline.faults``).

One process (``--no-ray``): the run exits hard at the point, the same command runs again, and the
output must equal an undisturbed run. On Ray: the worker running the part writer, the commit or the
finalize exits hard, Ray retries it, and the one run must end with the same output (the part writer's
points armed together in one run, the commit's and the finalize's in another). Every test ends
with the same invariant checker (``conftest.assert_output_invariants``).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import ray

from bmp_ray.pipeline import faults
from bmp_ray.pipeline.runner import run
from tests.pipeline.conftest import TEST_SETTINGS, assert_output_invariants

INPUTS = [
    "mmpose_demo.mp4",
    "posetrack18_000001_mpiinew_test.mp4",
    "street.jpg",
    "bad_corrupt.mp4",
    "bad_empty.mp4",
    "bad_text.mp4",
]
ONE_PROCESS_POINTS = [
    "part.before_write",
    "part.after_write",
    "commit.between_files",
    "commit.before_cleanup",
    "finalize.before_marker",
    "driver.after_commit",
]
RAY_POINTS = [
    "part.before_write",
    "part.after_write",
    "commit.between_files",
    "commit.before_cleanup",
    "finalize.before_marker",
]
# armed together in one run per group (each fires once, in whichever worker gets there first): a Ray run
# here costs over a minute, and the points of one group are passed by different tasks or in sequence
RAY_GROUPS = [tuple(RAY_POINTS[:2]), tuple(RAY_POINTS[2:])]


def _command(inputs, out, weights):
    cmd = [str(Path(sys.executable).parent / "bmp-ray"), "run", str(inputs), "--out", str(out), "--no-ray"]
    for s in TEST_SETTINGS + [f"models.weights={weights}"]:
        cmd += ["--set", s]
    return cmd


@pytest.mark.parametrize("point", ONE_PROCESS_POINTS)
def test_one_process_killed_at_a_fault_point_then_rerun(point, tmp_path, mixed_inputs, test_weights, local_reference):
    out, trigger = tmp_path / "out", tmp_path / "faults"
    trigger.mkdir()
    faults.arm(str(trigger), point)
    env = {**os.environ, faults.FAULT_ENV: point, faults.FAULT_DIR_ENV: str(trigger)}
    first = subprocess.run(
        _command(mixed_inputs, out, test_weights), capture_output=True, text=True, env=env, timeout=300
    )
    assert first.returncode == 1 and f"fault point {point}" in first.stderr, first.stderr[-2000:]
    assert not (out / "videos.parquet").exists()
    again = subprocess.run(
        _command(mixed_inputs, out, test_weights), capture_output=True, text=True, env=env, timeout=300
    )  # still armed: the point is passed again, its file is gone
    assert again.returncode == 0, again.stderr[-3000:]
    assert_output_invariants(out, local_reference[0], INPUTS)


@pytest.fixture(scope="module")
def faulty_ray(tmp_path_factory):
    """A local Ray whose workers have every Ray-side fault point armed (each fires once armed by a file)."""
    folder = tmp_path_factory.mktemp("faults")
    saved = {k: os.environ.get(k) for k in (faults.FAULT_ENV, faults.FAULT_DIR_ENV)}
    os.environ[faults.FAULT_ENV] = ",".join(RAY_POINTS)
    os.environ[faults.FAULT_DIR_ENV] = str(folder)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield folder
    ray.shutdown()
    for k, v in saved.items():
        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


@pytest.mark.parametrize("points", RAY_GROUPS, ids=["+".join(g) for g in RAY_GROUPS])
def test_ray_workers_killed_at_fault_points_are_retried(
    points, faulty_ray, tmp_path, mixed_inputs, small_config, local_reference
):
    for point in points:
        faults.arm(str(faulty_ray), point)
    s = run([str(mixed_inputs)], str(tmp_path), small_config)
    assert not [p for p in points if (faulty_ray / p).exists()], "these fault points never fired"
    assert (s.ok, s.failed) == (3, 3)
    assert_output_invariants(tmp_path, local_reference[0], INPUTS)
