"""The training config: one typed, frozen tree read from TOML or YAML and overridden by ``--set``.

Sections::

    [model]   task ("pose" or "detector"; default: the family of ``name``, else "pose"), name
              (registry name: architecture and export path), init (weights folder or file to start
              from), init_model (registry name of the starting checkpoint, default ``name``),
              conditioning (MaskPose mask input; default the model's)
    [data]    train = [{format, ann_file, img_dir, ratio}, ...], val_ann_file, val_img_dir,
              samples_per_epoch, augment, perturb_masks (pose), mask_out, mask_out_none,
              mask_out_all, mask_out_covered (detector), loader_workers
    [optim]   optimizer ("adamw" or "sgd"), lr, momentum (sgd), weight_decay, layer_decay, epochs,
              milestones, gamma, warmup_steps, batch_size (global, split over workers), clip_grad
    [run]     name, storage_path (folder or s3:// / gs://), num_workers, use_gpu, precision,
              checkpoint_every, keep, val_every, seed, export (folder), max_steps_per_epoch, pool

The defaults are each task's recipe (``RECIPES``), under the file and ``--set``:

- pose: the published MaskPose recipe: MaskPose-B from ViTPose-B multi, AdamW 5e-4 with layer decay
  0.75, weight decay 0.1, 210 epochs, steps at 170 and 200, batch 64, gradient clip 1;
- detector: the published BMP detector fine-tune (10 epochs, batch 16, learning rate 2e-2) of mmdet's
  COCO RTMDet-Ins-L. The optimizer was not published: 2e-2 at batch 16 is mmdet's SGD schedule
  (momentum 0.9, weight decay 1e-4), which we use, with its steps scaled to 10 epochs (7 and 9), its
  500-step warm-up and no clipping; norms and biases get no weight decay (RTMDet's own setting).

Errors name the key, what was expected and what came (the run config's own machinery).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping, Sequence

from bmp_ray.errors import ConfigError
from bmp_ray.fs import is_url
from bmp_ray.settings import PRECISIONS, build, build_tree, check, merged, sections

FORMATS = ("coco", "mpii", "aic")
TASK_NAMES = ("pose", "detector")  # the model.task values (their classes: train.tasks.TASKS)
OPTIMIZERS = ("adamw", "sgd")
# each task's defaults, under the file and --set (the dataclass defaults are the pose recipe)
RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "pose": {},
    "detector": {
        "model": {"name": "rtmdet-ins-l-bmp"},
        "optim": {
            "optimizer": "sgd",
            "lr": 0.02,
            "momentum": 0.9,
            "weight_decay": 1e-4,
            "layer_decay": 1.0,
            "epochs": 10,
            "milestones": (7, 9),
            "batch_size": 16,
            "clip_grad": None,
        },
    },
}


@dataclasses.dataclass(frozen=True)
class ModelSection:
    """Which model is trained and where it starts.

    Attributes:
        task: "pose" (MaskPose / ViTPose) or "detector" (RTMDet-Ins).
        name: registry name of the trained model (architecture, export file path).
        init: weights folder (official layout) or checkpoint file to start from; None: the hub cache.
        init_model: registry name of the starting checkpoint (same architecture); default the model's
            published starting point (MaskPose-B: "vitpose-b-multi", the BMP detector: mmdet's COCO
            "rtmdet-ins-l"), else ``name`` itself.
        conditioning: MaskPose's mask input on or off; None: the model's own (ViTPose: off).
    """

    task: str = "pose"
    name: str = "maskpose-b"
    init: str | None = None
    init_model: str | None = None
    conditioning: bool | None = None

    def __post_init__(self):
        check(self.task in TASK_NAMES, "task", " or ".join(map(repr, TASK_NAMES)), self.task)


@dataclasses.dataclass(frozen=True)
class DataSource:
    """One training set of ``data.train`` (an annotation file and its images): ``format`` "coco" (COCO
    json with keypoints and masks), "mpii" (mmpose's MPII json) or "aic" (AI Challenger's own json);
    ``ratio`` its share of each epoch's samples."""

    format: str
    ann_file: str
    img_dir: str
    ratio: float = 1.0

    def __post_init__(self):
        check(self.format in FORMATS, "format", " or ".join(map(repr, FORMATS)), self.format)
        check(self.ratio > 0, "ratio", "a number > 0", self.ratio)


