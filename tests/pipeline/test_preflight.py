"""Runs that cannot succeed fail fast, through the CLI as a user types it: exit 2, one line naming the
problem and the fix, no traceback, in seconds (before this, the Ray path spent ~30 s and printed
hundreds of lines of actor tracebacks, or hung forever)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from bmp_ray.errors import ConfigError
from tests.pipeline.conftest import TEST_SETTINGS

BMP_RAY = str(Path(sys.executable).parent / "bmp-ray")


def bmp_ray(*args, timeout=240):
    """(returncode, stdout, stderr lines, seconds) of ``bmp-ray ARGS``."""
    t0 = time.time()
    p = subprocess.run([BMP_RAY, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, [ln for ln in p.stderr.splitlines() if ln.strip()], time.time() - t0


def run_args(inputs, out, weights, *extra):
    settings = [a for s in TEST_SETTINGS for a in ("--set", s)]
    return ["run", *inputs, "--out", out, "--weights", weights, *settings, *extra]


def assert_fails_fast(result, *needles, seconds=60):
    code, stdout, err, took = result
    text = "\n".join(err)
    assert code == 2, text[-3000:]
    assert "Traceback" not in text and stdout == "", text[-3000:]
    last = [ln for ln in err if " ERROR " in ln]
    assert len(last) == 1, text[-3000:]
    for n in needles:
        assert n in last[0], last[0]
    assert took < seconds, f"took {took:.1f} s"
    return last[0]


def files_of(weights: Path) -> dict[str, Path]:
    return {p.relative_to(weights).as_posix(): p for p in weights.rglob("*.pth")}


@pytest.fixture
def weights_copy(tmp_path, test_weights):
    dst = tmp_path / "w"
    shutil.copytree(test_weights, dst)
    return dst


def test_checkpoint_layout_names_the_file_on_the_ray_path(tmp_path, weights_copy, shared_data):
    names = files_of(weights_copy)
    pose = next(p for k, p in names.items() if "maskpose" in k.lower())
    det = next(p for k, p in names.items() if "rtmdet" in k.lower())
    shutil.copy(det, pose)  # the pose slot holds the detector's file
    (weights_copy / "SHA256SUMS").unlink()
    image = shared_data / "images" / "coco" / "000000040083.jpg"
    line = assert_fails_fast(
        bmp_ray(*run_args([image], tmp_path / "out", weights_copy)), str(pose), "not a maskpose-tiny"
    )
    assert "missing keys" in line


def test_a_single_file_as_weights_is_refused_for_the_other_models(tmp_path, test_weights, shared_data):
    det = next(p for k, p in files_of(test_weights).items() if "rtmdet" in k.lower())
    image = shared_data / "images" / "coco" / "000000040083.jpg"
    assert_fails_fast(bmp_ray(*run_args([image], tmp_path / "out", det)), str(det), "not a maskpose-tiny")


def test_a_truncated_checkpoint_is_named(tmp_path, weights_copy, shared_data):
    sam = next(p for k, p in files_of(weights_copy).items() if "sam" in k.lower())
    sam.write_bytes(sam.read_bytes()[: sam.stat().st_size // 2])
    (weights_copy / "SHA256SUMS").unlink()
    image = shared_data / "images" / "coco" / "000000040083.jpg"
    assert_fails_fast(
        bmp_ray(*run_args([image], tmp_path / "out", weights_copy)), str(sam), "not a readable torch checkpoint"
    )


def test_a_checkpoint_damaged_in_place_fails_its_sha256sums(tmp_path, weights_copy, shared_data):
    pose = next(p for k, p in files_of(weights_copy).items() if "maskpose" in k.lower())
    data = bytearray(pose.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside a tensor: torch still loads it
    pose.write_bytes(bytes(data))
    image = shared_data / "images" / "coco" / "000000040083.jpg"
    line = assert_fails_fast(
        bmp_ray(*run_args([image], tmp_path / "out", weights_copy, "--no-ray")), str(pose), "SHA256SUMS lists"
    )
    assert "damaged or replaced" in line


@pytest.mark.parametrize(
    "setting, needle",
    [
        ("sam.num_gpus=1", "1 GPU"),
        ("pose.pool=pool_nowhere", "resource 'pool_nowhere'"),
        ("detector.label_selector={bmp-pool: det}", "label bmp-pool=det"),
    ],
)
def test_resources_no_node_has_fail_at_once_naming_the_setting(tmp_path, test_weights, shared_data, setting, needle):
    image = shared_data / "images" / "coco" / "000000040083.jpg"
    section = setting.split(".")[0]
    line = assert_fails_fast(
        bmp_ray(*run_args([image], tmp_path / "out", test_weights, "--set", setting)),
        f"[{section}] asks each actor for",
        needle,
        "no autoscaler",
        seconds=120,
    )
    assert f"{section}." in line.split("Fix:")[1]


@pytest.mark.parametrize("kind", ["file", "under_file", "proc"])
def test_an_unusable_out_fails_before_any_work(tmp_path, test_weights, shared_data, kind):
    f = tmp_path / "a_file"
    f.write_text("x")
    out = {"file": f, "under_file": f / "out", "proc": Path("/proc/bmp_ray_out")}[kind]
    image = shared_data / "images" / "coco" / "000000040083.jpg"
    assert_fails_fast(bmp_ray(*run_args([image], out, test_weights, "--no-ray")), f"--out {str(out)!r}")


def test_two_inputs_with_one_video_id_are_one_line(tmp_path, test_weights, shared_data):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        shutil.copy(shared_data / "images" / "coco" / "000000040083.jpg", tmp_path / d / "x.jpg")
    assert_fails_fast(
        bmp_ray(
            *run_args([tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.jpg"], tmp_path / "out", test_weights, "--no-ray")
        ),
        "the same video_id 'x.jpg'",
    )


def test_empty_globs_and_folders_are_error_rows_and_exit_2_when_nothing_ran(tmp_path, test_weights):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    code, stdout, err, _ = bmp_ray(
        *run_args([tmp_path / "empty", tmp_path / "nothing_*.mp4"], out, test_weights, "--no-ray", "--fail-on-error")
    )
    assert code == 2, "\n".join(err)[-3000:]
    summary = json.loads(stdout)
    assert summary["failed"] == 2 and summary["ok"] == 0
    m = pd.read_parquet(out / "videos.parquet").set_index("video_id")
    assert m.loc["empty", "status"] == "error" and "no video or image file" in m.loc["empty", "error"]
    pattern = str(tmp_path / "nothing_*.mp4")
    assert "matched no video or image file" in m.loc[pattern, "error"]
    assert set(summary["errors"]) == {"empty", pattern}
    assert any("failed: empty:" in ln for ln in err)  # the end names each failed input


def test_frames_above_max_pixels_are_refused_as_an_error_row(tmp_path, test_weights, shared_data):
    out = tmp_path / "out"
    image = shared_data / "images" / "coco" / "000000040083.jpg"
    code, stdout, err, _ = bmp_ray(*run_args([image], out, test_weights, "--no-ray", "--set", "decode.max_pixels=1000"))
    assert code == 0, "\n".join(err)[-3000:]
    row = pd.read_parquet(out / "videos.parquet").iloc[0]
    assert row.status == "error" and "too_large" in row.error and "decode.max_pixels" in row.error


def test_a_working_resolution_processes_them_in_the_images_own_pixels(tmp_path, test_weights, shared_data):
    """``decode.max_side`` bounds the frames the models see; the results are in the input's pixels."""
    out = tmp_path / "out"
    image = shared_data / "images" / "coco" / "000000040083.jpg"
    args = ("--no-ray", "--set", "decode.max_pixels=1000", "--set", "decode.max_side=32")
    code, stdout, err, _ = bmp_ray(*run_args([image], out, test_weights, *args))
    assert code == 0, "\n".join(err)[-3000:]
    row = pd.read_parquet(out / "videos.parquet").iloc[0]
    assert row.status == "ok", row.error
    frame = pd.read_parquet(out / "frames").iloc[0]
    h, w = cv2.imread(str(image)).shape[:2]
    assert (frame.height, frame.width) == (h, w)
    boxes = np.stack(pd.read_parquet(out / "poses").bbox_xyxy.to_list())
    assert len(boxes) and boxes[:, [0, 2]].max() <= w and boxes[:, [1, 3]].max() <= h
    assert boxes[:, 2].max() > 32  # in the image's pixels, not the 32-pixel working frame's


def test_pools_that_cannot_all_start_are_refused_before_any_work(monkeypatch):
    from bmp_ray.pipeline import preflight
    from bmp_ray.pipeline.config import load

    monkeypatch.setattr(preflight, "_nodes", lambda: [{"Alive": True, "Resources": {"CPU": 2.0}}])
    preflight.check_capacity(load())  # the defaults fit a 2-CPU machine: 6 actors x 0.25 + one 0.5 task
    two = ["output.coordinators=2", "detector.max_size=2", "pose.max_size=2", "sam.max_size=2"]
    with pytest.raises(ConfigError, match=r"ask for 3.5 CPUs at once .*output.coordinators = 2.*has 2: .*Fix: lower"):
        preflight.check_capacity(load(overrides=two))
    preflight.check_capacity(load(overrides=two + [f"{r}.num_cpus=0.1" for r in ("detector", "pose", "sam")]))
    with pytest.raises(ConfigError, match="ask for 1 GPUs at once .*has 0"):
        preflight.check_capacity(load(overrides=["sam.num_gpus=0.5"]))
