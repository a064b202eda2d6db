"""Fault points: inert unless armed by both the environment and a trigger file; then fire exactly once."""

import os
import subprocess
import sys

import pytest

from bmp_ray.pipeline import faults

POINT = "commit.between_files"
CALL_TWICE = f"""
from bmp_ray.pipeline import faults
faults.point({POINT!r})
print("after the first call", flush=True)
faults.point({POINT!r})
print("after the second call", flush=True)
"""


@pytest.fixture
def no_fault_env(monkeypatch):
    monkeypatch.delenv(faults.FAULT_ENV, raising=False)
    monkeypatch.delenv(faults.FAULT_DIR_ENV, raising=False)
    return monkeypatch


def test_a_point_does_nothing_without_the_variables(tmp_path, no_fault_env):
    faults.arm(str(tmp_path), POINT)
    faults.point(POINT)  # no BMP_RAY_FAULT: returns
    no_fault_env.setenv(faults.FAULT_ENV, POINT)
    faults.point(POINT)  # no BMP_RAY_FAULT_DIR: returns
    no_fault_env.setenv(faults.FAULT_ENV, "part.after_write")
    no_fault_env.setenv(faults.FAULT_DIR_ENV, str(tmp_path))
    faults.point(POINT)  # another point armed: returns
    assert (tmp_path / POINT).exists()  # never fired


def test_a_point_does_nothing_without_its_trigger_file(tmp_path, no_fault_env):
    no_fault_env.setenv(faults.FAULT_ENV, f"part.after_write,{POINT}")
    no_fault_env.setenv(faults.FAULT_DIR_ENV, str(tmp_path))
    faults.point(POINT)
    faults.arm(str(tmp_path), "part.after_write")
    faults.point(POINT)  # the other point's file does not fire this one
    assert os.listdir(tmp_path) == ["part.after_write"]


def test_arm_refuses_an_unknown_point(tmp_path):
    with pytest.raises(AssertionError, match="unknown fault point"):
        faults.arm(str(tmp_path), "commit.no_such_point")
    assert os.listdir(tmp_path) == []


def test_an_armed_point_exits_hard_exactly_once(tmp_path):
    faults.arm(str(tmp_path), POINT)
    env = {**os.environ, faults.FAULT_ENV: f"part.before_write,{POINT}", faults.FAULT_DIR_ENV: str(tmp_path)}
    first = subprocess.run(
        [sys.executable, "-c", CALL_TWICE], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert first.returncode == 1, first.stderr
    assert "after the first call" not in first.stdout
    assert f"fault point {POINT}: exiting hard" in first.stderr
    assert not (tmp_path / POINT).exists()  # consumed
    again = subprocess.run(
        [sys.executable, "-c", CALL_TWICE], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == ["after the first call", "after the second call"]
