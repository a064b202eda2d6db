"""Coordinator actors: Ray Data's executor off the driver, receipts handed over in batches."""

import functools
import json
import time

import numpy as np
import pytest
import ray

from bmp_ray.errors import ConfigError
from bmp_ray.pipeline import config as C
from bmp_ray.pipeline import coordinator
from bmp_ray.pipeline.parts import RECEIPT_COLUMNS


def test_shares_add_up_and_differ_by_at_most_one():
    for n in range(1, 12):
        for k in range(1, n + 1):
            got = [coordinator.share(n, k, i) for i in range(k)]
            assert sum(got) == n and max(got) - min(got) <= 1 and min(got) >= 1


def test_split_gives_each_coordinator_a_share_of_every_pool():
    cfg = C.load(
        overrides=[
            "output.coordinators=3",
            "detector.min_size=1",
            "detector.max_size=5",
            "pose.min_size=4",
            "pose.max_size=4",
            "pose.initial_size=4",
            "sam.max_size=3",
        ]
    )
    parts = [coordinator.split(cfg, 3, i) for i in range(3)]
    assert [p.detector.max_size for p in parts] == [2, 2, 1]
    assert [p.detector.min_size for p in parts] == [1, 1, 1]  # every coordinator needs one actor
    assert [(p.pose.min_size, p.pose.max_size, p.pose.initial_size) for p in parts] == [(2, 2, 2), (1, 1, 1), (1, 1, 1)]
    assert sum(p.sam.max_size for p in parts) == 3
    assert all(p.bmp == cfg.bmp and p.decode == cfg.decode and p.track == cfg.track for p in parts)
    assert {p.output.coordinators for p in parts} == {1} and {p.output.part_frames for p in parts} == {64}
    assert coordinator.split(cfg, 1, 0) is cfg


def test_more_coordinators_than_a_pool_can_share_are_refused():
    with pytest.raises(ConfigError, match=r"sam.max_size: expected an integer >= output.coordinators \(2\).*got 1"):
        C.load(overrides=["output.coordinators=2", "detector.max_size=2", "pose.max_size=2"])
    with pytest.raises(ConfigError, match="output.coordinators: expected an integer >= 1, got 0"):
        C.load(overrides=["output.coordinators=0"])


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


def _receipts(batch, fail_at=None):
    ids = batch["id"]
    if fail_at is not None and fail_at in ids:
        raise ValueError(f"boom at row {fail_at}")
    n = len(ids)
    return {
        "kind": np.array(["part"] * n),
        "name": np.array([f"seg{i // 10}" for i in ids]),
        "video_id": np.array(["v"] * n),
        "path": np.array([f"p{i}" for i in ids]),
        "frames": np.array([json.dumps([int(i)]) for i in ids]),
        "rows": ids.astype(np.int64),
        "bytes": np.ones(n, np.int64),
        "summary": np.array([""] * n),
    }


def _dataset(n, fail_at=None):
    return ray.data.range(n, override_num_blocks=5).map_batches(
        _receipts, fn_kwargs={"fail_at": fail_at}, batch_size=7, batch_format="numpy"
    )


def test_coordinators_hand_every_receipt_to_the_driver_once(local_ray):
    from ray._private import state

    got: list[dict] = []
    actors = coordinator.start([functools.partial(_dataset, 50), functools.partial(_dataset, 30)])
    try:
        reports = coordinator.drain(actors, got.extend)
        here = ray.get_runtime_context().get_node_id()
        mine = [a for a in state.actors().values() if a["ActorClassName"] == "Coordinator" and a["State"] == "ALIVE"]
        assert len(mine) == 2 and {a["Address"]["NodeID"] for a in mine} == {here}  # on the driver's node
    finally:
        coordinator.stop(actors)
    assert sorted(r["path"] for r in got) == sorted([f"p{i}" for i in range(50)] + [f"p{i}" for i in range(30)])
    assert set(got[0]) == set(RECEIPT_COLUMNS) and isinstance(got[0]["rows"], int)
    assert len(reports) == 2 and all(r["cpu_s"] > 0 and r["peak_rss_mb"] > 0 for r in reports)


def test_a_pipeline_error_reaches_the_driver_after_the_receipts_before_it(local_ray):
    from ray._private import state

    got: list[dict] = []
    with pytest.raises(Exception, match="boom at row 33"):
        coordinator.run([functools.partial(_dataset, 50, 33)], got.extend)
    assert all(json.loads(r["frames"])[0] != 33 for r in got)
    deadline, alive = time.time() + 20, [None]
    while alive and time.time() < deadline:  # ray.kill takes effect asynchronously
        alive = [a for a in state.actors().values() if a["ActorClassName"] == "Coordinator" and a["State"] == "ALIVE"]
        time.sleep(0.2)
    assert not alive  # stopped on the error too
