"""Build a registered model and load its weights through the one checkpoint loader.

``new_model(spec)`` constructs the architecture with random weights (no download);
``load_model(name, weights)`` resolves the checkpoint (local file or folder, Hugging Face hub, URL
cache), verifies it, loads it with ``weights_only=True``, checks its layout against the architecture
(missing, unexpected and wrongly shaped keys are named) and returns the model in eval mode.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from pathlib import Path

import torch

from bmp_ray.errors import CheckpointError, ConfigError
from bmp_ray.models import layouts, registry
from bmp_ray.models.registry import ModelSpec, Sam2Arch
from bmp_ray.models.weights import check_layout, load_checkpoint, resolve, state_dict_of

log = logging.getLogger(__name__)

# keys the architectures' own load hooks adapt: mmpretrain's ViT drops a class token from pos_embed
# and resizes it; original ViTPose checkpoints carry that class token
_ADAPT = {"pose": ("backbone.pos_embed",)}
_IGNORE = {"pose": ("backbone.cls_token",)}


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """A model in eval mode with where its weights came from.

    Attributes:
        module: the ``torch.nn.Module`` (mmdet ``RTMDet``, mmpose ``TopdownPoseEstimator``, SAM ``Sam`` or
            SAM 2 ``SAM2Base``).
        spec: its registry entry.
        path: the checkpoint file it was loaded from.
        meta: the checkpoint's ``meta`` (empty for plain state dicts).
    """

    module: torch.nn.Module
    spec: ModelSpec
    path: Path
    meta: dict


def mm_config(spec: ModelSpec):
    """The mmengine ``Config`` of a detector or pose spec."""
    from mmengine import Config

    return Config.fromfile(str(spec.config_path))


def check_device(device: str | torch.device) -> torch.device:
    """A ``torch.device`` that exists here, or ``ConfigError`` saying what is available."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"device {device!r} is not a torch device; expected 'cpu', 'cuda' or 'cuda:N'") from exc
    if dev.type == "cuda":
        n = torch.cuda.device_count()
        if n == 0 or (dev.index or 0) >= n:
            raise ConfigError(f"device {device!r} requested but this machine has {n} CUDA device(s); use device='cpu'")
    elif dev.type != "cpu":
        raise ConfigError(f"device {device!r} is not supported; expected 'cpu' or 'cuda[:N]'")
    return dev


def new_model(spec: ModelSpec | str) -> torch.nn.Module:
    """The architecture of ``spec`` on the CPU with freshly initialised (random) weights."""
    spec = registry.get(spec)
    if spec.family in ("detector", "pose"):
        from mmengine.registry import DefaultScope

        scope = "mmdet" if spec.family == "detector" else "mmpose"
        # entering the scope first keeps mmengine from logging a scope switch (to stdout)
        with warnings.catch_warnings(), DefaultScope.overwrite_default_scope(scope):
            warnings.simplefilter("ignore")  # "checkpoint is None, use COCO classes by default"
            if spec.family == "detector":
                from mmdet.apis import init_detector

                return init_detector(mm_config(spec), checkpoint=None, device="cpu")
            from mmpose.apis import init_model

            return init_model(mm_config(spec), checkpoint=None, device="cpu")
    if isinstance(spec.arch, Sam2Arch):
        from bmp_ray.models.sam2 import build_sam2_model

        return build_sam2_model(spec.arch)
    from segment_anything.build_sam import _build_sam

    a = spec.arch
    return _build_sam(a.embed_dim, a.depth, a.num_heads, list(a.global_attn_indexes), checkpoint=None)


def skeleton(spec: ModelSpec | str) -> torch.nn.Module:
    """The architecture of ``spec`` on the meta device: shapes without weights, built in about a
    second whatever the model's size (what a layout check needs)."""
    spec = registry.get(spec)
    if isinstance(spec.arch, Sam2Arch):
        from bmp_ray.models.sam2 import sam2_skeleton

        return sam2_skeleton(spec.arch)
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if spec.family in ("detector", "pose"):
            from mmengine.registry import DefaultScope

            cfg = mm_config(spec)
            scope = "mmdet" if spec.family == "detector" else "mmpose"
            with DefaultScope.overwrite_default_scope(scope):
                if spec.family == "detector":
                    from mmdet.registry import MODELS
                else:
                    from mmpose.registry import MODELS
                cfg.model.get("backbone", {}).pop("init_cfg", None)
                return MODELS.build(cfg.model)
        from segment_anything.build_sam import _build_sam

        a = spec.arch
        return _build_sam(a.embed_dim, a.depth, a.num_heads, list(a.global_attn_indexes), checkpoint=None)