@dataclasses.dataclass(frozen=True)
class DataSection:
    """Training and validation data.

    Attributes:
        train: the training sets, sampled by ratio.
        val_ann_file, val_img_dir: a COCO keypoint set scored with pycocotools (None: no validation).
        samples_per_epoch: samples drawn per epoch over all workers (None: the sum of the sets' sizes).
        augment: mmpose's flip, half-body and box jitter (off for overfit checks).
        perturb_masks: perturb the conditioning mask of every sample (MaskPose training).
        mask_out: paint a random subset of people black and drop them from the targets (detector
            training; ``bmp_ray.train.maskout``), with the odds of painting nobody (``mask_out_none``)
            and everybody (``mask_out_all``) and the covered fraction that drops a person
            (``mask_out_covered``).
        loader_workers: DataLoader processes per training worker (0: in the worker's process).
    """

    train: tuple[DataSource, ...] = ()
    val_ann_file: str | None = None
    val_img_dir: str | None = None
    samples_per_epoch: int | None = None
    augment: bool = True
    perturb_masks: bool = True
    mask_out: bool = True
    mask_out_none: float = 0.25
    mask_out_all: float = 0.05
    mask_out_covered: float = 0.7
    loader_workers: int = 2

    def __post_init__(self):
        check(
            (self.val_ann_file is None) == (self.val_img_dir is None),
            "val_img_dir",
            "val_ann_file and val_img_dir both set or both unset",
            self.val_img_dir,
        )
        check(
            self.samples_per_epoch is None or self.samples_per_epoch >= 1,
            "samples_per_epoch",
            "an integer >= 1",
            self.samples_per_epoch,
        )
        check(self.loader_workers >= 0, "loader_workers", "an integer >= 0", self.loader_workers)
        for key in ("mask_out_none", "mask_out_all"):
            check(0 <= getattr(self, key) <= 1, key, "a probability in [0, 1]", getattr(self, key))
        check(
            self.mask_out_none + self.mask_out_all <= 1,
            "mask_out_all",
            "mask_out_none + mask_out_all <= 1",
            self.mask_out_all,
        )
        check(0 < self.mask_out_covered <= 1, "mask_out_covered", "a fraction in (0, 1]", self.mask_out_covered)


@dataclasses.dataclass(frozen=True)
class OptimSection:
    """AdamW (with layer-wise learning-rate decay for ViTs) or SGD, linear warm-up over
    ``warmup_steps`` optimizer steps and steps by ``gamma`` at ``milestones`` (epochs)."""

    optimizer: str = "adamw"
    lr: float = 5e-4
    momentum: float = 0.9
    weight_decay: float = 0.1
    layer_decay: float = 0.75
    epochs: int = 210
    milestones: tuple[int, ...] = (170, 200)
    gamma: float = 0.1
    warmup_steps: int = 500
    batch_size: int = 64
    clip_grad: float | None = 1.0

    def __post_init__(self):
        check(self.optimizer in OPTIMIZERS, "optimizer", " or ".join(map(repr, OPTIMIZERS)), self.optimizer)
        check(self.lr > 0, "lr", "a number > 0", self.lr)
        check(0 <= self.momentum < 1, "momentum", "a number in [0, 1)", self.momentum)
        check(self.weight_decay >= 0, "weight_decay", "a number >= 0", self.weight_decay)
        check(0 < self.layer_decay <= 1, "layer_decay", "a number in (0, 1]", self.layer_decay)
        check(self.epochs >= 1, "epochs", "an integer >= 1", self.epochs)
        check(
            all(isinstance(m, int) and m >= 1 for m in self.milestones),
            "milestones",
            "a list of epochs >= 1",
            list(self.milestones),
        )
        check(0 < self.gamma <= 1, "gamma", "a number in (0, 1]", self.gamma)
        check(self.warmup_steps >= 0, "warmup_steps", "an integer >= 0", self.warmup_steps)
        check(self.batch_size >= 1, "batch_size", "an integer >= 1", self.batch_size)
        check(self.clip_grad is None or self.clip_grad > 0, "clip_grad", "a number > 0 or null", self.clip_grad)


