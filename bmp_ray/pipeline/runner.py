"""One run: check the output folder (run file, lock, leftovers), plan what is left, process it (Ray or
one process) through the part writers, commits and finalizes, write the manifest, and summarise."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Sequence

from bmp_ray.export.parquet import write_manifest
from bmp_ray.pipeline import preflight
from bmp_ray.pipeline.commit import read_markers
from bmp_ray.pipeline.config import RunConfig
from bmp_ray.pipeline.ledger import USABLE, Ledger
from bmp_ray.pipeline.outdir import OutputFolder
from bmp_ray.pipeline.plan import Plan, checkpoints, make_plan, run_metadata, run_record
from bmp_ray.pipeline.progress import Progress
from bmp_ray.pipeline.sink import InProcess, Sink

log = logging.getLogger(__name__)
_STOPPED = "not processed (the run stopped before this input was finished); rerun the same command"


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """What a run did. ``frames``/``people``/``seconds`` count this run's work only; ``skipped`` counts
    segments committed by earlier runs, ``segments`` those this run processed; ``inputs``/``ok``/
    ``failed`` are over this run's inputs."""

    inputs: int
    ok: int
    failed: int
    skipped: int
    frames: int
    people: int
    seconds: float
    out: str
    object_store_bytes: dict = dataclasses.field(default_factory=dict)  # per Ray Data operator (Ray runs)
    first_result_s: float | None = None  # seconds from the start to the first receipt
    segments: int = 0
    errors: dict = dataclasses.field(default_factory=dict)  # video id -> its one-line error (failed inputs)
    partial: list = dataclasses.field(default_factory=list)  # ok inputs with decode problems (status partial)

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "frames_per_s": round(self.frames_per_s, 3)}


def manifest_rows(markers: dict[str, dict], plan: Plan | None) -> list[dict]:
    """Every video the folder holds (its marker's row), and this run's inputs without a marker as
    error rows; sorted by video id."""
    rows = {vid: m["row"] for vid, m in markers.items()}
    for vid, path in plan.paths.items() if plan else ():
        rows.setdefault(
            vid,
            {
                "video_id": vid,
                "path": path,
                "status": "error",
                "error": _STOPPED,
                "frames_decoded": 0,
                "frames_written": 0,
            },
        )
    return [rows[v] for v in sorted(rows)]


def _progress(plan: Plan) -> Progress:
    return Progress(
        {i.name: i.segment.stop - i.segment.start for i in plan.items}, len({i.source.video_id for i in plan.items})
    )


def run(
    inputs: Sequence[str],
    out: str,
    config: RunConfig | None = None,
    *,
    address: str | None = None,
    use_ray: bool = True,
) -> RunSummary:
    """Process ``inputs`` (files, folders, globs, URLs) into the output folder ``out``.

    A rerun with the same ``out`` skips committed segments and redoes the rest; the manifest
    (``out/videos.parquet``, every input the folder holds) is written at the end, also when the run
    stops on an error (unfinished inputs are error rows then).

    Raises:
        OutputError: ``out`` is unusable, in use by another run, or holds results of other settings.
        ConfigError: a bad config value.
        CheckpointError: a model's weights are missing or wrong (checked on the driver first).
        ConfigError: also when a stage asks for resources no node of the cluster has
            (``preflight.check_resources``).
    """
    config = config or RunConfig()
    t0 = time.time()
    meta = run_metadata(config, checkpoints(config))
    preflight.check_checkpoints(config, meta["models"])
    folder = OutputFolder(out)
    out = folder.out
    folder.check_run(run_record(config, meta["models"], meta["fingerprint"]))
    folder.acquire()
    plan = None
    stats: dict = {}
    ledger = sink = None
    try:
        folder.clean()
        committed, markers = folder.committed(), read_markers(out)
        if use_ray:
            from bmp_ray.cluster import init_ray

            init_ray(address)
            preflight.check_resources(config)
        plan = make_plan(
            inputs, config, committed=committed, markers=markers, fingerprint=meta["fingerprint"], use_ray=use_ray
        )
        log.info(
            "%d segments to process from %d inputs; %d already committed in %s",
            len(plan.items),
            len(plan.paths),
            plan.skipped,
            out,
        )
        ledger = Ledger({i.name: i.source.video_id for i in plan.items}, plan.videos, committed)
        if use_ray:
            from bmp_ray.pipeline.ray_run import ray_executor, run_ray

            sink = Sink(out, meta, ledger, plan.paths, ray_executor(config), _progress(plan))
            if plan.items:
                stats = run_ray(plan.items, config, sink)
        else:
            from bmp_ray.pipeline.local import run_local

            sink = Sink(out, meta, ledger, plan.paths, InProcess(), _progress(plan))
            if plan.items:
                run_local(plan.items, config, sink)
        sink.close()
    finally:
        try:
            markers = read_markers(out)
            rows = manifest_rows(markers, plan)
            write_manifest(out, rows, meta)
        finally:
            folder.release()
    missing = ledger.open_segments() if ledger else []
    if missing:
        log.error("the pipeline ended without finishing %s", ", ".join(missing))
    mine = [r for r in rows if plan and r["video_id"] in plan.paths]
    ok = sum(r["status"] in USABLE for r in mine)
    partial = sorted(r["video_id"] for r in mine if r["status"] == "partial")
    first = sink.first_receipt if sink else None
    errors = {r["video_id"]: r.get("error") or r["status"] for r in mine if r["status"] not in USABLE}
    summary = RunSummary(
        len(mine),
        ok,
        len(mine) - ok,
        plan.skipped,
        ledger.frames,
        ledger.people,
        round(time.time() - t0, 3),
        out,
        stats,
        round(first - t0, 3) if first else None,
        len(plan.items),
        errors,
        partial,
    )
    log.info(
        "done: %d inputs ok, %d failed (%d segments skipped as committed); %d frames, %d people, %.2f frames/s",
        summary.ok,
        summary.failed,
        summary.skipped,
        summary.frames,
        summary.people,
        summary.frames_per_s,
    )
    for vid in partial:
        log.warning("partly decoded: %s (see its problems in videos.parquet)", vid)
    for vid, err in errors.items():
        log.error("failed: %s: %s", vid, err)
    return summary
