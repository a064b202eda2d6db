"""Training checkpoints and the export of the final weights.

A checkpoint is a folder with two files:

- ``model.pth``: the model in the official MMEngine layout, ``{"meta": {...}, "state_dict": {...}}``
  with plain-type meta (library version, ``dataset_meta``, and ``bmp_ray_train``: run name, epoch,
  step, config), so ``load_model`` reads it with ``weights_only=True`` like an official checkpoint;
- ``train_state.pth``: the optimizer state, completed epochs and optimizer steps (for resuming).

``export`` copies ``model.pth`` to ``OUT/<the model's official file path>`` (``MaskPose/MaskPose-b-1.0.0.pth``)
and lists it in ``OUT/SHA256SUMS``, so ``--weights OUT`` serves it to the inference pipeline.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import torch

from bmp_ray.errors import CheckpointError
from bmp_ray.fs import atomic_path
from bmp_ray.models import registry
from bmp_ray.models.checkpoint import model_meta, update_sums, write_checkpoint

log = logging.getLogger(__name__)
MODEL_FILE, STATE_FILE = "model.pth", "train_state.pth"


def save(
    folder: str | os.PathLike,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    model_name: str,
    epoch: int,
    step: int,
    run: dict,
) -> Path:
    """Write a checkpoint of the bare ``model`` (not its DDP wrapper) after ``epoch`` completed epochs."""
    folder = Path(folder)
    meta = {
        **model_meta(registry.get(model_name)),
        "bmp_ray_train": {"model": model_name, "epoch": int(epoch), "step": int(step), **run},
    }
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    write_checkpoint({"meta": meta, "state_dict": sd}, folder / MODEL_FILE)
    write_checkpoint({"optimizer": optimizer.state_dict(), "epoch": int(epoch), "step": int(step)}, folder / STATE_FILE)
    return folder


def restore(folder: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[int, int]:
    """Load a checkpoint into ``model`` and ``optimizer``; return (completed epochs, optimizer steps)."""
    folder = Path(folder)
    for name in (MODEL_FILE, STATE_FILE):
        if not (folder / name).is_file():
            raise CheckpointError(
                f"training checkpoint {folder}: {name} is missing; it was not written by "
                "bmp-ray train (remove the run folder to start afresh)"
            )
    ckpt = torch.load(folder / MODEL_FILE, map_location="cpu", weights_only=True)
    model.load_state_dict(ckpt["state_dict"])
    state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    return int(state["epoch"]), int(state["step"])


def export(folder: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Copy a checkpoint's ``model.pth`` to ``out`` at its model's official file path; return the file."""
    src = Path(folder) / MODEL_FILE
    meta = torch.load(src, map_location="cpu", weights_only=True)["meta"]
    spec = registry.get(meta["bmp_ray_train"]["model"])
    out = Path(out)
    dest = out / spec.checkpoint.filename
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    update_sums(out, [dest])
    log.info("exported %s (epoch %d) to %s", spec.name, meta["bmp_ray_train"]["epoch"], dest)
    return dest


__all__ = ["save", "restore", "export", "MODEL_FILE", "STATE_FILE"]
