"""``bmp-ray bench sink``: the driver's CPU and peak memory, old driver-side writer against part writers.

Both paths get the same synthetic results of one video (``--people`` per 1080p frame, with real COCO
RLE masks made by pycocotools from person-shaped polygons and 21 keypoints; a few distinct masks are
made once per process and reused, so making the results costs little) as the last model stage's rows
(``name``, ``frame_index``, ``summary``, ``result``: a pickled ``FrameResult``; one end row with the
decode summary per work item, right after its frames), in blocks of ``--batch-rows`` frames (the SAM
stage's batch):

- **old**: the rows go to the driver through ``iter_batches``, are unpickled and held per work item
  until it is complete, then converted to Arrow and written (``OldResultWriter`` below, a minimal copy
  of the driver-side ``ResultWriter`` that the output-stage redesign removed, kept here as the
  baseline the way ``research_loop.py`` is for ``bench loop``). One work item per video, the old
  default (``decode.segment_frames = 0``).
- **new**: the same rows go through ``parts.write_parts`` tasks with the options of
  ``ray_run.build_dataset`` (``output.part_frames`` rows per task, default 64; ``--part-frames`` to
  try others, 0: one block as it comes, a part per model batch), in a dataset built and iterated by a
  coordinator actor (``pipeline.coordinator``, as ``ray_run.run_ray`` does): only receipts reach the
  driver, where a ``Sink`` with its ``Ledger`` dispatches ``commit_segment`` and ``finalize_video`` as
  Ray tasks. The video is cut into segments of ``--segment-frames`` (the pipeline's default, 1800).
- **floor** (a reference, ``--no-floor`` skips it): the old path's rows to the driver and dropped
  there: what Ray Data alone costs the driver to deliver the results, with no sink at all.

Every (path, length) runs in a fresh Python process, so ``ru_maxrss`` is that configuration's own
peak. The process starts a local Ray (2 CPUs) and runs a one-row Ray Data job before the clock (a
cluster is up before a job); the clock covers the whole sink, up to the manifest. Driver CPU is
``getrusage(RUSAGE_SELF)`` user + system: every thread of the driver, Ray Data's streaming executor (old
and floor) and Ray's core-worker threads included, the benchmark's own sampling thread left out. The
table splits it by thread (sampled from ``/proc``): "sink thread" is the consuming (main) thread,
where the old writer and the new ``Sink`` run; "Ray Data executor" is the streaming executor's
scheduling thread; "other threads" are Ray's core-worker threads and Ray Data's iterator and prefetch
threads. The new path's coordinator is a process of its own: its CPU (from its start, Ray Data's
executor and iteration included) and peak RSS are reported apart, and ``ratio_pipeline_cpu`` is the
new driver's and coordinator's CPU together over the old driver's (the executor's work moved, it did
not vanish). "machine CPU %" is the whole machine's busy time over the run (every process: workers,
raylet, GCS; 100 % is every core busy). Both paths'
files are read back with pyarrow and must hold the same frame and person rows (else the benchmark
fails). Goals: the new path's driver CPU per frame at most 1/10 of the old path's
(``ratio_driver_cpu``, at the largest length), and its peak memory flat in the video length
(``ratio_driver_rss_100k_vs_10k`` <= 1.2, measured only with ``--full``; without it the same ratio
from 1,000 to 10,000 frames is reported as ``ratio_driver_rss_10k_vs_1k``).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import logging
import os
import pickle
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

import numpy as np

log = logging.getLogger(__name__)
VIDEO_ID = "synthetic/sink-bench.mp4"
HEIGHT, WIDTH, FPS, KEYPOINTS = 1080, 1920, 30.0, 21
DEFAULT_FRAMES = (1_000, 10_000)
FULL_FRAMES = (1_000, 10_000, 100_000)
_POOL_SIZE = 32
_POOL: list[bytes] = []
PATHS = ("old", "new")
FLOOR = "floor"  # the reference: result rows to the driver and dropped there (no sink at all)
CHUNK = 500  # result rows generated per task


# --- the synthetic results -------------------------------------------------------------------------


def mask_pool() -> list[bytes]:
    """``_POOL_SIZE`` distinct person-shaped masks of a 1080p frame as COCO compressed RLE counts
    (pycocotools, from polygons: about 270 bytes each), made once per process."""
    if not _POOL:
        from pycocotools import mask as coco

        rng = np.random.default_rng(0)
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        for _ in range(_POOL_SIZE):
            cx, cy = rng.uniform(150, WIDTH - 150), rng.uniform(250, HEIGHT - 250)
            w, h = rng.uniform(60, 160), rng.uniform(200, 460)
            r = 1 + 0.04 * np.sin(3 * t + rng.uniform(0, 6)) + 0.03 * np.cos(5 * t)
            xs = np.clip(cx + w / 2 * r * np.cos(t), 0, WIDTH - 1)
            ys = np.clip(cy + h / 2 * r * np.sin(t), 0, HEIGHT - 1)
            rle = coco.merge(coco.frPyObjects([np.stack([xs, ys], 1).ravel().tolist()], HEIGHT, WIDTH))
            _POOL.append(rle["counts"])
    return _POOL


def synthetic_result(frame_index: int, people: int, video_id: str = VIDEO_ID):
    """The ``FrameResult`` of one frame: ``people`` people with refined and detector masks from the
    pool, boxes tight around the refined masks, 21 keypoints; deterministic in ``frame_index``."""
    from bmp_ray import masks as _masks
    from bmp_ray.result import FrameResult

    pool = mask_pool()
    rng = np.random.default_rng(frame_index)
    idx = [(frame_index * 7 + j * 3) % len(pool) for j in range(people)]
    refined = np.array([pool[i] for i in idx], object)
    det = np.array([pool[(i + 1) % len(pool)] for i in idx], object)
    kpts = np.empty((people, KEYPOINTS, 3), np.float32)
    kpts[..., 0] = rng.uniform(0, WIDTH, (people, KEYPOINTS))
    kpts[..., 1] = rng.uniform(0, HEIGHT, (people, KEYPOINTS))
    kpts[..., 2] = rng.uniform(0, 1, (people, KEYPOINTS))
    return FrameResult.from_rle(
        video_id,
        frame_index,
        frame_index / FPS,
        HEIGHT,
        WIDTH,
        boxes=_masks.to_bbox(refined, HEIGHT, WIDTH),
        box_scores=rng.uniform(0.3, 1, people).astype(np.float32),
        keypoints=kpts,
        masks=refined,
        mask_scores=rng.uniform(0.5, 1, people).astype(np.float32),
        det_masks=det,
        iterations=rng.integers(1, 3, people).astype(np.int8),
    )


def work_items(n_frames: int, segment_frames: int) -> list[tuple[str, int, int, int]]:
    """``(name, start, stop, index)`` of the video's work items, named as the pipeline names them
    (``output_name(video_id) + Segment.suffix``; ``segment_frames`` 0: one item for the whole video)."""
    from bmp_ray.export.parquet import output_name
    from bmp_ray.video.segments import Segment

    stem = output_name(VIDEO_ID)
    if not segment_frames or segment_frames >= n_frames:
        return [(stem + Segment(0, 1, 0, n_frames).suffix, 0, n_frames, 0)]
    starts = list(range(0, n_frames, segment_frames))
    return [
        (
            stem + Segment(i, len(starts), s, min(s + segment_frames, n_frames)).suffix,
            s,
            min(s + segment_frames, n_frames),
            i,
        )
        for i, s in enumerate(starts)
    ]


def decode_summary(name: str, start: int, stop: int, index: int, count: int, n_frames: int) -> dict:
    """A decode summary with the keys of ``pipeline.decode.summary_of``."""
    return {
        "name": name,
        "video_id": VIDEO_ID,
        "path": f"/synthetic/{VIDEO_ID}",
        "segment": index,
        "segments": count,
        "status": "ok",
        "error": None,
        "frames_decoded": stop - start,
        "problems": [],
        "num_frames": n_frames,
        "fps": FPS,
        "width": WIDTH,
        "height": HEIGHT,
        "codec": "h264",
        "duration_s": n_frames / FPS,
        "rotation": 0,
        "started": time.time(),
    }


def result_rows(
    batch: dict[str, np.ndarray],
    *,
    items: Sequence[tuple[str, int, int, int]],
    n_frames: int,
    people: int,
    batch_rows: int,
):
    """Ray Data generator UDF: ranges ``[lo, hi)`` of positions in the row sequence (each item's frames,
    then its end row) in, the last model stage's rows out (``stages.SamStage.emit``: name,
    frame_index, summary, result), ``batch_rows`` at a time."""
    from bmp_ray.pipeline.parts import END

    ends = np.array([stop + i for i, (_, _, stop, _) in enumerate(items)])  # position of each end row
    for lo, hi in zip(batch["lo"].tolist(), batch["hi"].tolist()):
        for b in range(lo, hi, batch_rows):
            names, ks, summaries, blobs = [], [], [], []
            for p in range(b, min(b + batch_rows, hi)):
                j = int(np.searchsorted(ends, p))
                name, start, stop, index = items[j]
                names.append(name)
                if p == ends[j]:
                    ks.append(END)
                    summaries.append(json.dumps(decode_summary(name, start, stop, index, len(items), n_frames)))
                    blobs.append(b"")
                else:
                    ks.append(p - j)
                    summaries.append("")
                    blobs.append(pickle.dumps(synthetic_result(p - j, people), protocol=5))
            yield {
                "name": np.array(names),
                "frame_index": np.array(ks, np.int64),
                "summary": np.array(summaries),
                "result": np.array(blobs, object),
            }


def result_dataset(n_frames: int, items, people: int, batch_rows: int, chunk: int = CHUNK):
    """The lazy dataset of result rows in blocks of ``batch_rows`` rows, as the last model stage emits
    them (one block per actor call of ``batch_rows`` frames). Generated by tasks of ``chunk`` rows from a
    small ``from_items`` source, so that the source costs the driver little (``ray.data.range`` with a
    block per ``batch_rows`` rows has the driver serialize one read task per block)."""
    import ray

    total = n_frames + len(items)
    spans = [{"lo": lo, "hi": min(lo + chunk, total)} for lo in range(0, total, chunk)]
    ds = ray.data.from_items(spans, override_num_blocks=len(spans))
    ds = ds.map_batches(
        result_rows,
        fn_kwargs={"items": items, "n_frames": n_frames, "people": people, "batch_rows": batch_rows},
        batch_size=1,
        batch_format="numpy",
    )
    return ds.repartition(target_num_rows_per_block=batch_rows)  # fused into the map: blocks of batch_rows


# --- the old path (baseline) -----------------------------------------------------------------------


class OldResultWriter:
    """The driver-side sink the output stage had before the redesign (``bmp_ray/pipeline/writer.py``
    ``ResultWriter``, minimal copy: ``add``, ``end``, the write once an item is complete): every
    result is held on the driver per work item until the item's summary and all its frames are in,
    then sorted, converted to Arrow and written (poses, then frames)."""

    def __init__(self, out: str, run: dict):
        self.out, self.run = out, run
        self.summaries: dict[str, dict] = {}
        self.pending: dict[str, dict] = {}  # name -> frame_index -> FrameResult
        self.frames = self.people = 0

    def add(self, name: str, result) -> None:
        self.pending.setdefault(name, {})[result.frame_index] = result
        self._maybe_write(name)

    def end(self, name: str, summary: dict) -> None:
        if self.summaries.get(name, {}).get("frames_written") is not None:
            return
        self.summaries[name] = dict(summary, frames_written=None)
        self._maybe_write(name)

    def _maybe_write(self, name: str) -> None:
        from bmp_ray.export.parquet import write_results
        from bmp_ray.pipeline.commit import FINGERPRINT_KEY, SEGMENT_KEY

        s = self.summaries.get(name)
        if s is None or s.get("frames_written") is not None:
            return
        if s["status"] != "ok":
            s["frames_written"] = 0
            self.pending.pop(name, None)
            return
        by_index = self.pending.get(name, {})
        if len(by_index) < s["frames_decoded"]:
            return
        results = [by_index[i] for i in sorted(by_index)]
        s.update(frames_written=len(results), seconds=round(time.time() - s["started"], 3))
        extra = {SEGMENT_KEY: json.dumps(s, sort_keys=True).encode(), FINGERPRINT_KEY: self.run["fingerprint"].encode()}
        write_results(self.out, name, results, self.run, extra)
        self.pending.pop(name, None)
        self.frames += len(results)
        self.people += sum(len(r) for r in results)


def run_old(ds, out: str, run: dict) -> None:
    """The old driver loop (``ray_run.run_ray`` before the redesign), then the manifest."""
    from bmp_ray.export.parquet import write_manifest
    from bmp_ray.pipeline.commit import manifest_row
    from bmp_ray.pipeline.parts import END

    writer = OldResultWriter(out, run)
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        for name, k, summary, blob in zip(batch["name"], batch["frame_index"], batch["summary"], batch["result"]):
            if k == END:
                writer.end(str(name), json.loads(summary))
            else:
                writer.add(str(name), pickle.loads(blob))
    open_items = [n for n, s in writer.summaries.items() if s.get("frames_written") is None] + [
        n for n in writer.pending if n not in writer.summaries
    ]
    if open_items:
        raise RuntimeError(f"bench sink (old path): items never completed: {open_items}")
    summaries = list(writer.summaries.values())
    write_manifest(out, [manifest_row(VIDEO_ID, summaries[0]["path"], summaries)], run)


def run_floor(ds) -> int:
    """The reference: the old path's rows to the driver through ``iter_batches``, then dropped (what
    Ray Data itself costs the driver to deliver them, with no sink at all). Returns the rows seen."""
    return sum(len(batch["name"]) for batch in ds.iter_batches(batch_size=None, batch_format="numpy"))


# --- the new path ----------------------------------------------------------------------------------


def receipt_dataset(n_frames: int, items, people: int, batch_rows: int, part_frames: int, out: str):
    """The new path's dataset, built in its coordinator's process: the result rows through
    ``parts.write_parts`` tasks (``part_frames`` rows per task; 0: one block as it comes) with the
    options of ``ray_run.build_dataset``."""
    import ray

    from bmp_ray.pipeline.config import RunConfig
    from bmp_ray.pipeline.parts import write_parts
    from bmp_ray.pipeline.ray_run import BLOCK_BYTES, cpu_task_options

    ray.data.DataContext.get_current().target_max_block_size = BLOCK_BYTES  # as ray_run.build_dataset
    ds = result_dataset(n_frames, items, people, batch_rows)
    return ds.map_batches(
        write_parts,
        fn_kwargs={"out": out},
        batch_size=part_frames or None,
        batch_format="numpy",
        **cpu_task_options(RunConfig()),
    )


def run_new(build, out: str, run: dict, items) -> dict:
    """``build``'s receipts through a coordinator actor (``pipeline.coordinator``, as ``ray_run.run_ray``)
    to a ``Sink`` with Ray-task commits and finalizes, then the manifest from the video markers
    (``runner.run``). Returns the coordinator's report (its CPU seconds and peak RSS)."""
    from bmp_ray.export.parquet import write_manifest
    from bmp_ray.pipeline import coordinator
    from bmp_ray.pipeline.commit import read_markers
    from bmp_ray.pipeline.config import RunConfig
    from bmp_ray.pipeline.ledger import Ledger
    from bmp_ray.pipeline.ray_run import ray_executor
    from bmp_ray.pipeline.runner import manifest_rows
    from bmp_ray.pipeline.sink import Sink

    names = [i[0] for i in items]
    ledger = Ledger({n: VIDEO_ID for n in names}, {VIDEO_ID: names}, ())
    sink = Sink(out, run, ledger, {VIDEO_ID: f"/synthetic/{VIDEO_ID}"}, ray_executor(RunConfig()))
    (report,) = coordinator.run([build], sink.receive)
    sink.close()
    if ledger.open_segments():
        raise RuntimeError(f"bench sink (new path): segments never committed: {ledger.open_segments()}")
    write_manifest(out, manifest_rows(read_markers(out), None), run)
    return report


