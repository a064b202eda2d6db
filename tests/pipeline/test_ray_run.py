"""The Ray pipeline on a local Ray: equal to the single-process path (with SAM v1 and with SAM 2.1), also
when an actor is killed."""

import os
import shutil
import signal
import threading
import time

import pytest
import ray

from bmp_ray.pipeline import config as run_config
from bmp_ray.pipeline.runner import run
from tests.pipeline.conftest import TEST_SETTINGS, assert_same_output


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def sam2_run(tmp_path_factory, test_weights, mixed_inputs):
    """The small config with the SAM 2.1 test variant as segmenter, and its single-process run:
    (config, (output folder, RunSummary))."""
    from bmp_ray.models.synth import synthesize

    weights = tmp_path_factory.mktemp("sam2-weights")
    shutil.copytree(test_weights, weights, dirs_exist_ok=True)
    synthesize(weights, ["sam2.1-tiny"])
    config = run_config.load(overrides=TEST_SETTINGS + [f"models.weights={weights}", "models.sam=sam2.1-tiny"])
    out = tmp_path_factory.mktemp("sam2-local-out")
    return config, (out, run([str(mixed_inputs)], str(out), config, use_ray=False))


@pytest.mark.parametrize("segmenter", ["sam-tiny", "sam2.1-tiny"])
def test_ray_output_equals_the_single_process_output(
    local_ray, mixed_inputs, small_config, tmp_path, request, segmenter
):
    if segmenter == "sam-tiny":
        config, (ref, ref_summary) = small_config, request.getfixturevalue("local_reference")
    else:
        config, (ref, ref_summary) = request.getfixturevalue("sam2_run")
    assert config.models.name("sam") == segmenter and ref_summary.people > 0
    s = run([str(mixed_inputs)], str(tmp_path), config)
    assert (s.ok, s.failed, s.frames, s.people) == (
        ref_summary.ok,
        ref_summary.failed,
        ref_summary.frames,
        ref_summary.people,
    )
    assert_same_output(ref, tmp_path)


def test_two_coordinators_share_the_work_and_equal_the_single_process_output(
    local_ray, mixed_inputs, small_config, tmp_path
):
    """``output.coordinators = 2``: two Ray Data executors, each over half of the segments with half of
    every pool (here one actor each), on the driver's node; the output is the single-process one.
    One BMP iteration and 0.1 CPU per actor, so that both coordinators' pools fit the 2 CPUs at once.
    Frames cross the stages at a working resolution as I420 planes (``decode.max_side``,
    ``decode.frame_transport``), the SAM embedding in half precision: both paths read the same frames."""
    from ray._private import state

    overrides = {
        "output": {**small_config.output.__dict__, "coordinators": 2},
        "bmp": {"iterations": 1},
        "decode": {**small_config.decode.__dict__, "max_side": 320, "frame_transport": "i420"},
        "models": {**small_config.models.__dict__, "sam_transport": "fp16"},
    }
    for role in ("detector", "pose", "sam"):
        overrides[role] = {**getattr(small_config, role).__dict__, "max_size": 2, "num_cpus": 0.1}
    config = run_config.RunConfig.from_dict({**small_config.to_dict(), **overrides})
    ref = run([str(mixed_inputs)], str(tmp_path / "local"), config, use_ray=False)
    before = set(state.actors())
    s = run([str(mixed_inputs)], str(tmp_path / "ray"), config)
    new = [a for k, a in state.actors().items() if k not in before]
    here = ray.get_runtime_context().get_node_id()
    coordinators = [a for a in new if a["ActorClassName"] == "Coordinator"]
    assert len(coordinators) == 2 and {a["Address"]["NodeID"] for a in coordinators} == {here}
    assert sum("Detect_1" in a["ActorClassName"] for a in new) == 2  # one detector actor per coordinator
    assert ref.people > 0 and (s.ok, s.failed, s.frames, s.people) == (3, 3, ref.frames, ref.people)
    assert_same_output(tmp_path / "local", tmp_path / "ray")


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


def test_a_killed_actor_is_restarted_and_the_output_is_unchanged(
    local_ray, local_reference, mixed_inputs, small_config, tmp_path
):
    from ray._private import state

    killed: dict = {}
    t = threading.Thread(target=_kill_first, args=("Pose_1", killed), daemon=True)
    t.start()
    s = run([str(mixed_inputs)], str(tmp_path), small_config)
    t.join(5)
    assert killed, "no Pose_1 actor was seen alive"
    assert state.actors()[killed["actor_id"]]["NumRestarts"] >= 1
    assert s.failed == 3 and s.ok == 3
    assert_same_output(local_reference[0], tmp_path)


def test_frames_stream_in_blocks_of_one_batch(local_ray, small_config, mixed_inputs):
    """A video is not one block (each stage would wait for the whole video): blocks hold one batch."""
    import dataclasses

    from bmp_ray.pipeline.plan import make_plan
    from bmp_ray.pipeline.ray_run import build_dataset

    config = dataclasses.replace(small_config, decode=dataclasses.replace(small_config.decode, stop=None))
    items = make_plan([str(mixed_inputs / "mmpose_demo.mp4")], config).items
    sizes = [len(b["frame_index"]) for b in build_dataset(items, config).iter_batches(batch_size=None)]
    assert sum(sizes) == 5 + 1  # its 5 frames and the end row
    assert max(sizes) <= config.sam.batch_size + 1 and len(sizes) >= 5 // config.sam.batch_size


def test_cpu_stage_actors_reuse_freed_memory(local_ray, test_weights):
    """The actor runs batches on a thread of its own: glibc's settings reach it through the environment
    the stage's actors start with."""
    import numpy as np
    import ray.data

    from bmp_ray.pipeline.config import StageResources

    class Embed:
        def __init__(self):
            from bmp_ray.models.segmenter import build_segmenter

            self.sam = build_segmenter("sam-tiny", weights=str(test_weights), device="cpu")

        def __call__(self, batch):
            import resource

            frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), np.uint8)
            self.sam.embed([frame])
            counts = []
            for _ in range(3):
                before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                self.sam.embed([frame])
                counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
            # The heap may still grow on the second call (measured: 0 to 33k pages, then 0 from the third):
            # the steady state is the fewest of three calls.
            return {"faults": [min(counts)]}

    def faults(reuse: bool) -> int:
        args = StageResources(reuse_memory=reuse, num_cpus=1).remote_args()
        return int(ray.data.range(1).map_batches(Embed, **args).take_all()[0]["faults"])

    default, reuse = faults(False), faults(True)
    assert default > 10 * reuse, (default, reuse)  # measured: 135k against 0 pages


def test_inputs_are_probed_in_ray_tasks_with_the_same_segments(local_ray, mixed_inputs, small_config):
    from bmp_ray.pipeline.plan import probe_all
    from bmp_ray.video import list_inputs

    sources = list_inputs([str(mixed_inputs)])
    assert probe_all(sources, small_config, use_ray=True) == probe_all(sources, small_config, use_ray=False)
