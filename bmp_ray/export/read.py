"""Stream an output folder video by video: its manifest row, its run, and its ``FrameResult`` s in frame order.

An archive's results do not fit in memory, so :func:`read_results` yields one :class:`VideoResults` per
video whose ``frames()`` reads that video's segments one at a time (one ``frames`` and one ``poses`` file
in memory at once). Which videos a folder holds and their segments come from the video markers
(``_videos/<stem>.json``, written when a video is finalized); inputs the manifest (``videos.parquet``)
names without a marker (a stopped run, a folder written with ``write_results``) get their segments from
a listing of ``frames/``. Track ids come from the video's ``tracks/<stem>.parquet`` (written when the
video is finalized or by ``bmp-ray track``; the poses files stay as committed) where it exists, else from
the poses table; ``-1`` where a person has none. Interpolated track rows (people hidden in a frame) are
not results and are not read here.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Iterator, Sequence

import pyarrow.compute as pc
import pyarrow.parquet as pq

from bmp_ray.errors import OutputError
from bmp_ray.export import store
from bmp_ray.export.parquet import output_name
from bmp_ray.export.schema import USABLE, apply_tracks, results_from_arrow
from bmp_ray.fs import filesystem, join_uri
from bmp_ray.result import FrameResult
from bmp_ray.video.sampling import Sampling

log = logging.getLogger(__name__)
RUN_FILE, VIDEOS, MANIFEST, TRACKS = "_run.json", "_videos", "videos.parquet", "tracks"


@dataclasses.dataclass(frozen=True)
class VideoResults:
    """One video of an output folder.

    Attributes:
        out: the output folder.
        video_id: the video's id (path relative to the archive root).
        row: its manifest row (``export.schema.manifest_schema`` columns: path, status, error, fps...).
        segments: its segment names (file stems under ``frames/`` and ``poses/``), in frame order.
    """

    out: str
    video_id: str
    row: dict
    segments: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Its frames are in the folder: status ``ok``, or ``partial`` (decoded with problems)."""
        return self.row.get("status") in USABLE

    def frames(self) -> Iterator[FrameResult]:
        """The video's frame results in frame order, one segment read at a time (missing segments,
        e.g. of a failed video, are skipped), with the track ids of ``tracks/<stem>.parquet`` where the
        video has that file (its detected rows; -1 for people it does not list), else the poses table's."""
        uri = join_uri(self.out, TRACKS, f"{output_name(self.video_id)}.parquet")
        tracks = _table(uri) if store.exists(uri) else None
        for name in self.committed:
            results = results_from_arrow(
                _table(join_uri(self.out, "frames", f"{name}.parquet")),
                _table(join_uri(self.out, "poses", f"{name}.parquet")),
            )
            if tracks is not None and results:
                f = tracks.column("frame_index")
                part = tracks.filter(
                    pc.and_(pc.greater_equal(f, results[0].frame_index), pc.less_equal(f, results[-1].frame_index))
                )
                results = apply_tracks(results, part)
            yield from results

    @property
    def committed(self) -> tuple[str, ...]:
        """The segments that have their files (a failed video may have some, or none)."""
        return tuple(n for n in self.segments if store.exists(join_uri(self.out, "frames", f"{n}.parquet")))

    @property
    def num_keypoints(self) -> int | None:
        """K of the video's poses files (None when it has none)."""
        for name in self.segments:
            uri = join_uri(self.out, "poses", f"{name}.parquet")
            if store.exists(uri):
                fs, path = filesystem(uri)
                return int((pq.read_schema(path, filesystem=fs).metadata or {}).get(b"bmp_ray.num_keypoints", b"17"))
        return None


def _table(uri: str):
    fs, path = filesystem(uri)
    return pq.read_table(path, filesystem=fs)


def _is_output(out: str) -> bool:
    return any(store.exists(join_uri(out, n)) for n in (RUN_FILE, MANIFEST, VIDEOS, "frames"))


