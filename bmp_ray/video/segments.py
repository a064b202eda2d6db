"""Split a long video into frame ranges that can be decoded in parallel (one task each)."""

from __future__ import annotations

import dataclasses

from bmp_ray.errors import ConfigError
from bmp_ray.video.probe import VideoInfo

OPEN_END = 2**31 - 1  # the stop of a segment that runs to the end of its video


@dataclasses.dataclass(frozen=True)
class Segment:
    """Frames ``[start, stop)`` of one video, numbered ``index`` of ``count`` in that video."""

    index: int
    count: int
    start: int
    stop: int

    @property
    def suffix(self) -> str:
        """File-name suffix naming the frame range: ``-f00001800-00003600``, ``-f00000000-end`` for an
        open end. A function of the range alone, so segments cut at another length never share a name."""
        stop = "end" if self.stop >= OPEN_END else f"{self.stop:08d}"
        return f"-f{self.start:08d}-{stop}"


def split_segments(info: VideoInfo, segment_frames: int | None) -> list[Segment]:
    """Cut ``info.num_frames`` into ranges of ``segment_frames`` (the last one takes the rest).

    ``None`` or a count at least the video's length gives one segment. An estimated frame count
    (``info.frames_exact`` false) also gives one segment, with an open end, so no frame is lost.
    """
    if segment_frames is not None and (not isinstance(segment_frames, int) or segment_frames < 1):
        raise ConfigError(f"segment_frames must be None or an integer >= 1, got {segment_frames!r}")
    n = info.num_frames
    if segment_frames is None or segment_frames >= n or not info.frames_exact:
        return [Segment(0, 1, 0, n if info.frames_exact else OPEN_END)]
    starts = list(range(0, n, segment_frames))
    return [Segment(i, len(starts), s, min(s + segment_frames, n)) for i, s in enumerate(starts)]