# --- one configuration, in its own process ---------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def thread_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) of each thread of this process: thread id -> (name, seconds); the
    name is Python's for Python threads, the kernel's (``comm``) for the others (Ray's C++ threads)."""
    import re
    import threading

    names = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # ended meanwhile
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        name = re.sub(r"^(StreamingExecutor)-.*|[-_ ]?\d+$", r"\1", names.get(int(tid), comm))
        out[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return out


class ThreadSampler:
    """``thread_cpu`` every ``period`` seconds in a thread of its own (named "bench-sampler"), so that
    threads that end during the run (Ray Data's streaming executor) are counted up to their last
    sample."""

    NAME = "bench-sampler"

    def __init__(self, period: float = 0.2):
        import threading

        self.period, self.last = period, thread_cpu()
        self.first = dict(self.last)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=self.NAME, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            self.last.update(thread_cpu())

    def stop(self) -> dict[str, float]:
        """CPU seconds per thread name since the start."""
        self._stop.set()
        self._thread.join()
        self.last.update(thread_cpu())
        return _by_name(self.first, self.last)


def _by_name(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds per thread name between two ``thread_cpu`` snapshots."""
    out: dict[str, float] = {}
    for tid, (name, s) in after.items():
        out[name] = out.get(name, 0.0) + s - (before[tid][1] if tid in before else 0.0)
    return dict(sorted(((k, round(v, 3)) for k, v in out.items() if v > 0), key=lambda kv: -kv[1]))


def machine_busy_s() -> float:
    """CPU seconds spent by the whole machine (every process, ``/proc/stat``: all but idle and iowait)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def measure(
    path: str,
    n_frames: int,
    out: str,
    *,
    people: int,
    segment_frames: int,
    batch_rows: int,
    part_frames: int | None = None,
    num_cpus: int = 2,
) -> dict:
    """Run one configuration in this process (meant to be a fresh one) and measure its driver
    (``part_frames`` None: the run config's ``output.part_frames``)."""
    import ray

    from bmp_ray.pipeline.config import RunConfig
    from bmp_ray.pipeline.plan import run_metadata
    from bmp_ray.pipeline.ray_run import BLOCK_BYTES

    part_frames = _part_frames(part_frames)
    items = work_items(n_frames, segment_frames if path == "new" else 0)
    models = {
        r: {"model": m, "file": "synthetic", "sha256": "0" * 64}
        for r, m in (("detector", "rtmdet-ins-l-bmp"), ("pose", "maskpose-b"), ("sam", "sam-vit-b"))
    }
    run = run_metadata(RunConfig(), models)
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level=logging.WARNING)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ray.data.range(1).map_batches(lambda b: b).materialize()  # Ray Data's own actors up before the clock
        ctx.target_max_block_size = BLOCK_BYTES  # as ray_run.build_dataset
        if path == "new":  # built in the coordinator's process, as the pipeline's datasets are
            build = functools.partial(receipt_dataset, n_frames, items, people, batch_rows, part_frames, out)
        else:
            ds = result_dataset(n_frames, items, people, batch_rows)
        sampler = ThreadSampler()
        rss0, cpu0, thread0, wall0, busy0 = (
            _rss_mb(),
            _cpu_s(),
            time.thread_time(),
            time.perf_counter(),
            machine_busy_s(),
        )
        coord = {"cpu_s": 0.0, "peak_rss_mb": 0.0}
        if path == "old":
            run_old(ds, out, run)
        elif path == "new":
            coord = run_new(build, out, run, items)
        elif run_floor(ds) != n_frames + len(items):
            raise RuntimeError(f"bench sink (floor): rows lost on the way to the driver ({n_frames} frames)")
        wall = time.perf_counter() - wall0
        cpu, thread, busy = _cpu_s() - cpu0, time.thread_time() - thread0, machine_busy_s() - busy0
        threads = sampler.stop()
        cpu -= threads.pop(ThreadSampler.NAME, 0.0)  # the benchmark's own sampling, not the driver's work
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # KiB on Linux
    finally:
        ray.shutdown()
    return {
        "path": path,
        "frames": n_frames,
        "items": len(items),
        "driver_cpu_s": cpu,
        "sink_thread_cpu_s": thread,
        "wall_s": wall,
        "rss_before_mb": rss0,
        "peak_rss_mb": peak,
        "driver_threads_cpu_s": threads,
        "coordinator_cpu_s": coord["cpu_s"],
        "coordinator_peak_rss_mb": coord["peak_rss_mb"],
        "machine_cpu_s": busy,
        "machine_cpus": os.cpu_count(),
        "load_1min_after": os.getloadavg()[0],
    }


def read_back(out: str) -> dict:
    """Rows of the public files of ``out`` (frames and poses tables) and a content check."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    frames = pq.read_table(os.path.join(out, "frames"), columns=["frame_index", "num_people"])
    poses = pq.read_table(os.path.join(out, "poses"), columns=["frame_index", "person_index", "bbox_score"])
    parts = os.path.join(out, "_parts")
    return {
        "frame_rows": frames.num_rows,
        "person_rows": poses.num_rows,
        "frame_index_sum": int(pc.sum(frames.column("frame_index")).as_py() or 0),
        "num_people_sum": int(pc.sum(frames.column("num_people")).as_py() or 0),
        "bbox_score_sum": round(float(pc.sum(poses.column("bbox_score")).as_py() or 0.0), 1),
        "files": len(os.listdir(os.path.join(out, "frames"))),
        "parts_left": sum(len(f) for _, _, f in os.walk(parts)) if os.path.isdir(parts) else 0,
    }


def run_child(path: str, n_frames: int, out: str, args, timeout: float | None = None) -> dict:
    """``measure`` in a fresh Python process (its own local Ray); the figures and its files' rows."""
    cmd = [
        sys.executable,
        "-m",
        "bmp_ray.bench.sink",
        path,
        str(n_frames),
        out,
        "--people",
        str(args.people),
        "--segment-frames",
        str(args.segment_frames),
        "--batch-rows",
        str(args.batch_rows),
        "--part-frames",
        str(args.part_frames),
    ]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # its own local Ray, never a shared one
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(
            f"bench sink: the {path} path at {n_frames} frames failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
        )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**result, **read_back(out)} if path in PATHS else result


def check_same_rows(old: dict, new: dict, n_frames: int, people: int) -> None:
    """Raise ``RuntimeError`` unless both paths wrote every frame and person row, and the same ones."""
    want = {"frame_rows": n_frames, "person_rows": n_frames * people}
    for key in ("frame_rows", "person_rows", "frame_index_sum", "num_people_sum", "bbox_score_sum"):
        if old[key] != new[key] or (key in want and old[key] != want[key]):
            raise RuntimeError(
                f"bench sink, {n_frames} frames: the paths wrote different rows: {key} old {old[key]}, "
                f"new {new[key]}, expected {want.get(key, 'the same')}"
            )
    if new["parts_left"]:
        raise RuntimeError(f"bench sink, {n_frames} frames: {new['parts_left']} part files left under _parts/")


# --- the benchmark -------------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--full", action="store_true", help="also a video of 100,000 frames (about 10 minutes more on 2 cores)"
    )
    p.add_argument("--frames", type=int, nargs="+", help="video lengths to measure instead (frames)")
    p.add_argument("--people", type=int, default=10, help="people per frame (default 10)")
    p.add_argument(
        "--segment-frames",
        type=int,
        default=None,
        help="segment length of the new path (default: the pipeline's, 1800)",
    )
    p.add_argument(
        "--batch-rows",
        type=int,
        default=None,
        help="frames per block of result rows (default: the SAM stage's batch size, 4)",
    )
    p.add_argument(
        "--part-frames",
        type=int,
        default=None,
        help="rows per part writer task; 0: one block as it comes (default: the run config's output.part_frames, 64)",
    )
    p.add_argument(
        "--no-floor",
        dest="floor",
        action="store_false",
        help="skip the reference run that drops the rows on the driver",
    )
    p.add_argument("--out", help="folder for the outputs (default: a temporary folder, removed)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per configuration (default 3600)")


