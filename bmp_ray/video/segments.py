"""Split a long video into frame ranges that can be decoded in parallel (one task each)."""

from __future__ import annotations

import dataclasses

from bmp_ray.settings import check, is_int
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


def check_segment_frames(segment_frames: int | None, name: str = "segment_frames") -> None:
    """The rule of a segment length, checked here only: by ``split_segments`` and by the run config's
    ``decode.segment_frames`` (``name``). Raises ``ConfigError`` naming ``name``."""
    check(
        segment_frames is None or (is_int(segment_frames) and segment_frames >= 0),
        name,
        "an integer >= 0 (0: one segment per video)",
        segment_frames,
    )


def split_segments(info: VideoInfo, segment_frames: int | None) -> list[Segment]:
    """Cut ``info.num_frames`` into ranges of ``segment_frames`` (the last one takes the rest).

    ``None``, 0 or a count at least the video's length gives one segment. An estimated frame count
    (``info.frames_exact`` false) also gives one segment, with an open end, so no frame is lost.
    """
    check_segment_frames(segment_frames)
    n = info.num_frames
    if not segment_frames or segment_frames >= n or not info.frames_exact:
        return [Segment(0, 1, 0, n if info.frames_exact else OPEN_END)]
    starts = list(range(0, n, segment_frames))
    return [Segment(i, len(starts), s, min(s + segment_frames, n)) for i, s in enumerate(starts)]
