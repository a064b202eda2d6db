"""cluster.yaml passes Ray's own cluster-config validation, and it, the KubeRay manifest and the
pipeline's cluster run config agree on the pools."""

import json
from pathlib import Path

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from bmp_ray.pipeline import config as run_config

ROOT = Path(__file__).resolve().parents[1]
ROLES = ("decode", "detector", "pose", "sam")


@pytest.fixture(scope="module")
def cluster():
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


@pytest.fixture(scope="module")
def run_cfg():
    return run_config.load(ROOT / "jobs" / "cluster.toml")


def test_cluster_yaml_is_a_valid_ray_cluster_config(cluster):
    validate_config(prepare_config(cluster))  # what `ray up` does first
    broken = {**cluster, "available_node_types": {**cluster["available_node_types"], "gpu_sam": {"resources": {}}}}
    with pytest.raises(Exception, match="node_config"):
        validate_config(prepare_config(broken))  # the validation can fail


def test_head_does_no_work_and_every_pool_starts_empty(cluster):
    types = cluster["available_node_types"]
    assert types[cluster["head_node_type"]]["resources"] == {"CPU": 0}
    workers = {k: v for k, v in types.items() if k != cluster["head_node_type"]}
    assert all(v["min_workers"] == 0 and v["max_workers"] >= 1 for v in workers.values())
    assert cluster["idle_timeout_minutes"] > 0 and cluster["upscaling_speed"] > 0


def test_every_stage_pool_is_one_node_type(cluster, run_cfg):
    types = cluster["available_node_types"]
    for role in ROLES:
        pool = getattr(run_cfg, role).pool
        owners = [name for name, t in types.items() if pool in t.get("resources", {})]
        assert len(owners) == 1, f"{role}: pool {pool!r} is a resource of {owners}"
    assert run_cfg.sam.num_gpus >= 1 and run_cfg.detector.num_gpus > 0 and run_cfg.pose.num_gpus > 0


def test_kuberay_groups_carry_the_same_pools(cluster, run_cfg):
    job = yaml.safe_load((ROOT / "jobs" / "kuberay.yaml").read_text())
    spec = job["spec"]["rayClusterSpec"]
    assert spec["autoscalerOptions"]["version"] == "v2" and spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    pools = {}
    for g in spec["workerGroupSpecs"]:
        assert g["minReplicas"] == 0
        pools.update({p: g["groupName"] for p in json.loads(json.loads(g["rayStartParams"]["resources"]))})
    assert {getattr(run_cfg, r).pool for r in ROLES} == set(pools)
    yaml_pools = {p for t in cluster["available_node_types"].values() for p in t.get("resources", {}) if p.startswith("pool_")}
    assert yaml_pools == set(pools)
