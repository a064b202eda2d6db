"""One run: plan the work, skip what ``out`` already holds, process the rest (Ray or one process),
write the manifest, and summarise."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Sequence

from bmp_ray.pipeline.config import RunConfig
from bmp_ray.pipeline.plan import checkpoints, completed, make_plan, run_metadata
from bmp_ray.pipeline.writer import ResultWriter

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """What a run did. ``frames``/``people``/``seconds`` count this run's work only (skipped items not)."""

    inputs: int
    ok: int
    failed: int
    skipped: int
    frames: int
    people: int
    seconds: float
    out: str
    object_store_bytes: dict = dataclasses.field(default_factory=dict)  # per Ray Data operator (Ray runs)
    first_result_s: float | None = None  # seconds from the start to the first frame result

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "frames_per_s": round(self.frames_per_s, 3)}


def run(inputs: Sequence[str], out: str, config: RunConfig | None = None, *, address: str | None = None,
        use_ray: bool = True) -> RunSummary:
    """Process ``inputs`` (files, folders, globs, URLs) into the output folder ``out``.

    A rerun with the same ``out`` skips the complete items; the manifest (``out/videos.parquet``) is
    written at the end, also when the run stops on an error (unfinished inputs are error rows then).

    Raises:
        ConfigError: bad config, or ``out`` holds results of a different configuration.
        CheckpointError: a model's weights are missing or wrong.
    """
    config = config or RunConfig()
    t0 = time.time()
    items = make_plan(inputs, config)
    meta = run_metadata(config, checkpoints(config))
    writer = ResultWriter(out, meta, items, completed(out, meta["fingerprint"]))
    todo = writer.todo
    skipped = len(items) - len(todo)
    stats: dict = {}
    log.info("%d work items from %d inputs; %d already complete in %s", len(items),
             len({i.source.video_id for i in items}), skipped, out)
    try:
        if todo and use_ray:
            from bmp_ray.pipeline.ray_run import run_ray

            stats = run_ray(todo, config, writer, address)
        elif todo:
            from bmp_ray.pipeline.local import run_local

            run_local(todo, config, writer)
    finally:
        rows = writer.write_manifest()
    missing = writer.incomplete()
    if missing:
        log.error("the pipeline ended without finishing %s", ", ".join(missing))
    ok = sum(r["status"] == "ok" for r in rows)
    summary = RunSummary(len(rows), ok, len(rows) - ok, skipped, writer.frames, writer.people,
                         round(time.time() - t0, 3), out, stats,
                         round(writer.first_result - t0, 3) if writer.first_result else None)
    log.info("done: %d inputs ok, %d failed (%d items skipped as complete); %d frames, %d people, %.2f frames/s",
             summary.ok, summary.failed, skipped, summary.frames, summary.people, summary.frames_per_s)
    return summary
