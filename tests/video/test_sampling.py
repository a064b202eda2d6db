import pytest

from bmp_ray.errors import ConfigError
from bmp_ray.video.sampling import Sampler, Sampling


def kept(sampling, times, fps=10.0, prev=None):
    s = Sampler(sampling, fps, 0.0, prev)
    return [i for i, t in enumerate(times) if s.keep(i, t)]


def test_stride_counts_from_start_and_stops_at_stop():
    assert kept(Sampling(stride=3, start=2, stop=12), [i / 10 for i in range(20)]) == [2, 5, 8, 11]


def test_target_fps_keeps_first_frame_of_each_bucket():
    times = [i / 10 for i in range(20)]  # 10 fps, 2 s
    assert kept(Sampling(target_fps=2.0), times) == [0, 5, 10, 15]
    assert kept(Sampling(target_fps=10.0), times) == list(range(20))  # 0.1*10 rounding handled
    assert kept(Sampling(target_fps=50.0), times) == list(range(20))  # never more than the source


def test_target_fps_follows_gaps_in_time():
    times = [0.0, 0.1, 0.2, 1.7, 1.8, 1.9, 2.0]
    assert kept(Sampling(target_fps=1.0), times) == [0, 3, 6]


def test_restrict_keeps_the_stride_anchor_and_handles_empty_overlap():
    s = Sampling(stride=4, start=1)
    r = s.restrict(10, 20)
    assert (r.start, r.stop, r.origin) == (10, 20, 1)
    assert kept(r, [i / 10 for i in range(30)]) == [13, 17]
    e = Sampling(start=0, stop=5).restrict(10, 20)
    assert kept(e, [i / 10 for i in range(30)]) == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"stride": 0}, "sampling.stride: expected an integer >= 1, got 0"),
        ({"stride": 2.5}, "sampling.stride: expected an integer"),
        ({"target_fps": -1}, "sampling.target_fps: expected a finite number > 0 or None, got -1"),
        ({"target_fps": float("inf")}, "sampling.target_fps: expected a finite number > 0"),
        ({"target_fps": 5, "stride": 2}, r"sampling: give either stride \(2\) or target_fps \(5\), not both"),
        ({"start": -1}, "sampling.start: expected an integer >= 0"),
        ({"start": 5, "stop": 5}, r"sampling.stop: expected None or an integer > start \(5\), got 5"),
    ],
)
def test_bad_sampling_is_one_clear_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Sampling(**kwargs)