def _label(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def _part_frames(value: int | None) -> int:
    """Rows per part writer task, 0 for one block as it comes; None: the run config's default
    (``output.part_frames``)."""
    from bmp_ray.pipeline.config import OutputConfig

    return OutputConfig().part_frames if value is None else value


def _defaults(args: argparse.Namespace) -> argparse.Namespace:
    from bmp_ray.pipeline.config import SEGMENT_FRAMES, StageResources

    args = argparse.Namespace(**vars(args))
    for key, default in (
        ("segment_frames", SEGMENT_FRAMES),
        ("batch_rows", StageResources().batch_size),
        ("full", False),
        ("frames", None),
        ("people", 10),
        ("out", None),
        ("timeout", 3600.0),
        ("floor", True),
    ):
        if getattr(args, key, None) is None:
            setattr(args, key, default)
    args.part_frames = _part_frames(getattr(args, "part_frames", None))
    return args


def measure_all(args: argparse.Namespace) -> dict[tuple[str, int], dict]:
    """Every (path, length), each in a fresh process; both paths' rows checked at each length."""
    lengths = sorted(set(args.frames or (FULL_FRAMES if args.full else DEFAULT_FRAMES)))
    root = args.out or tempfile.mkdtemp(prefix="bmp_ray-bench-sink-")
    results: dict[tuple[str, int], dict] = {}
    try:
        for n in lengths:
            for path in PATHS + ((FLOOR,) if args.floor else ()):
                out = os.path.join(root, f"{path}-{n}")
                shutil.rmtree(out, ignore_errors=True)
                results[path, n] = run_child(path, n, out, args, args.timeout)
                log.info("%s path, %d frames: %s", path, n, results[path, n])
                if args.out is None:
                    shutil.rmtree(out, ignore_errors=True)
            check_same_rows(results["old", n], results["new", n], n, args.people)
    finally:
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)
    return results


