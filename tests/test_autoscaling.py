"""Ray's local fake multi-node autoscaler: from no worker nodes, the pipeline's pools bring up one node
of each pool type from cluster.yaml, the job completes, and the nodes go away when idle.

``AutoscalingCluster`` runs ``ray stop --force`` (every Ray process on the machine) at start and end,
so this module must not overlap another Ray test: pytest runs files one after another.
"""

import os
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import ray
import yaml
from ray.cluster_utils import AutoscalingCluster

from bmp_ray.pipeline import config as run_config
from bmp_ray.pipeline.runner import run
from tests.pipeline.conftest import TEST_SETTINGS

ROOT = Path(__file__).resolve().parents[1]
IDLE_MINUTES = 0.1


def fake_node_types() -> dict:
    """cluster.yaml's worker types as fake local nodes: the same pool resources, 1 CPU, and a fake
    GPU on the GPU types (the stages ask for it; torch runs on the CPU)."""
    cluster = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    types = {}
    for name, t in cluster["available_node_types"].items():
        if name == cluster["head_node_type"]:
            continue
        res = {**t["resources"], "CPU": 1, "object_store_memory": 300 * 2**20}
        if name.startswith("gpu"):
            res["GPU"] = 1
        types[name] = {"resources": res, "node_config": {}, "min_workers": 0, "max_workers": 1}
    return types


class _Cluster(AutoscalingCluster):
    """``AutoscalingCluster`` with the fake provider's base config written here (the installed Ray
    wheel lacks the example file it reads)."""

    def _generate_config(self, head_resources, worker_node_types, autoscaler_v2=False, **kw):
        config = {
            "cluster_name": "fake_multinode",
            "max_workers": 8,
            "upscaling_speed": 1.0,
            "idle_timeout_minutes": IDLE_MINUTES,
            "head_node_type": "ray.head.default",
            "provider": {
                "type": "fake_multinode",
                "use_node_id_as_ip": True,
                "disable_node_updaters": True,
                "disable_launch_config_check": True,
            },
            "available_node_types": {
                **worker_node_types,
                "ray.head.default": {"resources": head_resources, "node_config": {}, "max_workers": 0},
            },
            "auth": {},
            "docker": {},
            "file_mounts": {},
            "cluster_synced_files": [],
            "file_mounts_sync_continuously": False,
            "rsync_exclude": [],
            "rsync_filter": [],
            **{
                k: []
                for k in (
                    "initialization_commands",
                    "setup_commands",
                    "head_setup_commands",
                    "worker_setup_commands",
                    "head_start_ray_commands",
                    "worker_start_ray_commands",
                )
            },
        }
        config.update(kw)
        return config


def _alive_pools() -> set:
    return {r for n in ray.nodes() if n["Alive"] for r in n["Resources"] if r.startswith("pool_")}


@pytest.fixture
def autoscaling(monkeypatch):
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    cluster = _Cluster(head_resources={"CPU": 0}, worker_node_types=fake_node_types())
    cluster.start()
    ray.init("auto", logging_level="WARNING")
    yield
    ray.shutdown()
    cluster.shutdown()


def test_pools_scale_up_from_zero_run_the_job_and_scale_down(autoscaling, shared_data, test_weights, tmp_path):
    import threading

    assert _alive_pools() == set() and len([n for n in ray.nodes() if n["Alive"]]) == 1
    cfg = run_config.load(
        ROOT / "jobs" / "cluster.toml",
        TEST_SETTINGS
        + [
            f"models.weights={test_weights}",
            "models.max_people=2",
            "decode.stop=1",
            "decode.num_cpus=1",
            *[
                f"{r}.{k}"
                for r in ("detector", "pose", "sam")
                for k in ("num_gpus=0.5", "num_cpus=0.5", "device=cpu", "precision=fp32", "max_size=1")
            ],
        ],
    )
    # two stages (iterations 1 and 2) per pool, each half of the pool node's one (fake) GPU and CPU
    seen: set = set()
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            seen.update(_alive_pools())
            time.sleep(0.5)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    result: dict = {}
    job = threading.Thread(
        target=lambda: result.update(
            s=run(
                [str(shared_data / "videos" / "mmpose_demo.mp4"), str(shared_data / "images" / "coco")],
                str(tmp_path),
                cfg,
            )
        ),
        daemon=True,
    )
    job.start()
    job.join(timeout=480)
    stop.set()
    t.join()
    assert "s" in result, f"the job did not finish in 8 minutes; pools seen: {sorted(seen)}"
    s = result["s"]
    assert seen == {"pool_decode", "pool_det", "pool_pose", "pool_sam"}
    assert (s.ok, s.failed, s.frames) == (5, 0, 5)
    m = pd.read_parquet(tmp_path / "videos.parquet")
    assert (m.frames_written == m.frames_decoded).all() and m.frames_written.sum() == 5

    deadline = time.time() + 180
    while time.time() < deadline and _alive_pools():
        time.sleep(2)
    assert _alive_pools() == set(), "idle worker nodes were not removed"
