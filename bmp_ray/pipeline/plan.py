"""What a run has to do: the work items (one per video segment), the run's identity, and what is left
after an earlier run into the same folder.

Videos are cut into segments of ``decode.segment_frames`` source frames (probed in parallel: Ray tasks
on a cluster, threads in one process). A segment is committed when its ``frames`` file exists; a video
is done when its marker (``commit.marker_uri``) exists with every segment committed. A rerun plans only
the segments that are not committed, and finalizes videos that lack only their marker; videos whose
marker says ok are not probed again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping, Sequence

from bmp_ray.errors import CheckpointError, VideoError
from bmp_ray.export.parquet import output_name
from bmp_ray.models import registry
from bmp_ray.models.weights import resolve, sha256_of
from bmp_ray.pipeline.config import RunConfig, dumps
from bmp_ray.pipeline.ledger import USABLE
from bmp_ray.video import Sampling, Segment, Source, list_inputs, probe, split_segments
from bmp_ray.video.segments import OPEN_END

log = logging.getLogger(__name__)
PROBE_CHUNK = 64  # inputs probed per Ray task


@dataclasses.dataclass(frozen=True)
class WorkItem:
    """One video segment to process; ``name`` is its output file stem (video stem + frame range).

    ``error`` is set when the input failed before decoding (its probe failed).
    """

    source: Source
    segment: Segment
    sampling: Sampling
    name: str
    error: str | None = None


@dataclasses.dataclass
class Plan:
    """The work of one run.

    Attributes:
        items: the segments to process, in input order.
        videos: video id -> the names of all its segments, for every video this run finalizes.
        paths: video id -> input URI, for every input of the run.
        skipped: segments committed by earlier runs (not processed again).
    """

    items: list[WorkItem]
    videos: dict[str, list[str]]
    paths: dict[str, str]
    skipped: int = 0


def sampling_of(config: RunConfig) -> Sampling:
    d = config.decode
    return Sampling(stride=d.stride, target_fps=d.target_fps, start=d.start, stop=d.stop)


_WHOLE = Segment(0, 1, 0, OPEN_END)


def _segments(src: Source, segment_frames: int) -> list[Segment] | str:
    """The segments of one input, or the probe's error message."""
    if src.kind == "image":
        return [Segment(0, 1, 0, 1)]
    if not segment_frames:
        return [_WHOLE]
    try:
        return split_segments(probe(src.uri), segment_frames)
    except VideoError as exc:
        return str(exc)
    except Exception as exc:  # one input's failure must not stop the plan
        return f"{src.uri}: probe failed: {type(exc).__name__}: {exc}"


def _segments_chunk(sources: list[Source], segment_frames: int) -> list[list[Segment] | str]:
    return [_segments(s, segment_frames) for s in sources]


def probe_all(sources: Sequence[Source], config: RunConfig, use_ray: bool) -> list[list[Segment] | str]:
    """``_segments`` of every source: Ray tasks of ``PROBE_CHUNK`` inputs (``use_ray``, Ray
    initialized) or a thread pool; results in input order."""
    n = config.decode.segment_frames
    if not sources:
        return []
    if use_ray:
        import ray

        opts = {"num_cpus": config.decode.num_cpus, "max_retries": 3}
        if config.decode.pool:
            opts["resources"] = {config.decode.pool: 0.001}
        task = ray.remote(_segments_chunk).options(**opts)
        chunks = [list(sources[i : i + PROBE_CHUNK]) for i in range(0, len(sources), PROBE_CHUNK)]
        return [seg for part in ray.get([task.remote(c, n) for c in chunks]) for seg in part]
    with ThreadPoolExecutor(min(8, len(sources))) as pool:
        return list(pool.map(lambda s: _segments(s, n), sources))


