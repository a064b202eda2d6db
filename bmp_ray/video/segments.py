"""Split a long video into frame ranges that can be decoded in parallel (one task each)."""

from __future__ import annotations

import dataclasses

from bmp_ray.errors import ConfigError
from bmp_ray.video.probe import VideoInfo


@dataclasses.dataclass(frozen=True)
class Segment:
    """Frames ``[start, stop)`` of one video, numbered ``index`` of ``count`` in that video."""

    index: int
    count: int
    start: int
    stop: int

    @property
    def suffix(self) -> str:
        """Deterministic file-name suffix, empty for a video in one piece (``-s0003`` otherwise)."""
        return "" if self.count == 1 else f"-s{self.index:04d}"


def split_segments(info: VideoInfo, segment_frames: int | None) -> list[Segment]:
    """Cut ``info.num_frames`` into ranges of ``segment_frames`` (the last one takes the rest).

    ``None`` or a count at least the video's length gives one segment. An estimated frame count
    (``info.frames_exact`` false) also gives one segment, with an open end, so no frame is lost.
    """
    if segment_frames is not None and (not isinstance(segment_frames, int) or segment_frames < 1):
        raise ConfigError(f"segment_frames must be None or an integer >= 1, got {segment_frames!r}")
    n = info.num_frames
    if segment_frames is None or segment_frames >= n or not info.frames_exact:
        return [Segment(0, 1, 0, n if info.frames_exact else 2**31 - 1)]
    starts = list(range(0, n, segment_frames))
    return [Segment(i, len(starts), s, min(s + segment_frames, n)) for i, s in enumerate(starts)]