def _manifest_rows(out: str) -> dict[str, dict]:
    uri = join_uri(out, MANIFEST)
    return {r["video_id"]: r for r in _table(uri).to_pylist()} if store.exists(uri) else {}


def _markers(out: str) -> dict[str, dict]:
    folder = join_uri(out, VIDEOS)
    names = store.list_files(folder, ".json")
    found = store.read_many([join_uri(folder, n) for n in names], lambda u: json.loads(store.read_bytes(u)))
    return {m["row"]["video_id"]: m for m in found}


def list_videos(out: str) -> dict[str, tuple[dict, tuple[str, ...]]]:
    """Video id -> (manifest row, segment names) for every video ``out`` holds, sorted by id.

    Raises:
        OutputError: ``out`` is not an output folder (no run file, manifest, markers or frames).
    """
    if not _is_output(out):
        raise OutputError(
            f"{out!r} is not a bmp_ray output folder (expected {RUN_FILE}, {MANIFEST}, {VIDEOS}/ "
            "or frames/ in it); give the --out folder of a run"
        )
    markers, rows = _markers(out), _manifest_rows(out)
    listed = [n[: -len(".parquet")] for n in store.list_files(join_uri(out, "frames"), ".parquet")]
    videos = {}
    for vid in sorted(set(markers) | set(rows)):
        if vid in markers:
            videos[vid] = (markers[vid]["row"], tuple(markers[vid]["segments"]))
            continue
        stem = output_name(vid)
        videos[vid] = (rows[vid], tuple(n for n in listed if n == stem or n.startswith(stem + "-f")))
    return videos


def read_results(out: str, videos: Sequence[str] | None = None) -> Iterator[VideoResults]:
    """Every video of the output folder ``out`` (or only ``videos``, in the order given), streamed.

    Raises:
        OutputError: ``out`` is not an output folder, or a requested video is not in it.
    """
    held = list_videos(out)
    if videos is not None:
        missing = [v for v in videos if v not in held]
        if missing:
            some = ", ".join(list(held)[:5]) + (" ..." if len(held) > 5 else "")
            raise OutputError(
                f"{out!r} holds no video {', '.join(map(repr, missing))}; it holds {len(held)}: {some or 'none'}"
            )
    for vid in held if videos is None else videos:
        row, segments = held[vid]
        yield VideoResults(out, vid, row, segments)


def read_run(out: str) -> dict:
    """What the folder records of its run: ``record`` (``_run.json``: models, BMP settings, sampling,
    segment length; ``{}`` when absent) and ``meta`` (``bmp_ray.run`` of the manifest or a frames file:
    the config, models, checkpoints; ``{}`` when absent)."""
    uri = join_uri(out, RUN_FILE)
    record = json.loads(store.read_bytes(uri)) if store.exists(uri) else {}
    meta: dict = {}
    frames = store.list_files(join_uri(out, "frames"), ".parquet")
    for candidate in ([join_uri(out, MANIFEST)] if store.exists(join_uri(out, MANIFEST)) else []) + [
        join_uri(out, "frames", n) for n in frames[:1]
    ]:
        fs, path = filesystem(candidate)
        md = pq.read_schema(path, filesystem=fs).metadata or {}
        if b"bmp_ray.run" in md:
            meta = json.loads(md[b"bmp_ray.run"])
            break
    return {"record": record, "meta": meta}


def run_sampling(run: dict) -> Sampling:
    """The run's frame sampling (``read_run``'s record, else its config; all frames when neither says)."""
    s = run.get("record", {}).get("sampling")
    if s is None:
        d = run.get("meta", {}).get("config", {}).get("decode", {})
        s = {k: d[k] for k in ("stride", "target_fps", "start", "stop") if k in d}
    return Sampling(**{k: v for k, v in s.items() if k in ("stride", "target_fps", "start", "stop")})
