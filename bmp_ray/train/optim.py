"""The optimizers and learning-rate schedule of the training recipes.

- ViT pose models (the ViTPose / MaskPose recipe): AdamW (betas 0.9, 0.999) with layer-wise
  learning-rate decay, built by mmpose's own ``LayerDecayOptimWrapperConstructor``: the patch embedding
  and position embedding get ``layer_decay ** (L + 1)`` of the learning rate, transformer layer i
  ``layer_decay ** (L - i)``, the head the full rate; biases, norms and the position embedding get no
  weight decay.
- Other models (the detector): AdamW or SGD (momentum, no Nesterov) built by mmengine's
  ``DefaultOptimWrapperConstructor`` with RTMDet's ``paramwise_cfg``: norms and biases get no weight decay.

The schedule is a linear warm-up from 0.1 percent over ``warmup_steps`` optimizer steps, then a step
decay by ``gamma`` at each milestone epoch (mmengine's ``LinearLR`` + ``MultiStepLR`` as the mmpose and
mmdet recipes configure them).
"""

from __future__ import annotations

import bisect
import contextlib
import io
import logging
from typing import Sequence

import torch


def build_optimizer(
    model: torch.nn.Module,
    lr: float,
    weight_decay: float,
    layer_decay: float,
    optimizer: str = "adamw",
    momentum: float = 0.9,
) -> torch.optim.Optimizer:
    """The optimizer over ``model``'s trainable parameters (the bare model, not its DDP wrapper: group
    names follow parameter names): "adamw" layer-decayed when the backbone is a ViT, else "adamw" or
    "sgd" with no weight decay on norms and biases."""
    from mmengine.optim import DefaultOptimWrapperConstructor

    if optimizer == "sgd":
        opt = dict(type="SGD", lr=lr, momentum=momentum, weight_decay=weight_decay)
    elif optimizer == "adamw":
        opt = dict(type="AdamW", lr=lr, betas=(0.9, 0.999), weight_decay=weight_decay)
    else:
        raise ValueError(f"optimizer: expected 'adamw' or 'sgd', got {optimizer!r}")
    wrapper = dict(type="OptimWrapper", optimizer=opt)
    layers = getattr(getattr(model, "backbone", None), "num_layers", None)
    if optimizer == "adamw" and layers is not None and hasattr(model.backbone, "layers"):
        from mmpose.engine.optim_wrappers import LayerDecayOptimWrapperConstructor

        constructor = LayerDecayOptimWrapperConstructor(
            wrapper, dict(num_layers=int(layers), layer_decay_rate=layer_decay)
        )
    else:
        constructor = DefaultOptimWrapperConstructor(
            wrapper, dict(norm_decay_mult=0.0, bias_decay_mult=0.0, bypass_duplicate=True)
        )
    with _quiet():  # the constructors print and log every parameter group's settings
        return constructor(model).optimizer


@contextlib.contextmanager
def _quiet():
    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)  # incl. "is duplicate": RTMDet shares convs across levels
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def lr_factor(step: int, epoch: int, warmup_steps: int, milestones: Sequence[int], gamma: float) -> float:
    """The learning-rate multiplier at optimizer step ``step`` (0-based) in epoch ``epoch`` (0-based)."""
    warm = 1.0 if step >= warmup_steps else 0.001 + (1 - 0.001) * step / max(warmup_steps, 1)
    return warm * gamma ** bisect.bisect_right(sorted(milestones), epoch)


def set_lr(optimizer: torch.optim.Optimizer, base_lrs: Sequence[float], factor: float) -> None:
    """Every group's learning rate = its base (layer-decayed) rate times ``factor``."""
    for group, base in zip(optimizer.param_groups, base_lrs):
        group["lr"] = base * factor
