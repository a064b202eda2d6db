"""``bmp-ray track OUT``: track the videos of an existing output folder again, with the folder's
tracker settings or new ones, without running any model.

Only the ``[track]`` section may change. The folder's run file is rewritten first with the new settings
and fingerprint, then each video is tracked and its marker rewritten with that fingerprint (the two
tracks files, then the marker: ``pipeline.tracks``). A crash part-way leaves markers that do not match
the run file; the next ``bmp-ray track`` or ``bmp-ray run`` tracks those videos again. The same settings
give the same files, so it is idempotent. The folder's lock is held throughout, as a run holds it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Sequence

from bmp_ray.errors import ConfigError, OutputError
from bmp_ray.export import store
from bmp_ray.export.parquet import write_manifest
from bmp_ray.export.read import read_run
from bmp_ray.pipeline.commit import marker_uri, read_markers
from bmp_ray.pipeline.config import RunConfig
from bmp_ray.pipeline.outdir import RUN_FILE, OutputFolder
from bmp_ray.pipeline.plan import fingerprint_of
from bmp_ray.pipeline.runner import manifest_rows
from bmp_ray.pipeline.tracks import track_committed
from bmp_ray.settings import merged
from bmp_ray.track import TrackConfig

log = logging.getLogger(__name__)


def track_settings(folder_track: dict, config_path: str | None, overrides: Sequence[str]) -> TrackConfig:
    """The folder's ``[track]`` settings <- a config file's ``[track]`` section (its other sections are
    ignored: the run's own config file can be given) <- ``--set track.*``.

    Raises:
        ConfigError: an override of another section (only the tracker can change here), or a bad value.
    """
    wrong = [o for o in overrides if not o.strip().startswith("track.")]
    if wrong:
        raise ConfigError(
            f"bmp-ray track changes only [track] settings; got --set {wrong[0]} (to change the "
            "others, run `bmp-ray run` into a new --out folder)"
        )
    d = merged(config_path, overrides, {})
    return RunConfig.from_dict({"track": {**folder_track, **d.get("track", {})}}).track


def retrack(
    out: str, *, config_path: str | None = None, overrides: Sequence[str] = (), videos: Sequence[str] | None = None
) -> dict:
    """Track ``out``'s videos (all, or those in ``videos``) again. Returns a summary dict: videos, tracks,
    rows, seconds, fingerprint.

    Raises:
        OutputError: ``out`` is not an output folder, is in use by a run, or names unknown videos.
        ConfigError: a bad tracker setting, or an override of another section.
    """
    t0 = time.time()
    folder = OutputFolder(out)
    out = folder.out
    run_uri = folder.uri(RUN_FILE)
    run = read_run(out)
    if not run["record"]:
        raise OutputError(
            f"{out!r}: no {RUN_FILE}: not an output folder of `bmp-ray run` (give the --out folder of a run)"
        )
    record = run["record"]
    cfg = track_settings(record.get("track", {}), config_path, overrides)
    record = {**record, "track": dataclasses.asdict(cfg)}
    record["fingerprint"] = fingerprint_of(record)
    markers = read_markers(out)
    chosen = sorted(markers) if videos is None else list(videos)
    unknown = [v for v in chosen if v not in markers]
    if unknown:
        raise OutputError(
            f"{out!r} has no finalized video {unknown[0]!r} (it has {len(markers)}: "
            f"{', '.join(sorted(markers)[:5])}{' ...' if len(markers) > 5 else ''})"
        )
    folder.acquire()
    totals = {"videos": 0, "tracks": 0, "rows": 0}
    try:
        store.write_bytes(run_uri, json.dumps(record, sort_keys=True, indent=1).encode())
        committed = folder.committed()
        meta = {
            **run["meta"],
            "fingerprint": record["fingerprint"],
            "config": {**run["meta"].get("config", {}), "track": record["track"]},
        }
        for vid in chosen:
            m = markers[vid]
            names = [n for n in m["segments"] if n in committed]
            entry = track_committed(out, vid, names, cfg, meta)
            store.write_bytes(
                marker_uri(out, vid),
                json.dumps({**m, "fingerprint": record["fingerprint"], "tracks": entry}, sort_keys=True).encode(),
            )
            totals["videos"] += 1
            totals["tracks"] += entry["tracks"]
            totals["rows"] += entry["rows"]
        write_manifest(out, manifest_rows(read_markers(out), None), meta)
    finally:
        folder.release()
    log.info("tracked %d videos of %s again: %d tracks", totals["videos"], out, totals["tracks"])
    return {**totals, "seconds": round(time.time() - t0, 3), "fingerprint": record["fingerprint"]}
