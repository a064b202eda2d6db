"""The driver side of the output stage: receipts in, commit and finalize work out.

``Sink`` keeps the ``Ledger`` and hands each ready segment's commit, and each ready video's finalize,
to an executor: ``InProcess`` (the single-process path: called at once) or ``RayTasks`` (Ray tasks on
the CPU pool, at most ``max_in_flight`` at a time, retried by Ray). Only receipts and these small task
results reach the driver; no frame result does.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Iterable, Mapping, Sequence

from bmp_ray.pipeline import faults
from bmp_ray.pipeline.commit import commit_segment, finalize_video
from bmp_ray.pipeline.ledger import Ledger
from bmp_ray.pipeline.progress import Progress

log = logging.getLogger(__name__)


class InProcess:
    """Runs each job at once in this process."""

    def __init__(self):
        self._done: list = []

    def submit(self, key, fn: Callable, *args) -> None:
        try:
            self._done.append((key, fn(*args), None))
        except Exception as exc:  # reported to the sink like a failed Ray task
            log.exception("%s failed", key)
            self._done.append((key, None, exc))

    def finished(self, wait: bool = False) -> list:
        out, self._done = self._done, []
        return out

    def pending(self) -> int:
        return 0


class RayTasks:
    """Runs each job as a Ray task (``options``: ``ray.remote`` options such as num_cpus, resources)."""

    def __init__(self, options: Mapping, max_in_flight: int = 8):
        import ray

        self._ray = ray
        self.options = {"max_retries": 3, "retry_exceptions": False, **options}
        self.max_in_flight = max_in_flight
        self._refs: dict = {}  # ref -> key
        self._remote: dict = {}
        self._results: list = []

    def submit(self, key, fn: Callable, *args) -> None:
        while len(self._refs) >= self.max_in_flight:  # backpressure: the ledger never runs far ahead
            self._results += self._collect(wait=True)
        if fn not in self._remote:
            self._remote[fn] = self._ray.remote(fn).options(**self.options)
        self._refs[self._remote[fn].remote(*args)] = key

    def _collect(self, wait: bool) -> list:
        if not self._refs:
            return []
        ready, _ = self._ray.wait(
            list(self._refs), num_returns=1 if wait else len(self._refs), timeout=None if wait else 0
        )
        out = []
        for ref in ready:
            key = self._refs.pop(ref)
            try:
                out.append((key, self._ray.get(ref), None))
            except Exception as exc:  # the task failed for good (after its retries)
                log.error("%s failed: %s", key, exc)
                out.append((key, None, exc))
        return out

    def finished(self, wait: bool = False) -> list:
        out = self._results + self._collect(wait=wait and not self._results)
        self._results = []
        return out

    def pending(self) -> int:
        return len(self._refs)


class Sink:
    """Receipts of one run -> commits and finalizes.

    Args:
        out: the output folder.
        run: the run metadata (``plan.run_metadata``).
        ledger: the run's ledger.
        paths: video id -> input path (for the manifest rows).
        executor: ``InProcess()`` or ``RayTasks(...)``.
        progress: logs the run's progress as receipts and commits come in (None: silent).
    """

    def __init__(
        self, out: str, run: dict, ledger: Ledger, paths: Mapping[str, str], executor, progress: Progress | None = None
    ):
        self.out, self.run, self.ledger, self.paths, self.executor = out, run, ledger, paths, executor
        self.progress = progress
        self.rows: dict[str, dict] = {}  # video id -> manifest row, finalized in this run
        self.first_receipt: float | None = None
        self._closed = False
        self._finalize_ready()

    def _tick(self, force: bool = False) -> None:
        if self.progress is not None and (force or self.progress.due()):  # O(segments): only when due
            self.progress.update(self.ledger.finished(), self.ledger.frames_seen(), len(self.rows))
            self.progress.tick(force)

    def receive(self, receipts: Iterable[Mapping]) -> None:
        for r in receipts:
            if self.first_receipt is None:
                self.first_receipt = time.time()
            for name in self.ledger.add(r):
                self.executor.submit(
                    ("commit", name),
                    commit_segment,
                    self.out,
                    name,
                    self.ledger.parts(name),
                    self.ledger.summary(name),
                    self.run,
                )
        self._handle(self.executor.finished())
        self._tick()

    def _handle(self, finished: Sequence) -> None:
        for (kind, key), result, exc in finished:
            if kind == "commit":
                if exc is None:
                    self.ledger.committed(key, result["frames"], result["people"])
                    faults.point("driver.after_commit")
                else:
                    self.ledger.failed(key, f"writing the segment's results failed: {type(exc).__name__}: {exc}")
            elif exc is None:
                self.rows[key] = result
            else:
                log.error("finalizing %s failed; a rerun finalizes it", key)
        self._finalize_ready()

    def _finalize_ready(self) -> None:
        for vid in self.ledger.ready_videos():
            self.executor.submit(
                ("finalize", vid),
                finalize_video,
                self.out,
                vid,
                self.paths[vid],
                self.ledger.videos[vid],
                self.ledger.failures(vid),
                self.run,
            )

    def close(self) -> None:
        """Wait for every commit and finalize of the run."""
        while True:
            done = self.executor.finished(wait=True)
            if not done and not self.executor.pending():
                if not self._closed:  # the last progress line once, however often close is called
                    self._closed = True
                    self._tick(force=True)
                return
            self._handle(done)