def _ms(r: dict, seconds: float) -> float:
    return seconds / r["frames"] * 1e3


def _executor_s(r: dict) -> float:
    return r["driver_threads_cpu_s"].get("StreamingExecutor", 0.0)


_TITLES = {"old": "old: driver writes", "new": "new: parts + ledger", FLOOR: "floor: rows dropped"}


def run(args: argparse.Namespace) -> dict:
    args = _defaults(args)
    results = measure_all(args)
    lengths = sorted({n for _, n in results})
    paths = [p for p in (*PATHS, FLOOR) if (p, lengths[0]) in results]
    rows = [
        [
            "path",
            "frames",
            "files",
            "driver CPU ms/frame",
            "sink thread",
            "Ray Data executor",
            "other threads",
            "coordinator CPU ms/frame",
            "RSS before MB",
            "peak RSS MB",
            "growth MB",
            "coordinator peak RSS MB",
            "wall s",
            "frames/s",
            "machine CPU %",
        ]
    ]
    for n in lengths:
        for path in paths:
            r = results[path, n]
            other = r["driver_cpu_s"] - r["sink_thread_cpu_s"] - _executor_s(r)
            rows.append(
                [
                    _TITLES[path],
                    n,
                    r.get("files", "-"),
                    _ms(r, r["driver_cpu_s"]),
                    _ms(r, r["sink_thread_cpu_s"]),
                    _ms(r, _executor_s(r)),
                    _ms(r, other),
                    _ms(r, r["coordinator_cpu_s"]) if path == "new" else "-",
                    r["rss_before_mb"],
                    r["peak_rss_mb"],
                    r["peak_rss_mb"] - r["rss_before_mb"],
                    r["coordinator_peak_rss_mb"] if path == "new" else "-",
                    r["wall_s"],
                    n / r["wall_s"],
                    100 * r["machine_cpu_s"] / (r["wall_s"] * r["machine_cpus"]),
                ]
            )
    big = lengths[-1]
    out = {
        "benchmark": "sink",
        "frames": lengths,
        "people": args.people,
        "segment_frames": args.segment_frames,
        "batch_rows": args.batch_rows,
        "part_frames": args.part_frames,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "results": [results[p, n] for n in lengths for p in paths],
        "rows_checked": {str(n): {k: results["new", n][k] for k in ("frame_rows", "person_rows")} for n in lengths},
    }
    for path in paths:
        res = {n: results[path, n] for n in lengths}
        out[f"{path}_driver_cpu_ms_per_frame"] = {str(n): _ms(r, r["driver_cpu_s"]) for n, r in res.items()}
        out[f"{path}_sink_thread_cpu_ms_per_frame"] = {str(n): _ms(r, r["sink_thread_cpu_s"]) for n, r in res.items()}
        out[f"{path}_executor_cpu_ms_per_frame"] = {str(n): _ms(r, _executor_s(r)) for n, r in res.items()}
        if path == "new":
            out["new_coordinator_cpu_ms_per_frame"] = {str(n): _ms(r, r["coordinator_cpu_s"]) for n, r in res.items()}
            out["new_coordinator_peak_rss_mb"] = {str(n): r["coordinator_peak_rss_mb"] for n, r in res.items()}
        out[f"{path}_peak_rss_mb"] = {str(n): r["peak_rss_mb"] for n, r in res.items()}
        out[f"{path}_wall_s"] = {str(n): r["wall_s"] for n, r in res.items()}
    old, new = results["old", big], results["new", big]
    out["ratio_driver_cpu"] = _ms(new, new["driver_cpu_s"]) / _ms(old, old["driver_cpu_s"])
    # the executor's work moved to the coordinator, not away: driver and coordinator together, over the old driver
    out["ratio_pipeline_cpu"] = (new["driver_cpu_s"] + new["coordinator_cpu_s"]) / old["driver_cpu_s"]
    out["ratio_sink_thread_cpu"] = _ms(new, new["sink_thread_cpu_s"]) / _ms(old, old["sink_thread_cpu_s"])
    out["ratio_wall"] = new["wall_s"] / old["wall_s"]
    if (FLOOR, big) in results:  # what the driver costs with no sink at all, over the old path
        out["ratio_floor_driver_cpu"] = results[FLOOR, big]["driver_cpu_s"] / old["driver_cpu_s"]
    goals = [
        ["goal", "target", "measured", "met"],
        [
            f"driver CPU/frame new/old, {_label(big)}",
            "<= 0.1",
            out["ratio_driver_cpu"],
            "yes" if out["ratio_driver_cpu"] <= 0.1 else "no",
        ],
    ]
    for a, b in itertools.pairwise(lengths):
        key = f"ratio_driver_rss_{_label(b)}_vs_{_label(a)}"
        out[key] = results["new", b]["peak_rss_mb"] / results["new", a]["peak_rss_mb"]
        out[f"ratio_old_driver_rss_{_label(b)}_vs_{_label(a)}"] = (
            results["old", b]["peak_rss_mb"] / results["old", a]["peak_rss_mb"]
        )
        goal = (a, b) == (10_000, 100_000)
        goals.append(
            [
                f"new peak RSS {_label(b)}/{_label(a)}{'' if goal else ' (goal: 100k/10k)'}",
                "<= 1.2",
                out[key],
                "yes" if out[key] <= 1.2 else "no",
            ]
        )
    out["goals"] = {g[0]: {"target": g[1], "measured": g[2], "met": g[3] == "yes"} for g in goals[1:]}
    width = len(rows[0])
    rows += [[""] * width] + [g + [""] * (width - len(g)) for g in goals]
    out["rows"] = rows
    return out


def _main(argv: Sequence[str] | None = None) -> None:
    """One configuration in this process: ``python -m bmp_ray.bench.sink PATH FRAMES OUT``; one JSON line."""
    p = argparse.ArgumentParser(prog="python -m bmp_ray.bench.sink")
    p.add_argument("path", choices=(*PATHS, FLOOR))
    p.add_argument("frames", type=int)
    p.add_argument("out")
    p.add_argument("--people", type=int, default=10)
    p.add_argument("--segment-frames", type=int, default=1800)
    p.add_argument("--batch-rows", type=int, default=4)
    p.add_argument("--part-frames", type=int, default=None)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    r = measure(
        a.path,
        a.frames,
        a.out,
        people=a.people,
        segment_frames=a.segment_frames,
        batch_rows=a.batch_rows,
        part_frames=a.part_frames,
    )
    sys.stdout.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    _main()
