import pytest

from bmp_ray.bmp import BMPConfig
from bmp_ray.errors import ConfigError


def test_defaults_are_the_method_s():
    c = BMPConfig()
    assert (c.iterations, c.det_score_thr, c.det_nms_iou, c.oks_thr, c.oks_vis_thr) == (2, 0.3, 0.3, 0.8, 0.3)
    assert (c.prompt_thr, c.max_prompts, c.prompt_percentile) == (0.3, 6, 80.0)
    assert BMPConfig.from_dict(c.to_dict()) == c


@pytest.mark.parametrize(
    "kw,msg",
    [
        ({"iterations": 0}, "iterations: expected an integer >= 1, got 0"),
        ({"iterations": 2.0}, "iterations: expected an integer >= 1, got 2.0"),
        ({"oks_thr": 1.5}, r"oks_thr: expected a number in \[0, 1\], got 1.5"),
        ({"det_score_thr": "0.3"}, r"det_score_thr: expected a number in \[0, 1\], got '0.3'"),
        ({"max_prompts": True}, "max_prompts: expected an integer >= 1, got True"),
        ({"prompt_percentile": 101}, r"prompt_percentile: expected a number in \[0, 100\], got 101"),
    ],
)
def test_a_wrong_value_is_one_clear_error(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        BMPConfig(**kw)


def test_unknown_keys_name_the_known_ones():
    with pytest.raises(ConfigError, match="unknown setting.*iteration;.*known: iterations, det_score_thr"):
        BMPConfig.from_dict({"iteration": 3})
