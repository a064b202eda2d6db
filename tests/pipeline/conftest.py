"""Fixtures of the pipeline tests: test-variant weights, a small run config, and a mixed input folder."""

from __future__ import annotations

import shutil

import pytest

from bmp_ray.models.synth import synthesize
from bmp_ray.pipeline import config as run_config

TEST_SETTINGS = ["models.preset=test", "models.max_people=4", "decode.stop=2", "decode.batch_size=2",
                 "detector.threads=1", "pose.threads=1", "sam.threads=1",
                 "detector.batch_size=2", "pose.batch_size=2", "sam.batch_size=2"]


@pytest.fixture(scope="session")
def test_weights(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline-weights")
    synthesize(out, ["rtmdet-ins-tiny", "maskpose-tiny", "sam-tiny"])
    return out


@pytest.fixture(scope="session")
def small_config(test_weights):
    """Test variants, at most 4 people per pass, the first 2 frames of each video, one torch thread
    everywhere (float results depend on the thread count)."""
    return run_config.load(overrides=TEST_SETTINGS + [f"models.weights={test_weights}"])


@pytest.fixture(scope="session")
def mixed_inputs(tmp_path_factory, shared_data):
    """Two real videos, one real image, and bad files: a corrupt video, a text file named .mp4, an
    empty .mp4. Returns the folder."""
    root = tmp_path_factory.mktemp("inputs")
    for name in ("mmpose_demo.mp4", "posetrack18_000001_mpiinew_test.mp4"):
        shutil.copy(shared_data / "videos" / name, root / name)
    shutil.copy(shared_data / "images" / "coco" / "000000040083.jpg", root / "street.jpg")
    data = (shared_data / "videos" / "mmpose_demo.mp4").read_bytes()
    (root / "bad_corrupt.mp4").write_bytes(data[:2000] + bytes(5000))
    (root / "bad_text.mp4").write_text("this is not a video\n")
    (root / "bad_empty.mp4").write_bytes(b"")
    return root
