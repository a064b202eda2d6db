import pytest

from bmp_ray.errors import ConfigError
from bmp_ray.track import TrackConfig


def test_defaults_are_valid_and_round_trip():
    c = TrackConfig()
    assert c.enabled and not c.bidirectional and c.mask_weight == 0.0 and c.pose_weight == 0.0
    assert TrackConfig(**c.to_dict()) == c


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"high_score": 1.5}, r"track.high_score: expected a number in \[0, 1\], got 1.5"),
        ({"low_score": 0.6, "high_score": 0.5}, r"track.low_score: expected a number <= high_score \(0.5\), got 0.6"),
        ({"mask_weight": -1.0}, r"track.mask_weight: expected a number >= 0, got -1.0"),
        ({"box_weight": 0.0}, r"track.box_weight: expected a number > 0"),
        ({"max_age": 0}, r"track.max_age: expected an integer >= 1, got 0"),
        ({"max_age": 2.5}, r"track.max_age: expected an integer >= 1, got 2.5"),
        ({"link_max_gap": True}, r"track.link_max_gap: expected an integer >= 0, got True"),
        ({"cut_gap": -1}, r"track.cut_gap: expected an integer >= 0, got -1"),
        ({"link_sole_max_gap": -1}, r"track.link_sole_max_gap: expected an integer >= 0, got -1"),
        ({"link_sole_min": 1.5}, r"track.link_sole_min: expected a number in \[0, 1\], got 1.5"),
        ({"enabled": "yes"}, r"track.enabled: expected true or false, got 'yes'"),
        (
            {"window_frames": 100, "window_overlap": 50},
            r"track.window_overlap: expected an integer < window_frames / 2",
        ),
        ({"window_frames": 100, "window_overlap": 1}, r"track.window_overlap: expected an integer >= 2"),
        ({"match_min": "0.3"}, r"track.match_min: expected a number in \[0, 1\], got '0.3'"),
    ],
)
def test_bad_values_name_the_key_what_was_expected_and_what_came(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrackConfig(**kwargs)
