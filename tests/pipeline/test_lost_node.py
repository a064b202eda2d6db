"""A node lost mid-run (``Cluster.remove_node``, not graceful): Ray restarts its actors elsewhere and
re-executes lost blocks through lineage; the run ends with the output of an undisturbed run."""

import threading
import time

import pytest
import ray
from ray.cluster_utils import Cluster

from bmp_ray.pipeline import config as C
from bmp_ray.pipeline.runner import run
from tests.pipeline.conftest import assert_output_invariants
from tests.pipeline.test_output_faults import INPUTS


@pytest.fixture(scope="module")
def two_model_nodes():
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})  # decode and output tasks
    nodes = [cluster.add_node(num_cpus=1, resources={"pool_models": 1}) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="WARNING")
    yield cluster, nodes
    ray.shutdown()
    cluster.shutdown()


def test_a_node_lost_mid_run_changes_nothing(two_model_nodes, local_reference, mixed_inputs, small_config,
                                             tmp_path):
    from ray._private import state

    cluster, nodes = two_model_nodes
    cfg = C.RunConfig.from_dict({**small_config.to_dict(), **{
        role: {**getattr(small_config, role).__dict__, "pool": "pool_models"} for role in ("detector", "pose", "sam")}})
    lost: dict = {}

    def remove_a_busy_node():
        deadline = time.time() + 300
        while time.time() < deadline and not lost:
            busy = {a["Address"]["NodeID"] for a in state.actors().values() if a["State"] == "ALIVE"}
            frames = list((tmp_path / "frames").glob("*.parquet"))
            for node in nodes:
                if frames and node.node_id in busy:  # mid-run: a segment committed, actors on the node
                    cluster.remove_node(node, allow_graceful=False)
                    lost["node"] = node.node_id
                    return
            time.sleep(0.2)

    t = threading.Thread(target=remove_a_busy_node, daemon=True)
    t.start()
    s = run([str(mixed_inputs)], str(tmp_path), cfg)
    t.join(5)
    assert lost, "no node was removed mid-run"
    assert (s.ok, s.failed) == (3, 3)
    assert_output_invariants(tmp_path, local_reference[0], INPUTS)
