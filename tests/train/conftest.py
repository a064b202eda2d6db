"""Fixtures of the training tests: the shared COCO images, test-variant weights, a small config."""

from __future__ import annotations

import pytest

from bmp_ray.train import config as train_config


@pytest.fixture(scope="session")
def coco_dir(shared_data):
    return shared_data / "images" / "coco"


@pytest.fixture(scope="session")
def train_weights(tmp_path_factory):
    """Seeded random checkpoints of the pose test variants (ViTPose-tiny is the starting point)."""
    from bmp_ray.models.synth import synthesize

    out = tmp_path_factory.mktemp("train-weights")
    synthesize(out, ["vitpose-tiny", "maskpose-tiny"])
    return out


def small_settings(coco_dir, weights, **extra) -> list[str]:
    """MaskPose-tiny from ViTPose-tiny on the 4 COCO images, validated on the same set."""
    ann = coco_dir / "test_coco.json"
    base = {
        "model.name": "maskpose-tiny",
        "model.init_model": "vitpose-tiny",
        "model.init": str(weights),
        "data.train": f"[{{format: coco, ann_file: '{ann}', img_dir: '{coco_dir}'}}]",
        "data.val_ann_file": str(ann),
        "data.val_img_dir": str(coco_dir),
        "data.loader_workers": 0,
        "optim.batch_size": 4,
        "optim.warmup_steps": 2,
        "optim.epochs": 1,
        "run.num_workers": 1,
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


@pytest.fixture
def small_train_config(coco_dir, train_weights):
    def make(**extra):
        return train_config.load(overrides=small_settings(coco_dir, train_weights, **extra))

    return make


@pytest.fixture(scope="session")
def det_init(tmp_path_factory):
    """rtmdet-ins-tiny with mmdet's own initialisation (class bias at prior 0.01) in the official layout:
    a starting point whose loss is in the usual range (the synthesized random weights' is about 1e4)."""
    import torch

    from bmp_ray.models import registry
    from bmp_ray.models.build import new_model
    from bmp_ray.models.checkpoint import model_meta, write_checkpoint

    out = tmp_path_factory.mktemp("det-init")
    torch.manual_seed(0)
    model = new_model("rtmdet-ins-tiny")
    model.init_weights()
    spec = registry.get("rtmdet-ins-tiny")
    write_checkpoint({"meta": model_meta(spec), "state_dict": model.state_dict()}, out / spec.checkpoint.filename)
    return out


def det_settings(coco_dir, weights, **extra) -> list[str]:
    """RTMDet-Ins-tiny on the 4 COCO images (people masked out), validated on the same set."""
    ann = coco_dir / "test_coco.json"
    base = {
        "model.name": "rtmdet-ins-tiny",
        "model.init": str(weights),
        "data.train": f"[{{format: coco, ann_file: '{ann}', img_dir: '{coco_dir}'}}]",
        "data.val_ann_file": str(ann),
        "data.val_img_dir": str(coco_dir),
        "data.loader_workers": 0,
        "optim.batch_size": 4,
        "optim.warmup_steps": 2,
        "optim.epochs": 1,
        "optim.lr": "1e-3",
        "run.num_workers": 1,
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]
