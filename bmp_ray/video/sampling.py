"""Which frames to keep: a frame range plus a stride or a target frame rate.

The rule is shared by every backend so that they keep exactly the same frames:

* ``stride=s``: keep frame ``i`` when ``(i - start) % s == 0``.
* ``target_fps=f``: cut the time line into buckets of ``1/f`` seconds (counted from the stream's first
  presentation time) and keep the first frame of every bucket, i.e. frame ``i`` when
  ``floor(t_i * f) != floor(t_{i-1} * f)``. This follows the real timestamps, so it is right for
  variable frame rate and for streams with gaps, and it never keeps more frames than the source has.
"""

from __future__ import annotations

import dataclasses
import math

from bmp_ray.errors import ConfigError
from bmp_ray.settings import check, is_int, is_num

_EPS = 1e-6  # seconds x fps: timestamps like 0.1 * 10 = 0.9999999 land in the right bucket


def check_sampling(stride, target_fps, start, stop, prefix: str = "sampling.") -> None:
    """The rules of a frame request, checked here only: by ``Sampling`` and by the run config's
    ``[decode]`` section (``prefix`` "decode."). Raises ``ConfigError`` naming ``prefix + key``."""
    check(is_int(stride) and stride >= 1, f"{prefix}stride", "an integer >= 1", stride)
    check(
        target_fps is None or (is_num(target_fps) and 0 < target_fps < math.inf),
        f"{prefix}target_fps",
        "a finite number > 0 or None",
        target_fps,
    )
    if target_fps is not None and stride != 1:
        raise ConfigError(f"{prefix.rstrip('.')}: give either stride ({stride}) or target_fps ({target_fps}), not both")
    check(is_int(start) and start >= 0, f"{prefix}start", "an integer >= 0", start)
    check(
        stop is None or (is_int(stop) and stop > start), f"{prefix}stop", f"None or an integer > start ({start})", stop
    )


@dataclasses.dataclass(frozen=True)
class Sampling:
    """A frame request: ``[start, stop)`` in source frame indices, and a stride or a target rate."""

    stride: int = 1
    target_fps: float | None = None
    start: int = 0
    stop: int | None = None
    anchor: int | None = None  # where the stride counts from (None: start); set by restrict()
    empty: bool = False  # set by restrict() when a segment does not overlap the request

    def __post_init__(self):
        check_sampling(self.stride, self.target_fps, self.start, self.stop)

    def restrict(self, start: int, stop: int | None) -> "Sampling":
        """The same rule on the intersection of this range with ``[start, stop)``.

        The stride stays anchored where this request started, so that the segments of a video keep
        exactly the frames the whole video would keep. An empty intersection keeps nothing.
        """
        lo = max(self.start, start)
        hi = stop if self.stop is None else (self.stop if stop is None else min(self.stop, stop))
        if hi is not None and hi <= lo:
            return dataclasses.replace(self, start=lo, stop=lo + 1, anchor=self.origin, empty=True)
        return dataclasses.replace(self, start=lo, stop=hi, anchor=self.origin)

    @property
    def origin(self) -> int:
        """The frame index the stride counts from."""
        return self.start if self.anchor is None else self.anchor

    def in_range(self, index: int) -> bool:
        return not self.empty and index >= self.start and (self.stop is None or index < self.stop)


class Sampler:
    """Stateful ``keep(index, time)`` over frames seen in presentation order.

    Args:
        sampling: the request.
        fps: the stream's average rate, used only for the time of the frame before the first one
            when that is unknown (``prev_time``).
        t0: the stream's first presentation time (seconds); buckets of ``target_fps`` start there.
        prev_time: presentation time of the frame just before the first one this sampler will see,
            when known (a seek into the middle of a video).
    """

    def __init__(self, sampling: Sampling, fps: float, t0: float = 0.0, prev_time: float | None = None):
        self.s = sampling
        self.fps = fps if fps and fps > 0 else 30.0
        self.t0 = t0
        self.prev = prev_time

    def _bucket(self, t: float) -> int:
        return math.floor((t - self.t0) * self.s.target_fps + _EPS)

    def keep(self, index: int, t: float) -> bool:
        prev, self.prev = self.prev, t
        if not self.s.in_range(index):
            return False
        if self.s.target_fps is None:
            return (index - self.s.origin) % self.s.stride == 0
        if prev is None:
            prev = t - 1.0 / self.fps
        return self._bucket(t) != self._bucket(prev)

    def done(self, index: int) -> bool:
        """True once ``index`` is past the end of the range: the caller can stop decoding."""
        return self.s.stop is not None and index >= self.s.stop
