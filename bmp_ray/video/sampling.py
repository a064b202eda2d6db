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

_EPS = 1e-6  # seconds x fps: timestamps like 0.1 * 10 = 0.9999999 land in the right bucket


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
        if not isinstance(self.stride, int) or isinstance(self.stride, bool) or self.stride < 1:
            raise ConfigError(f"sampling.stride must be an integer >= 1, got {self.stride!r}")
        if self.target_fps is not None:
            if not isinstance(self.target_fps, (int, float)) or not self.target_fps > 0 or math.isinf(self.target_fps):
                raise ConfigError(f"sampling.target_fps must be a positive number or None, got {self.target_fps!r}")
            if self.stride != 1:
                raise ConfigError(
                    f"sampling: give either stride ({self.stride}) or target_fps ({self.target_fps}), not both"
                )
        if not isinstance(self.start, int) or self.start < 0:
            raise ConfigError(f"sampling.start must be an integer >= 0, got {self.start!r}")
        if self.stop is not None and (not isinstance(self.stop, int) or self.stop <= self.start):
            raise ConfigError(f"sampling.stop must be None or an integer > start ({self.start}), got {self.stop!r}")

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