def check_checkpoint(name: ModelSpec | str, path: Path, *, trusted: bool | None = None) -> None:
    """Every check ``load_model`` makes of the file at ``path``, without loading its weights: readable
    with ``weights_only``, tensors only, the architecture's layout (the stored ``layouts.layout``, so
    neither mmdet, mmpose nor sam2 is imported) and the ``dataset_meta`` it carries. Cheap enough for
    the driver to run before any cluster work.

    Raises:
        CheckpointError: naming the file and what is wrong with it.
    """
    spec = registry.get(name)
    _checked_weights(spec, load_checkpoint(path, trusted=trusted, mmap=True), layouts.layout(spec), path)


def _checked_weights(spec: ModelSpec, ckpt: dict, layout: layouts.Layout, path: Path) -> tuple[dict, dict, dict]:
    """The state dict, meta and ``dataset_meta`` (``{}`` where the checkpoint has none) of ``ckpt`` once its
    layout and ``dataset_meta`` (a detector's class 0, a pose head's keypoint count) fit ``layout``."""
    if isinstance(spec.arch, Sam2Arch):  # Meta's SAM 2 layout: {"model": state_dict}
        if not isinstance(ckpt.get("model"), dict):
            raise CheckpointError(
                f"{path}: not a {spec.name} checkpoint; expected Meta's SAM 2 layout "
                f"{{'model': state_dict}}, got the keys {sorted(ckpt)[:5]}"
            )
        ckpt = ckpt["model"]
    sd = state_dict_of(ckpt, path)
    check_layout(
        sd,
        layout.keys,
        path,
        f"{spec.name} ({spec.family})",
        ignore=_IGNORE.get(spec.family, ()),
        adapt=_ADAPT.get(spec.family, ()),
    )
    meta = dict(ckpt.get("meta") or {}) if "state_dict" in ckpt else {}
    dm = meta.get("dataset_meta") or {}
    if spec.family == "detector" and "classes" in dm:
        classes = tuple(dm["classes"])
        if not classes or classes[0] != "person":
            raise CheckpointError(f"{path}: class 0 of this detector is {classes[:1]}, expected 'person'")
    if spec.family == "pose" and dm:
        if "num_keypoints" in dm:  # parsed already (mmpose's datasets write it so)
            n = dm["num_keypoints"]
        elif "keypoint_info" in dm and "from_file" not in dm:  # raw dataset_info: what parse_pose_metainfo counts
            n = len(dm["keypoint_info"])
        else:
            from mmpose.datasets.datasets.utils import parse_pose_metainfo

            n = parse_pose_metainfo(dm).get("num_keypoints")
        if n != layout.num_keypoints:
            raise CheckpointError(
                f"{path}: dataset_meta has {n} keypoints but the head predicts {layout.num_keypoints}"
            )
    return sd, meta, dm


def load_model(
    name: ModelSpec | str,
    weights: str | os.PathLike | None = None,
    *,
    device: str | torch.device = "cpu",
    offline: bool | None = None,
    trusted: bool | None = None,
) -> LoadedModel:
    """Resolve, verify, load and layout-check the checkpoint of a registered model.

    Args:
        name: registry name or spec.
        weights: None (hub / URL / cache), a checkpoint file, or a folder in the official layout.
        device: "cpu" or "cuda[:N]".
        offline: only local files and caches (default from ``BMP_RAY_OFFLINE`` / ``HF_HUB_OFFLINE``).
        trusted: allow full unpickling where weights_only cannot load the file (see ``load_checkpoint``).

    Raises:
        ConfigError: unknown name or device. CheckpointError: missing, damaged, wrong checksum or layout.
    """
    spec = registry.get(name)
    dev = check_device(device)
    if spec.test_variant and weights is None and not os.environ.get("HF_ENDPOINT"):
        raise CheckpointError(
            f"{spec.name} is a test variant with random weights: write them with "
            "`bmp-ray weights synth --out DIR` and pass --weights DIR"
        )
    path = resolve(spec.checkpoint, weights, offline=offline)
    ckpt = load_checkpoint(path, trusted=trusted)
    model = new_model(spec)
    sd, meta, dataset_meta = _checked_weights(spec, ckpt, layouts.of_module(model, spec.family), path)
    if spec.family == "detector" and "classes" in dataset_meta:  # as mmdet's and mmpose's loaders take it
        model.dataset_meta = {**getattr(model, "dataset_meta", {}), "classes": tuple(dataset_meta["classes"])}
    elif spec.family == "pose" and dataset_meta:
        from mmpose.datasets.datasets.utils import parse_pose_metainfo

        model.dataset_meta = dataset_meta if "num_keypoints" in dataset_meta else parse_pose_metainfo(dataset_meta)
    try:
        model.load_state_dict(sd, strict=False)
    except RuntimeError as exc:  # a load hook that could not adapt a key
        raise CheckpointError(f"{path}: does not fit {spec.name}: {exc}") from exc
    log.info("loaded %s from %s", spec.name, path)
    return LoadedModel(model.to(dev).eval(), spec, path, meta)
