"""bench gpu on the CPU (``--device cpu --quick``): every phase runs and writes its figures, every
goal is a finite ratio where the CPU can measure it; the report writer and the table."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bmp_ray.bench import gpu, gpu_env
from tests.absent import refuse_imports

ROOT = Path(__file__).resolve().parents[2]
# what the GPU machine lacks (shared/spec/gpu-bench.md): no PyAV, Ray, decord, scipy or xtcocotools, and
# mmcv without its compiled ops (the stand-in, forced here); the run there carries only bench gpu_pack's wheels
ABSENT = ("av", "ray", "decord", "scipy", "xtcocotools")
GUARDED = refuse_imports(*ABSENT) + (
    "import runpy\n"
    "sys.argv = ['bmp_ray.bench.gpu', *sys.argv[1:]]\n"
    "runpy.run_module('bmp_ray.bench.gpu', run_name='__main__', alter_sys=True)\n"
)


def _quick(out, launch: list[str], *more: str, **env) -> subprocess.CompletedProcess:
    """``bench gpu --device cpu --quick --json --out OUT [more]`` in a subprocess started by ``launch``."""
    r = subprocess.run(
        [sys.executable, *launch, "--device", "cpu", "--quick", "--json", "--out", str(out), *more],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k != "OUT"}, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, shared_data):
    """The one quick run every test below reads, made as on the GPU machine: the packages it lacks
    refused at import and the mmcv.ops stand-in in use (a `bmp_ray.video` import of PyAV through the run
    config once failed the build phase there), with a deadline short of the phases' budgets, as the GPU
    command's. (One run, not one per test: on a CPU without bf16 instructions a quick run takes minutes.)"""
    out = tmp_path_factory.mktemp("gpu")
    deadline = 0.8 * sum(gpu.PHASES.values()) * gpu.QUICK_BUDGET_SCALE
    r = _quick(out, ["-c", GUARDED], "--deadline-s", str(deadline), **{gpu_env.FORCE_ENV: "1"})
    return out, json.loads(r.stdout), r.stderr


@pytest.mark.timeout(1000)
def test_quick_run_where_the_gpu_machine_lacks_packages(quick_run):
    """Every phase runs where the GPU machine's missing packages are refused; the deadline gives the
    first phase its share of the time left, and the later ones more as the run, far quicker than its
    budgets, gets ahead."""
    out, _, log = quick_run
    data = json.loads((out / "gpu.json").read_text())
    for name, p in data["phases"].items():
        assert p["status"] in ("ok", "partial"), (name, p.get("error"))
        own = gpu.PHASES[name] * gpu.QUICK_BUDGET_SCALE
        assert 0.5 * own < p["budget_s"] <= own, (name, p["budget_s"])
    first, last = (
        data["phases"][n]["budget_s"] / gpu.PHASES[n] / gpu.QUICK_BUDGET_SCALE for n in ("start", "research")
    )
    assert 0.7 < first <= 0.8 and last == 1  # the start phase began a few seconds after the run
    assert list(data["phases"]) == list(gpu.PHASES) and data["mmcv_ops_stand_in"] is True
    assert "absent on the GPU machine" in log  # the stand-ins met the refusals


@pytest.mark.timeout(1000)
def test_quick_run_writes_every_phase(quick_run):
    out, printed, log = quick_run
    data = json.loads((out / "gpu.json").read_text())
    assert list(data["phases"]) == list(gpu.PHASES)
    for name, p in data["phases"].items():
        assert p["status"] in ("ok", "partial"), (name, p.get("error"))
        assert p["seconds"] >= 0 and p["budget_s"] > 0
    assert data["phases"]["start"]["versions"]["torch"] and data["phases"]["start"]["device"] == "cpu"
    assert data["stand_ins"]["mmcv.ops"]  # forced here, as where mmcv's compiled ops do not import
    assert printed["phases"].keys() == data["phases"].keys()
    table = (out / "gpu.txt").read_text()
    assert table.splitlines()[0].split() == ["phase", "measure", "value", "unit", "goal", "ratio"]
    assert [ln.split()[1] for ln in table.splitlines() if ln.startswith("goal ")] == list(gpu.GOALS)


@pytest.mark.timeout(1000)
def test_quick_run_measures_the_stages_and_the_loop(quick_run):
    out, _, _ = quick_run
    data = json.loads((out / "gpu.json").read_text())
    ph = data["phases"]
    assert ph["ceilings"]["matmul_fp32_tflops"] > 0 and ph["ceilings"]["copy_d2d_gb_s"] > 0
    assert ph["build"]["detector"]["model"] == "rtmdet-ins-tiny"
    assert all(v > 0 for v in ph["build"]["flops_per_item"].values())
    ok = {(r["stage"], r["dtype"]) for r in ph["stages"]["rows"] if r["status"] == "ok"}
    for stage in ("sam_encoder", "pose", "detector_net", "sam_decoder_batched_2"):
        assert {(stage, "fp32"), (stage, "bf16")} <= ok
    assert {("detector_stage", "fp32"), ("sam_decoder_batched_4", "fp32"), ("sam_decoder_per_person_4", "fp32")} <= ok
    # on a CPU the run's precision is fp32: bf16 (about 200x slower without bf16 instructions) is
    # measured at one batch size per stage, beside fp32 at that size
    assert ph["stages"]["precision"] == "fp32" and ph["variants"]["precision"] == "fp32"
    for stage in ("sam_encoder", "pose", "detector_net"):
        bf16 = [r["batch"] for r in ph["stages"]["rows"] if r["stage"] == stage and r["dtype"] == "bf16"]
        assert len(bf16) == 1, (stage, bf16)
        assert ph["stages"][f"{stage}_bf16_over_fp32"] > 0
    var = ph["variants"]
    for v in ("sdpa_sam_encoder", "compile_sam_encoder", "compile_pose", "channels_last_detector"):
        assert var[v]["status"] == "ok" and var[v]["per_s"] > 0, var[v]
    assert var["cuda_graph_sam_decoder"]["status"].startswith("n/a")
    assert any("scaled_dot_product" in op for op in var["sdpa_sam_encoder"]["attention_ops"])
    for n in (2, 4):
        run = ph["e2e"][f"people_{n}"]
        assert run["people_found_per_frame"] == n and run["frames_per_s"] > 0
    top = ph["e2e"]["people_4"]
    assert top["host_core_ms_per_frame"] > 0 and "detector.network (device)" in top["components_wall_ms_per_frame"]
    assert top["components_not_split_out"] == [] and top["gpu_busy"] is None  # no kernels on the CPU
    assert ph["research"]["ratio"] > 0 and ph["research"]["people_bmp_ray"] > 0


