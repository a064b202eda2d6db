"""The one progress display of a run: a log line every ``interval_s`` seconds, on the driver.

``progress: 12/40 segments (31 %), 3/10 videos, 2,345 frames, 8.1 frames/s, ETA 4m10s``

The share done weighs each segment by its length in source frames (an open-ended segment counts as the
mean of the others), so one long video and many short ones move it alike; the ETA extrapolates the
rate so far. Pure bookkeeping with an injectable clock, so it is tested without waiting. Ray Data's
own per-operator bars are off unless ``-v`` (``ray_run.quiet_ray_data``).
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Mapping

from bmp_ray.video.segments import OPEN_END

log = logging.getLogger("bmp_ray.progress")
INTERVAL_S = 10.0


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    h, m = s // 3600, (s % 3600) // 60
    return f"{h}h{m:02d}m" if h else (f"{m}m{s % 60:02d}s" if m else f"{s}s")


class Progress:
    """Progress over the segments of one run.

    Args:
        spans: segment name -> its length in source frames (``stop - start``; ``OPEN_END`` or more for
            an open end).
        videos: how many videos the run finalizes.
    """

    def __init__(
        self,
        spans: Mapping[str, int],
        videos: int,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        known = [s for s in spans.values() if s < OPEN_END // 2]
        mean = sum(known) / len(known) if known else 1.0
        self.weights = {n: float(s if s < OPEN_END // 2 else mean) or 1.0 for n, s in spans.items()}
        self.total = sum(self.weights.values()) or 1.0
        self.videos, self.interval_s, self.clock = videos, interval_s, clock
        self.t0 = self.last = clock()
        self.done_weight, self.segments, self.finalized, self.frames = 0.0, 0, 0, 0

    def update(self, finished: list[str], frames: int, finalized: int) -> None:
        """The state now: the segments committed or failed for good, the frames with results so far and
        the videos finalized."""
        self.done_weight = sum(self.weights.get(n, 0.0) for n in finished)
        self.segments, self.frames, self.finalized = len(finished), int(frames), int(finalized)

    def line(self) -> str:
        elapsed = max(self.clock() - self.t0, 1e-9)
        share = min(self.done_weight / self.total, 1.0)
        eta = (
            f"ETA {_duration(elapsed * (1 - share) / share)}"
            if 0 < share < 1
            else ("done" if share >= 1 else "ETA unknown")
        )
        return (
            f"progress: {self.segments}/{len(self.weights)} segments ({100 * share:.0f} %), "
            f"{self.finalized}/{self.videos} videos, {self.frames:,} frames, "
            f"{self.frames / elapsed:.1f} frames/s, {eta}"
        )

    def due(self) -> bool:
        """Whether ``interval_s`` passed since the last line (callers skip gathering the state otherwise)."""
        return self.clock() - self.last >= self.interval_s

    def tick(self, force: bool = False) -> str | None:
        """Log and return the line when ``interval_s`` passed since the last one (or ``force``)."""
        now = self.clock()
        if not force and now - self.last < self.interval_s:
            return None
        self.last = now
        text = self.line()
        log.info("%s", text)
        return text
