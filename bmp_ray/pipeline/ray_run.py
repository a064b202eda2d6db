"""The Ray Data pipeline: work items -> decode tasks -> per iteration the detector, pose and SAM actor
pools -> part writer tasks -> receipts, collected by coordinator actors (``pipeline.coordinator``, which
run Ray Data's executor off the driver) -> the driver's ``Sink`` (which commits segments and finalizes
videos with Ray tasks).

Ray Data's streaming executor does the scheduling, backpressure, retries (a killed actor is restarted
and its batch retried: ``max_restarts`` / ``max_task_retries`` are -1 for map actors) and the progress
bars. Each model stage has its own ``ActorPoolStrategy``, resources and pool pin from the config.
"""

from __future__ import annotations

import functools
import logging
import pickle
from typing import Sequence

from bmp_ray.pipeline.config import RunConfig
from bmp_ray.pipeline.parts import write_parts
from bmp_ray.pipeline.plan import WorkItem
from bmp_ray.pipeline.sink import RayTasks, Sink
from bmp_ray.pipeline.stages import DetectStage, PoseStage, SamStage, decode_rows, operator_name

log = logging.getLogger(__name__)
_STAGES = (DetectStage, PoseStage, SamStage)
# Ray Data merges a task's outputs into blocks of up to 128 MiB by default: a whole 240p video (100
# frames) became one block, so each stage waited for the whole video from the stage before it and the
# stages hardly overlapped. Blocks of about 1 MiB stream one frame batch at a time (a larger batch is
# sliced into frames and the next actor stage bundles ``batch_size`` rows again).
BLOCK_BYTES = 1 << 20


def cpu_task_options(config: RunConfig) -> dict:
    """Resources of the output stage's CPU tasks (part writers, commits, finalizes): the decode pool's."""
    opts: dict = {"num_cpus": config.decode.num_cpus}
    if config.decode.pool:
        opts["resources"] = {config.decode.pool: 0.001}
    return opts


def build_dataset(items: Sequence[WorkItem], config: RunConfig, out: str | None = None):
    """The lazy Ray ``Dataset`` for ``items``: result rows (name, frame_index, summary, result), or with
    ``out`` the part writers' receipts (``parts.RECEIPT_COLUMNS``)."""
    import ray

    context = ray.data.DataContext.get_current()
    default = context.target_max_block_size
    context.target_max_block_size = BLOCK_BYTES  # a dataset keeps the context it was made under
    try:
        ds = ray.data.from_items([{"item": pickle.dumps(i)} for i in items], override_num_blocks=len(items))
        ds = ds.map_batches(decode_rows, fn_kwargs={"config": config}, **config.decode.remote_args())
        for it in range(1, config.bmp.iterations + 1):
            for cls in _STAGES:
                named = type(operator_name(cls, it), (cls,), {"__module__": cls.__module__})  # the operator's name
                ds = ds.map_batches(
                    named,
                    fn_constructor_kwargs={"config": config, "iteration": it},
                    batch_format="pyarrow",  # untouched columns pass on as they are (``columns``)
                    **getattr(config, cls.role).remote_args(),
                )
        if out is not None:
            ds = ds.map_batches(
                write_parts,
                fn_kwargs={"out": out},
                batch_size=config.output.part_frames,
                batch_format="numpy",
                **cpu_task_options(config),
            )
    finally:
        context.target_max_block_size = default
    return ds


def run_ray(items: Sequence[WorkItem], config: RunConfig, sink: Sink) -> dict:
    """Run ``items`` through the Ray pipeline (Ray initialized: ``init_ray``); receipts go to ``sink``.

    The datasets run in ``output.coordinators`` coordinator actors (``pipeline.coordinator``), each
    over every K-th item with its share of every model pool; the driver only feeds ``sink``.

    Returns:
        the bytes each operator put into the object store (``{operator: bytes}``, from Ray Data's
        execution stats, summed over the coordinators; empty when Ray does not provide them).
    """
    from bmp_ray.pipeline import coordinator

    k = min(config.output.coordinators, len(items))
    builds = [
        functools.partial(build_dataset, items[i::k], coordinator.split(config, k, i), sink.out) for i in range(k)
    ]
    reports = coordinator.run(builds, sink.receive)
    sink.close()
    stats: dict[str, int] = {}
    for r in reports:
        for op, n in r["object_store_bytes"].items():
            stats[op] = stats.get(op, 0) + n
    return stats


def quiet_ray_data() -> None:
    """Ray Data's per-operator progress bars and its notices (memory per worker, ...) only when bmp_ray
    logs at DEBUG (``bmp-ray -v``): the run's own progress line is the display (``pipeline.progress``).
    Ray Data writes everything to its own log file too (``/tmp/ray/session_latest/logs/ray-data.log``)."""
    import ray.data

    verbose = logging.getLogger("bmp_ray").isEnabledFor(logging.DEBUG)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = verbose
    ctx.enable_operator_progress_bars = verbose
    logging.getLogger("ray.data").setLevel(logging.INFO if verbose else logging.ERROR)


def ray_executor(config: RunConfig) -> RayTasks:
    import ray

    cpus = int(ray.cluster_resources().get("CPU", 2))
    return RayTasks(cpu_task_options(config), max_in_flight=max(2, cpus))


def operator_bytes(ds) -> dict[str, int]:
    """Output bytes of each operator of an executed dataset (Ray Data's developer API: best effort)."""
    try:
        out: dict[str, int] = {}
        todo = [ds.get_stats_summary()]
        while todo:  # each summary holds its last operators; earlier ones sit in its parents
            summary = todo.pop()
            for op in summary.operators_stats:
                if op.output_size_bytes:
                    out[op.operator_name] = int(op.output_size_bytes.sum)
            todo += summary.parents
        return dict(reversed(out.items()))  # pipeline order
    except Exception as exc:  # the stats layout is not a public API
        log.debug("no Ray Data stats: %s", exc)
        return {}