def make_plan(
    inputs: Sequence[str],
    config: RunConfig,
    *,
    committed: set[str] = frozenset(),
    markers: Mapping[str, dict] | None = None,
    fingerprint: str | None = None,
    use_ray: bool = False,
) -> Plan:
    """The plan of ``inputs`` (files, folders, globs, URLs) against what the folder holds already:
    ``committed`` segment names and video ``markers`` (``commit.read_markers``)."""
    sampling = sampling_of(config)
    markers = markers or {}
    sources = list_inputs(inputs)
    paths = {s.video_id: s.uri for s in sources}
    plan = Plan([], {}, paths)
    to_probe = []
    for src in sources:
        m = markers.get(src.video_id)
        if (
            m
            and m["row"]["status"] in USABLE
            and m.get("fingerprint") == fingerprint
            and all(n in committed for n in m["segments"])
        ):
            plan.skipped += len(m["segments"])  # done: not even probed
        else:
            to_probe.append(src)
    for src, segs in zip(to_probe, probe_all(to_probe, config, use_ray)):
        stem = output_name(src.video_id)
        if isinstance(segs, str):
            item = WorkItem(src, _WHOLE, sampling, stem + _WHOLE.suffix, segs)
            plan.items.append(item)
            plan.videos[src.video_id] = [item.name]
            continue
        if src.kind == "image" or segs == [_WHOLE]:
            parts = [(seg, sampling) for seg in segs]
        else:
            parts = [(seg, sampling.restrict(seg.start, seg.stop)) for seg in segs]
            parts = [(seg, part) for seg, part in parts if not part.empty] or parts[:1]  # one per input at least
        names = [stem + seg.suffix for seg, _ in parts]
        plan.videos[src.video_id] = names
        for (seg, part), name in zip(parts, names):
            if name in committed:
                plan.skipped += 1
            else:
                plan.items.append(WorkItem(src, seg, part, name))
    return plan


def checkpoints(config: RunConfig) -> dict[str, dict]:
    """Per role, the model name, checkpoint file and sha256 (resolving, and downloading if needed, on
    the driver, so that a missing checkpoint stops the run before any work starts)."""
    out = {}
    m = config.models
    for role in ("detector", "pose", "sam"):
        spec = registry.get(m.name(role), role)
        if spec.test_variant and m.weights is None:
            raise CheckpointError(
                f"{spec.name} is a test variant with random weights: write them with "
                "`bmp-ray weights synth --out DIR` and pass --weights DIR"
            )
        path = resolve(spec.checkpoint, m.weights, offline=m.offline or None)
        out[role] = {"model": spec.name, "file": str(path), "sha256": sha256_of(path)}
    return out


def run_metadata(config: RunConfig, models: dict[str, dict]) -> dict:
    """The run's metadata written into every file, with a fingerprint of what determines the results
    (``run_record``)."""
    return {
        "config": json.loads(dumps(config)),
        "models": models,
        "fingerprint": fingerprint_of(run_record(config, models)),
    }


def fingerprint_of(record: Mapping) -> str:
    """16 hex digits of the sha256 of a run record (``run_record``; a ``fingerprint`` key is left out)."""
    decisive = {k: v for k, v in record.items() if k != "fingerprint"}
    return hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()[:16]


def run_record(config: RunConfig, models: dict[str, dict], fingerprint: str | None = None) -> dict:
    """What decides a run's results (models and their hashes, BMP settings, sampling, segment length,
    working resolution, frame transport, SAM embedding precision, tracker settings; not resources or
    batch sizes): hashed into the fingerprint, and with it the folder's run file."""
    record = {
        "bmp": config.bmp.to_dict(),
        "sampling": dataclasses.asdict(sampling_of(config)),
        "segment_frames": config.decode.segment_frames,
        "track": dataclasses.asdict(config.track),
        "models": {r: {"model": v["model"], "sha256": v["sha256"]} for r, v in models.items()},
    }
    if config.decode.max_side:  # only when set: the fingerprints of full-resolution runs stay as they were
        record["max_side"] = config.decode.max_side
    if config.decode.frame_transport != "rgb":  # likewise
        record["frame_transport"] = config.decode.frame_transport
    if config.models.sam_transport != "fp32":  # likewise
        record["sam_transport"] = config.models.sam_transport
    return record if fingerprint is None else {**record, "fingerprint": fingerprint}
