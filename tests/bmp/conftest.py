"""The three test-variant stages, built once for the loop tests."""

import pytest

from bmp_ray.models.detector import Detector
from bmp_ray.models.pose import PoseEstimator
from bmp_ray.models.segmenter import build_segmenter
from bmp_ray.models.synth import synthesize
from bmp_ray.pipeline.config import PRESETS


@pytest.fixture(scope="session")
def stages(tmp_path_factory):
    out = tmp_path_factory.mktemp("bmp-weights")
    synthesize(out, list(PRESETS["test"].values()))
    # at most 12 random "people" per pass keeps the loop tests quick (BMP's own cap is 40)
    names = PRESETS["test"]
    return (
        Detector(names["detector"], out, max_per_img=12),
        PoseEstimator(names["pose"], out),
        build_segmenter(names["sam"], out),
    )
