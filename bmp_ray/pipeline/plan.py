"""What a run has to do: the work items (one per video or video segment), the run's identity, and resume.

A work item's output is complete when its ``frames`` file exists (it is written, atomically, after the
``poses`` file). Each ``frames`` file carries the item's decode summary (``bmp_ray.segment``) and the
run's fingerprint (``bmp_ray.fingerprint``): a rerun into the same folder skips complete items, and
refuses to mix in results of a different configuration or different weights.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from typing import Sequence

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from bmp_ray.errors import CheckpointError, ConfigError, VideoError
from bmp_ray.export.parquet import output_name
from bmp_ray.models import registry
from bmp_ray.models.weights import resolve, sha256_of
from bmp_ray.pipeline.config import RunConfig, dumps
from bmp_ray.video import Sampling, Segment, Source, list_inputs, probe, split_segments
from bmp_ray.video.sources import filesystem, join_uri

log = logging.getLogger(__name__)
SEGMENT_KEY = b"bmp_ray.segment"
FINGERPRINT_KEY = b"bmp_ray.fingerprint"


@dataclasses.dataclass(frozen=True)
class WorkItem:
    """One video (or segment of one) to process; ``name`` is its deterministic output file stem.

    ``error`` is set when the input failed before decoding (e.g. the probe for segmenting failed).
    """

    source: Source
    segment: Segment
    sampling: Sampling
    name: str
    error: str | None = None


def sampling_of(config: RunConfig) -> Sampling:
    d = config.decode
    return Sampling(stride=d.stride, target_fps=d.target_fps, start=d.start, stop=d.stop)


def make_plan(inputs: Sequence[str], config: RunConfig) -> list[WorkItem]:
    """The work items of ``inputs`` (files, folders, globs, URLs), in input order.

    Without ``decode.segment_frames`` no file is opened here (the decode tasks probe); with it, each
    video is probed to cut it into segments, and a failed probe is an item with ``error`` set.
    """
    sampling = sampling_of(config)
    items = []
    for src in list_inputs(inputs):
        if not config.decode.segment_frames or src.kind == "image":
            items.append(WorkItem(src, Segment(0, 1, 0, 2**31 - 1), sampling, output_name(src.video_id)))
            continue
        try:
            segments = split_segments(probe(src.uri), config.decode.segment_frames)
        except VideoError as exc:
            items.append(WorkItem(src, Segment(0, 1, 0, 2**31 - 1), sampling, output_name(src.video_id), str(exc)))
            continue
        parts = [(seg, sampling.restrict(seg.start, seg.stop)) for seg in segments]
        kept = [(seg, part) for seg, part in parts if not part.empty] or parts[:1]  # one item per input at least
        items += [WorkItem(src, seg, part, output_name(src.video_id, seg.suffix)) for seg, part in kept]
    return items


def checkpoints(config: RunConfig) -> dict[str, dict]:
    """Per role, the model name, checkpoint file and sha256 (resolving, and downloading if needed, on
    the driver, so that a missing checkpoint stops the run before any work starts)."""
    out = {}
    m = config.models
    for role in ("detector", "pose", "sam"):
        spec = registry.get(m.name(role), role)
        if spec.test_variant and m.weights is None:
            raise CheckpointError(f"{spec.name} is a test variant with random weights: write them with "
                                  "`bmp-ray weights synth --out DIR` and pass --weights DIR")
        path = resolve(spec.checkpoint, m.weights, offline=m.offline or None)
        out[role] = {"model": spec.name, "file": str(path), "sha256": sha256_of(path)}
    return out


def run_metadata(config: RunConfig, models: dict[str, dict]) -> dict:
    """The run's metadata written into every file, with a fingerprint of what determines the results
    (models and their hashes, BMP settings, sampling; not resources or batch sizes)."""
    decisive = {"bmp": config.bmp.to_dict(), "sampling": dataclasses.asdict(sampling_of(config)),
                "models": {r: {"model": v["model"], "sha256": v["sha256"]} for r, v in models.items()}}
    fingerprint = hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()[:16]
    return {"config": json.loads(dumps(config)), "models": models, "fingerprint": fingerprint}


def completed(out: str, fingerprint: str) -> dict[str, dict]:
    """Complete items already in ``out``: output name -> the item's decode summary.

    Raises:
        ConfigError: a complete file was written by a run with another fingerprint.
    """
    fs, path = filesystem(out)
    folder = join_uri(path, "frames")
    try:
        infos = fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--out {out!r}: cannot list {folder}: {exc}") from exc
    done = {}
    for info in infos:
        if info.type != pafs.FileType.File or not info.base_name.endswith(".parquet") \
                or info.base_name.startswith("."):
            continue
        md = pq.read_schema(info.path, filesystem=fs).metadata or {}
        theirs = md.get(FINGERPRINT_KEY, b"").decode()
        if theirs != fingerprint:
            raise ConfigError(
                f"--out {out!r} holds {info.base_name}, written with other models, weights, BMP settings or "
                f"sampling (fingerprint {theirs or 'none'}, this run {fingerprint}); use a new --out folder, "
                "or delete that folder to start over")
        done[info.base_name[:-len(".parquet")]] = json.loads(md.get(SEGMENT_KEY, b"{}"))
    return done
