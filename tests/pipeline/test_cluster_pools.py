"""Several Ray nodes (``ray.cluster_utils.Cluster``): each model stage runs only on its pool's nodes."""

import pytest
import ray
from ray.cluster_utils import Cluster

from bmp_ray.pipeline import config as C
from bmp_ray.pipeline.runner import run
from tests.pipeline.conftest import assert_same_output

POOLS = {"detector": "pool_det", "pose": "pool_pose", "sam": "pool_sam"}
STAGE_ROLE = {"Detect": "detector", "Pose": "pose", "Sam": "sam"}


@pytest.fixture(scope="module")
def pool_cluster():
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})  # decode tasks only
    nodes = {role: cluster.add_node(num_cpus=1, resources={pool: 1}) for role, pool in POOLS.items()}
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="WARNING")
    yield {role: n.node_id for role, n in nodes.items()}
    ray.shutdown()
    cluster.shutdown()


def test_each_stage_runs_on_its_pool_and_the_output_equals_one_node(
    pool_cluster, local_reference, mixed_inputs, small_config, tmp_path
):
    from ray._private import state

    cfg = C.RunConfig.from_dict(
        {
            **small_config.to_dict(),
            **{role: {**getattr(small_config, role).__dict__, "pool": pool} for role, pool in POOLS.items()},
        }
    )
    s = run([str(mixed_inputs)], str(tmp_path), cfg)
    assert (s.ok, s.failed) == (3, 3)
    placed = {}
    for a in state.actors().values():
        for stage, role in STAGE_ROLE.items():
            if f"({stage}" in a["ActorClassName"]:
                placed.setdefault(role, set()).add(a["Address"]["NodeID"])
    assert placed == {role: {node} for role, node in pool_cluster.items()}
    assert_same_output(local_reference[0], tmp_path)
