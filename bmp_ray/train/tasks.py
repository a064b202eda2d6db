"""What a training job trains: the model it starts from, its training set and its validation.

A task is built once per training worker (``__init__`` loads everything) and gives the worker loop:

- ``model``: the bare model (mmpose / mmdet ``BaseModel``) in train mode on the CPU, started from the
  configured checkpoint; the loop computes losses with mmengine's own ``data_preprocessor`` ->
  ``forward(mode="loss")`` -> ``parse_losses``;
- ``dataset`` (map-style, items from ``RatioSampler``), ``sizes`` and ``ratios`` of its sets;
- ``validate(model)``: validation metrics (only on the rank-0 worker; empty when no set is configured);
- ``check(cfg)`` (static): the driver's check of the training data before any worker starts;
- ``sync_bn``: whether multi-GPU runs use SyncBN (the detector recipe's norm layers).
"""

from __future__ import annotations

import logging

import torch

from bmp_ray.models import registry
from bmp_ray.models.build import load_model, new_model
from bmp_ray.models.weights import check_layout
from bmp_ray.train.config import TrainConfig

log = logging.getLogger(__name__)


def initial_model(cfg: TrainConfig) -> torch.nn.Module:
    """``cfg.model.name``'s architecture with the weights of ``init_model`` (same architecture; checked key
    by key, so a wrong starting checkpoint is an error naming the keys), in train mode on the CPU."""
    spec = registry.get(cfg.model.name, cfg.model.task)
    start = load_model(cfg.model.init_model or spec.name, cfg.model.init)
    if start.spec.name == spec.name:
        model = start.module
    else:
        model = new_model(spec)
        sd = start.module.state_dict()
        check_layout(sd, model, start.path, f"starting point for {spec.name}")
        model.load_state_dict(sd)
    log.info("training %s from %s (%s)", spec.name, start.spec.name, start.path)
    return model.train()


class _Task:
    """What the tasks share: their training sets read by ``load`` (one ``config.DataSource`` -> its
    samples), the driver's ``check`` (the same read), and validation by ``self.validator`` when one is
    configured."""

    sync_bn = False
    validator = None

    @staticmethod
    def load(source) -> list:
        raise NotImplementedError

    @classmethod
    def check(cls, cfg: TrainConfig) -> None:
        for s in cfg.data.train:
            cls.load(s)

    def _samples(self, cfg: TrainConfig) -> list:
        """The training sets' samples, concatenated; sets ``sizes`` and ``ratios``."""
        sets = [self.load(s) for s in cfg.data.train]
        self.sizes = [len(s) for s in sets]
        self.ratios = [s.ratio for s in cfg.data.train]
        return [x for s in sets for x in s]

    def validate(self, model: torch.nn.Module) -> dict[str, float]:
        return self.validator(model) if self.validator is not None else {}


class PoseTask(_Task):
    """MaskPose / ViTPose fine-tuning on COCO, MPII and AI Challenger keypoints (21-keypoint space)."""

    @staticmethod
    def load(source) -> list:
        from bmp_ray.train.keypoints import load_source

        return load_source(source.format, source.ann_file, source.img_dir)

    def __init__(self, cfg: TrainConfig, rank: int = 0):
        from bmp_ray.train.pose_data import PoseTrainSet
        from bmp_ray.train.validate import KeypointValidator

        spec = registry.get(cfg.model.name, "pose")
        self.conditioning = spec.conditioning if cfg.model.conditioning is None else cfg.model.conditioning
        self.model = initial_model(cfg)
        self.dataset = PoseTrainSet(
            self._samples(cfg),
            self.model,
            conditioning=self.conditioning,
            augment=cfg.data.augment,
            perturb=cfg.data.perturb_masks,
        )
        if rank == 0 and cfg.data.val_ann_file:
            self.validator = KeypointValidator(
                cfg.data.val_ann_file, cfg.data.val_img_dir, spec.name, self.conditioning
            )


class DetectorTask(_Task):
    """RTMDet-Ins fine-tuning on COCO person instances with people masked out (``det_data``)."""

    sync_bn = True

    @staticmethod
    def load(source) -> list:
        from bmp_ray.train.det_data import load_instances

        return load_instances(source.ann_file, source.img_dir)

    def __init__(self, cfg: TrainConfig, rank: int = 0):
        from bmp_ray.train.det_data import DetTrainSet
        from bmp_ray.train.validate import DetectionValidator

        self.model = initial_model(cfg)
        d = cfg.data
        mask_out = (
            dict(p_none=d.mask_out_none, p_all=d.mask_out_all, covered=d.mask_out_covered) if d.mask_out else None
        )
        self.dataset = DetTrainSet(
            self._samples(cfg), self.model.cfg.train_pipeline, augment=d.augment, mask_out=mask_out
        )
        if rank == 0 and d.val_ann_file:
            self.validator = DetectionValidator(d.val_ann_file, d.val_img_dir, cfg.model.name, seed=cfg.run.seed)


TASKS = {"pose": PoseTask, "detector": DetectorTask}  # by model.task (config.TASK_NAMES)


def make_task(cfg: TrainConfig, rank: int = 0):
    """The task of ``cfg.model.task`` (the config has checked the name)."""
    return TASKS[cfg.model.task](cfg, rank)
