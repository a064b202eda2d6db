import pytest

from bmp_ray.errors import ConfigError
from bmp_ray.video import VideoInfo, split_segments


def info(n, exact=True):
    return VideoInfo("x.mp4", "video", n, 30.0, 64, 48, "h264", n / 30, frames_exact=exact)


def test_split_covers_every_frame_once_with_stable_suffixes():
    segs = split_segments(info(25), 10)
    assert [(s.start, s.stop) for s in segs] == [(0, 10), (10, 20), (20, 25)]
    assert [s.suffix for s in segs] == ["-f00000000-00000010", "-f00000010-00000020", "-f00000020-00000025"]


def test_names_of_other_segment_lengths_never_collide():
    """A folder cut at 10 frames and one cut at 8 share no segment name, only the first frame."""
    ten = {s.suffix for s in split_segments(info(25), 10)}
    eight = {s.suffix for s in split_segments(info(25), 8)}
    assert not ten & eight


def test_short_or_unsplit_or_estimated_videos_are_one_segment():
    assert [(s.start, s.stop, s.suffix) for s in split_segments(info(25), None)] == [(0, 25, "-f00000000-00000025")]
    assert split_segments(info(25), 0) == split_segments(info(25), None)  # 0, as decode.segment_frames = 0
    assert len(split_segments(info(5), 10)) == 1
    (s,) = split_segments(info(100, exact=False), 10)
    assert s.start == 0 and s.stop > 100  # open end: an estimated count never drops frames
    assert s.suffix == "-f00000000-end"


def test_bad_segment_size():
    with pytest.raises(ConfigError, match=r"segment_frames: expected an integer >= 0 \(0: one segment .*\), got -1"):
        split_segments(info(10), -1)