@pytest.mark.timeout(1000)
def test_quick_run_reports_every_goal_as_a_finite_ratio(quick_run):
    out, _, _ = quick_run
    data = json.loads((out / "gpu.json").read_text())
    assert data["goals"].keys() == gpu.GOALS.keys() and data["goal_precision"] == "fp32"
    measured = {k for k, g in data["goals"].items() if g["measured"] is not None}
    assert measured == set(gpu.GOALS) - {"gpu_busy"}  # the one goal a CPU cannot measure
    for k in measured:
        r = data[f"ratio_{k}"]
        assert math.isfinite(r) and r > 0 and r == pytest.approx(data["goals"][k]["measured"] / gpu.GOALS[k][1])
    b = data["bounds"]["4"]
    assert b["stage_bound_frames_per_s"] > 0 and b["flop_bound_frames_per_s"] > 0
    assert b["flops_per_frame"] == pytest.approx(
        sum(
            data["phases"]["build"]["flops_per_item"][k] * w
            for k, w in (("sam_encoder", 1), ("detector", 2), ("pose_crop", 8), ("sam_decoder_person", 4))
        )
    )


def test_report_writes_json_and_table_after_each_phase(tmp_path):
    import argparse

    report = gpu.Report(str(tmp_path), argparse.Namespace(quick=True))
    report.phase("start", "ok", 0.5, 30, {"device": "cpu"}, {})
    first = json.loads((tmp_path / "gpu.json").read_text())
    assert list(first["phases"]) == ["start"]
    assert ["start", "status", "ok"] in [ln.split()[:3] for ln in (tmp_path / "gpu.txt").read_text().splitlines()]
    report.phase("ceilings", "error", 0.1, 10, None, {}, "RuntimeError: boom")
    second = json.loads((tmp_path / "gpu.json").read_text())
    assert second["phases"]["ceilings"] == {
        "status": "error",
        "seconds": 0.1,
        "budget_s": 10,
        "error": "RuntimeError: boom",
    }
    assert second["goals"]["pose"]["status"] == "not measured"


def test_budget_option_parses_and_rejects_unknown_phases():
    import argparse

    from bmp_ray.errors import ConfigError

    p = argparse.ArgumentParser()
    gpu.add_arguments(p)
    b = gpu._budgets(p.parse_args(["--budget-s", "stages=5", "--budget-scale", "2"]))
    assert b["stages"] == 5 and b["variants"] == 2 * gpu.PHASES["variants"]
    assert gpu._budgets(p.parse_args([])) == gpu.PHASES
    assert gpu._budgets(p.parse_args(["--quick"]))["e2e"] == gpu.QUICK_BUDGET_SCALE * gpu.PHASES["e2e"]
    with pytest.raises(ConfigError, match="PHASE=SECONDS"):
        gpu._budgets(p.parse_args(["--budget-s", "warmup=5"]))


def test_fitted_gives_each_phase_left_its_share_of_the_time_left():
    budgets = {"a": 10.0, "b": 30.0, "c": 60.0}
    assert gpu.fitted(budgets, "a", None) == 10 and gpu.fitted(budgets, "a", 100) == 10  # on time
    assert gpu.fitted(budgets, "a", 50) == pytest.approx(5)  # behind: half of every budget left
    assert gpu.fitted(budgets, "b", 45) == pytest.approx(15) and gpu.fitted(budgets, "c", 45) == 45
    assert gpu.fitted(budgets, "c", 90) == 60 and gpu.fitted(budgets, "b", -1) == 0


def test_run_past_its_deadline_skips_its_phases_and_still_reports(tmp_path):
    import argparse

    from bmp_ray.errors import ConfigError

    p = argparse.ArgumentParser()
    gpu.add_arguments(p)
    args = p.parse_args(["--device", "cpu", "--quick", "--out", str(tmp_path), "--deadline-s", "1e-9"])
    out = gpu.run(args)
    assert [ph["status"] for ph in out["phases"].values()] == ["skipped: the run's deadline has passed"] * 3
    assert list(json.loads((tmp_path / "gpu.json").read_text())["phases"]) == ["start", "ceilings", "build"]
    assert "skipped: the run" in (tmp_path / "gpu.txt").read_text()
    with pytest.raises(ConfigError, match="--deadline-s: expected seconds > 0, got 0"):
        gpu.run(p.parse_args(["--device", "cpu", "--quick", "--out", str(tmp_path), "--deadline-s", "0"]))
