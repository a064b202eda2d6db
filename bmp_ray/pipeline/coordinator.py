"""Ray Data's executor off the driver: coordinator actors run the pipeline, the driver keeps the ledger.

The process that iterates a Ray Data dataset runs its streaming executor: scheduling, per-block
bookkeeping and the delivery of every output block, about 0.75 ms of CPU per frame whatever is done
with the rows (``bmp-ray bench sink``'s floor), so the driver would spend about as much as the old
driver-side writer did even with the writing gone. Here each coordinator, a Ray actor, iterates the
dataset of its share of the work items in a thread of its own and hands the part writers' receipts to
the driver in batches: one actor call per batch of receipts, waited for with ``ray.wait``, so the
driver spends its CPU on the ledger and on dispatching commits and finalizes only.

``output.coordinators = K`` splits the work items (every K-th) and every model pool (``split``) into
K shares, one per coordinator, so the executor's work spreads over K processes. Coordinators use no
CPU slot (``num_cpus=0``) and are pinned to the driver's node: they fail with the driver and with
nothing else, as the driver-side executor did (a lost worker node takes none of them; a killed driver
takes them along, being their owner).
"""

from __future__ import annotations

import dataclasses
import logging
import resource
import threading
import time
from typing import Callable, Sequence

from bmp_ray.pipeline.config import RunConfig, StageResources
from bmp_ray.pipeline.parts import receipts_of

log = logging.getLogger(__name__)
ROLES = ("detector", "pose", "sam")
TAKE_TIMEOUT_S = 1.0  # the driver's sink gets control at least this often (commits and finalizes)


def share(n: int, k: int, i: int) -> int:
    """Coordinator ``i``'s share of ``n`` actors over ``k`` coordinators (the first ``n % k`` get one more)."""
    return n // k + (i < n % k)


def split(config: RunConfig, k: int, i: int) -> RunConfig:
    """The config of coordinator ``i``'s pipeline: every model pool cut to its share of ``k`` (at least
    one actor; ``RunConfig`` checks that every ``max_size`` is at least ``output.coordinators``), and
    one coordinator."""
    if k == 1:
        return config

    def cut(s: StageResources) -> StageResources:
        hi = share(s.max_size, k, i)
        lo = min(hi, max(1, share(s.min_size, k, i)))
        init = None if s.initial_size is None else min(hi, max(lo, share(s.initial_size, k, i)))
        return dataclasses.replace(s, min_size=lo, max_size=hi, initial_size=init)

    one = dataclasses.replace(config.output, coordinators=1)  # the config of one coordinator's pipeline
    return dataclasses.replace(config, output=one, **{r: cut(getattr(config, r)) for r in ROLES})


class Coordinator:
    """Iterates one dataset (made by ``build()`` in this process) in a thread; ``take`` hands over the
    receipts batches that arrived since the last call. Made a Ray actor by ``start``."""

    def __init__(self, build: Callable, verbose: bool = False):
        from bmp_ray.pipeline.ray_run import quiet_ray_data

        if verbose:
            logging.getLogger("bmp_ray").setLevel(logging.DEBUG)
        quiet_ray_data()
        self._cond = threading.Condition()
        self._batches: list = []
        self._done = False
        self._error: BaseException | None = None
        self._stats: dict = {}
        self._cpu0 = _cpu_s()
        self._thread = threading.Thread(target=self._iterate, args=(build,), name="bmp-coordinator", daemon=True)
        self._thread.start()

    def _iterate(self, build: Callable) -> None:
        from bmp_ray.pipeline.ray_run import operator_bytes

        try:
            ds = build()
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                with self._cond:
                    self._batches.append(batch)
                    self._cond.notify_all()
            self._stats = operator_bytes(ds)
        except BaseException as exc:  # handed to the driver by take()
            log.exception("the pipeline failed")
            self._error = exc
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def take(self, timeout: float = TAKE_TIMEOUT_S) -> tuple[list, bool]:
        """The receipts batches (numpy columns, ``parts.RECEIPT_COLUMNS``) that arrived since the last
        call, waiting up to ``timeout`` seconds for one, and whether the dataset is done (every batch
        handed over).

        Raises:
            the pipeline's error, once every batch before it was handed over.
        """
        with self._cond:
            self._cond.wait_for(lambda: self._batches or self._done, timeout)
            out, self._batches = self._batches, []
            if not out and self._error is not None:
                raise self._error
            return out, self._done and self._error is None and not out

    def report(self) -> dict:
        """Once done: the operators' object-store bytes, and this process's CPU seconds and peak RSS."""
        return {
            "object_store_bytes": self._stats,
            "cpu_s": _cpu_s() - self._cpu0,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def start(builds: Sequence[Callable]) -> list:
    """One coordinator actor per dataset builder, pinned to this (the driver's) node."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    actor = ray.remote(Coordinator).options(num_cpus=0, max_restarts=0, scheduling_strategy=here)
    verbose = logging.getLogger("bmp_ray").isEnabledFor(logging.DEBUG)
    return [actor.remote(b, verbose) for b in builds]


def drain(coordinators: Sequence, receive: Callable[[list[dict]], None]) -> list[dict]:
    """Hand every coordinator's receipts to ``receive`` (called at least every ``TAKE_TIMEOUT_S``, with
    an empty list when none came) until all are done; returns their ``report``s.

    Raises:
        the first pipeline error (the other coordinators are left to the caller to kill).
    """
    import ray

    pending = {c.take.remote(): c for c in coordinators}
    t0, batches = time.time(), 0
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            c = pending.pop(ref)
            got, done = ray.get(ref)
            batches += len(got)
            receive([r for b in got for r in receipts_of(b)])
            if not done:
                pending[c.take.remote()] = c
    log.debug("%d receipt batches from %d coordinators in %.1f s", batches, len(coordinators), time.time() - t0)
    return ray.get([c.report.remote() for c in coordinators])


def stop(coordinators: Sequence) -> None:
    import ray

    for c in coordinators:
        ray.kill(c)


def run(builds: Sequence[Callable], receive: Callable[[list[dict]], None]) -> list[dict]:
    """``start`` a coordinator per builder, ``drain`` them into ``receive``, ``stop`` them (also on an
    error); their ``report``s."""
    actors = start(builds)
    try:
        return drain(actors, receive)
    finally:
        stop(actors)
