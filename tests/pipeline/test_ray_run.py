"""The Ray pipeline on a local Ray: equal to the single-process path, also when an actor is killed."""

import os
import signal
import threading
import time

import pytest
import ray

from bmp_ray.pipeline.runner import run
from tests.pipeline.conftest import assert_same_output


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


def test_ray_output_equals_the_single_process_output(local_ray, local_reference, mixed_inputs, small_config,
                                                     tmp_path):
    ref, ref_summary = local_reference
    s = run([str(mixed_inputs)], str(tmp_path), small_config)
    assert (s.ok, s.failed, s.frames, s.people) == (ref_summary.ok, ref_summary.failed, ref_summary.frames,
                                                   ref_summary.people)
    assert_same_output(ref, tmp_path)


def _kill_first(stage: str, killed: dict) -> None:
    """SIGKILL the first live actor of ``stage`` as soon as it exists (the run is then mid-way)."""
    from ray._private import state

    deadline = time.time() + 120
    while time.time() < deadline:
        for actor_id, a in state.actors().items():
            if stage in a["ActorClassName"] and a["State"] == "ALIVE" and a["Pid"]:
                os.kill(a["Pid"], signal.SIGKILL)
                killed.update(actor_id=actor_id, pid=a["Pid"])
                return
        time.sleep(0.2)


def test_a_killed_actor_is_restarted_and_the_output_is_unchanged(local_ray, local_reference, mixed_inputs,
                                                                 small_config, tmp_path):
    from ray._private import state

    killed: dict = {}
    t = threading.Thread(target=_kill_first, args=("Pose1", killed), daemon=True)
    t.start()
    s = run([str(mixed_inputs)], str(tmp_path), small_config)
    t.join(5)
    assert killed, "no Pose1 actor was seen alive"
    assert state.actors()[killed["actor_id"]]["NumRestarts"] >= 1
    assert s.failed == 3 and s.ok == 3
    assert_same_output(local_reference[0], tmp_path)
