"""Fixtures of the model tests: synthesized checkpoints of every test variant, and the real images."""

from __future__ import annotations

import pytest

from bmp_ray.models.synth import synthesize
from bmp_ray.testdata import annotated_images


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory):
    """A folder in the official layout with seeded random checkpoints of every test variant."""
    out = tmp_path_factory.mktemp("weights")
    synthesize(out)
    return out


@pytest.fixture(scope="session")
def coco_images(shared_data):
    return annotated_images(shared_data, "coco")


@pytest.fixture(scope="session")
def all_images(shared_data):
    return annotated_images(shared_data, "coco") + annotated_images(shared_data, "ochuman")