@dataclasses.dataclass(frozen=True)
class RunSection:
    """Where and how the job runs.

    Attributes:
        name: the run's name; resubmitting with the same name and storage resumes it.
        storage_path: where checkpoints go (local folder, s3://, gs://); must be shared by all nodes.
        num_workers: DDP workers (one per GPU with ``use_gpu``).
        use_gpu: one GPU per worker (NCCL); otherwise CPU workers (gloo).
        precision: "fp32", or "fp16" / "bf16" autocast (GPU only).
        checkpoint_every, val_every: in epochs (the last epoch always checkpoints and validates).
        keep: checkpoints kept in storage.
        seed: sampling, augmentation and perturbation seed.
        export: folder the final weights are written to in the official layout (None: no export).
        max_steps_per_epoch: cut epochs short (smoke tests).
        pool: a custom resource each worker asks 0.001 of, pinning workers to one node type of
            ``cluster.yaml`` (e.g. "pool_sam", its largest GPU pool); None: any node with the resources.
    """

    name: str = "bmp-finetune"
    storage_path: str = "~/bmp_ray_train"
    num_workers: int = 2
    use_gpu: bool = False
    precision: str = "fp32"
    checkpoint_every: int = 1
    keep: int = 3
    val_every: int = 1
    seed: int = 0
    export: str | None = None
    max_steps_per_epoch: int | None = None
    pool: str | None = None

    def __post_init__(self):
        check(bool(self.name) and "/" not in self.name, "name", "a non-empty name without '/'", self.name)
        check(self.num_workers >= 1, "num_workers", "an integer >= 1", self.num_workers)
        check(self.precision in PRECISIONS, "precision", " or ".join(map(repr, PRECISIONS)), self.precision)
        check(self.precision == "fp32" or self.use_gpu, "precision", "'fp32' without use_gpu", self.precision)
        for key in ("checkpoint_every", "keep", "val_every"):
            check(getattr(self, key) >= 1, key, "an integer >= 1", getattr(self, key))
        check(
            self.max_steps_per_epoch is None or self.max_steps_per_epoch >= 1,
            "max_steps_per_epoch",
            "an integer >= 1",
            self.max_steps_per_epoch,
        )

    def storage(self) -> str:
        """``storage_path`` with ``~`` expanded and local folders made absolute (Ray needs that)."""
        if is_url(self.storage_path):
            return self.storage_path
        return os.path.abspath(os.path.expanduser(self.storage_path))


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    model: ModelSection = ModelSection()
    data: DataSection = DataSection()
    optim: OptimSection = OptimSection()
    run: RunSection = RunSection()

    def __post_init__(self):
        if not self.data.train:
            raise ConfigError(
                "data.train: expected at least one training set ({format, ann_file, img_dir, ratio}), got none"
            )
        if self.model.task == "detector":
            for i, s in enumerate(self.data.train):
                check(
                    s.format == "coco",
                    f"data.train[{i}].format",
                    "'coco' (COCO instance annotations) for the detector",
                    s.format,
                )
        from bmp_ray.models import registry

        try:
            family = registry.get(self.model.name).family
        except ConfigError as exc:
            raise ConfigError(f"model.name: {exc}") from None
        if family != self.model.task:
            raise ConfigError(
                f"model.name: {self.model.name!r} is a {family} model but model.task is "
                f"{self.model.task!r}; set model.task={family} or name a {self.model.task} model"
            )
        if self.optim.batch_size % self.run.num_workers:
            raise ConfigError(
                f"optim.batch_size: expected a multiple of run.num_workers "
                f"({self.run.num_workers}), got {self.optim.batch_size}"
            )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "TrainConfig":
        parts = sections(cls, d)
        task = parts["model"].setdefault("task", _task_of(parts["model"].get("name")))
        for name, defaults in RECIPES.get(task, {}).items():
            parts[name] = {**defaults, **parts[name]}
        if parts["model"].get("init_model") is None:
            parts["model"]["init_model"] = _starts_from(parts["model"].get("name", ModelSection.name))
        parts["data"]["train"] = _sources(parts["data"].get("train", ()))
        if isinstance(parts["optim"].get("milestones"), list):
            parts["optim"]["milestones"] = tuple(parts["optim"]["milestones"])
        return build_tree(cls, parts)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def absolute(self) -> "TrainConfig":
        """The config with every local path made absolute (workers run in other folders)."""

        def fix(p: str | None) -> str | None:
            return p if p is None or is_url(p) else os.path.abspath(os.path.expanduser(p))

        train = tuple(dataclasses.replace(s, ann_file=fix(s.ann_file), img_dir=fix(s.img_dir)) for s in self.data.train)
        return dataclasses.replace(
            self,
            model=dataclasses.replace(self.model, init=fix(self.model.init)),
            data=dataclasses.replace(
                self.data, val_ann_file=fix(self.data.val_ann_file), val_img_dir=fix(self.data.val_img_dir), train=train
            ),
            run=dataclasses.replace(self.run, storage_path=self.run.storage(), export=fix(self.run.export)),
        )


def _spec(name: Any):
    """The registry spec of ``name``, or None (an unknown name is reported by ``TrainConfig``'s check)."""
    from bmp_ray.models import registry

    return registry.MODELS.get(name) if isinstance(name, str) else None


def _starts_from(name: Any) -> str | None:
    spec = _spec(name)
    return spec.starts_from if spec is not None else None


def _task_of(name: Any) -> str:
    """The task of a model named without ``model.task``: its registry family when it is a pose model
    or detector, else "pose"."""
    spec = _spec(name)
    return spec.family if spec is not None and spec.family in TASK_NAMES else "pose"


def _sources(items: Any) -> tuple[DataSource, ...]:
    if isinstance(items, Mapping):
        items = [items]
    if not isinstance(items, (list, tuple)):
        raise ConfigError(f"data.train: expected a list of tables {{format, ann_file, img_dir, ratio}}, got {items!r}")
    out = []
    for i, s in enumerate(items):
        if isinstance(s, DataSource):
            out.append(s)
            continue
        if not isinstance(s, Mapping):
            raise ConfigError(f"data.train[{i}]: expected a table {{format, ann_file, img_dir, ratio}}, got {s!r}")
        missing = [k for k in ("format", "ann_file", "img_dir") if k not in s]
        if missing:
            raise ConfigError(f"data.train[{i}]: missing {', '.join(missing)}")
        out.append(build(DataSource, dict(s), f"data.train[{i}]"))
    return tuple(out)


def load(path: str | os.PathLike | None = None, overrides: Sequence[str] = (), **fields: Any) -> TrainConfig:
    """Defaults <- file <- ``--set SECTION.KEY=VALUE`` <- ``fields`` (``{"run.name": "x"}``, None ignored)."""
    return TrainConfig.from_dict(merged(path, overrides, fields))
