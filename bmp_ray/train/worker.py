"""The training loop every worker runs, over a session: Ray Train's (``RaySession``) or one process's.

Per epoch: the ratio sampler's share of this worker, batches through mmengine's ``data_preprocessor``
and ``forward(mode="loss")`` (the DDP wrapper's, so gradients are averaged over workers),
``parse_losses``, the recipe's optimizer (``train.optim``: AdamW or SGD; the gradient norm clipped to
``optim.clip_grad`` when that is set) and the step schedule; then the epoch's metrics (loss averaged over
workers), validation on rank 0 every ``val_every`` epochs, and a checkpoint every ``checkpoint_every``
epochs (rank 0 writes it; every worker reports). A resumed run starts at the epoch after its
checkpoint's, with the same samples it would have drawn (they depend only on seed and epoch).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist

from bmp_ray.models.common import check_precision
from bmp_ray.train import state
from bmp_ray.train.config import TrainConfig
from bmp_ray.train.optim import build_optimizer, lr_factor, set_lr
from bmp_ray.train.pose_data import RatioSampler

log = logging.getLogger(__name__)


class RaySession:
    """The worker's view of a Ray Train (V2) run."""

    def __init__(self):
        import ray.train
        import ray.train.torch

        ctx = ray.train.get_context()
        self.rank, self.world = ctx.get_world_rank(), ctx.get_world_size()
        self.device = ray.train.torch.get_device()
        self._train, self._torch = ray.train, ray.train.torch

    def checkpoint(self) -> contextlib.AbstractContextManager[str | None]:
        ckpt = self._train.get_checkpoint()
        return ckpt.as_directory() if ckpt else contextlib.nullcontext(None)

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        return self._torch.prepare_model(model)

    def report(self, metrics: dict, folder: str | None) -> None:
        ckpt = self._train.Checkpoint.from_directory(folder) if folder else None
        self._train.report(metrics, checkpoint=ckpt)


class LocalSession:
    """One process, no Ray: checkpoints go to ``folder/checkpoint_<epoch>``; reports are kept in ``reports``."""

    def __init__(self, folder: str | os.PathLike, device: str = "cpu"):
        self.rank, self.world, self.device = 0, 1, torch.device(device)
        self.folder, self.reports = str(folder), []

    def checkpoint(self):
        done = (
            sorted((d for d in os.listdir(self.folder) if d.startswith("checkpoint_")), key=lambda d: int(d[11:]))
            if os.path.isdir(self.folder)
            else []
        )
        return contextlib.nullcontext(os.path.join(self.folder, done[-1]) if done else None)

    def prepare(self, model):
        return model.to(self.device)

    def report(self, metrics, folder):
        if folder:
            dest = os.path.join(self.folder, f"checkpoint_{metrics['epoch']}")
            shutil.copytree(folder, dest, dirs_exist_ok=True)
            metrics = {**metrics, "checkpoint": dest}
        self.reports.append(metrics)


def _mean_over_workers(values: dict[str, float], device: torch.device) -> dict[str, float]:
    if not (dist.is_available() and dist.is_initialized()):
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(keys, (t / dist.get_world_size()).tolist()))


def train(cfg: TrainConfig, session, make_task: Callable[[TrainConfig, int], Any] | None = None) -> None:
    """Run (or resume) the training of ``cfg`` on this worker."""
    from mmengine.dataset import pseudo_collate

    from bmp_ray.train.tasks import make_task as default_task

    task = (make_task or default_task)(cfg, session.rank)
    model = task.model
    if getattr(task, "sync_bn", False) and session.device.type == "cuda" and session.world > 1:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)  # the recipe's SyncBN (GPU only)
    opt = build_optimizer(
        model, cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.layer_decay, cfg.optim.optimizer, cfg.optim.momentum
    )
    base_lrs = [g["lr"] for g in opt.param_groups]
    start_epoch, step = 0, 0
    with session.checkpoint() as folder:
        if folder:
            start_epoch, step = state.restore(folder, model, opt)
            log.info("rank %d: resumed after epoch %d (step %d) from %s", session.rank, start_epoch, step, folder)
    wrapped = session.prepare(model)
    model = getattr(wrapped, "module", wrapped)
    per_worker = cfg.optim.batch_size // session.world
    sampler = RatioSampler(
        task.sizes,
        task.ratios,
        cfg.data.samples_per_epoch or sum(task.sizes),
        rank=session.rank,
        world=session.world,
        seed=cfg.run.seed,
    )
    loader = torch.utils.data.DataLoader(
        task.dataset,
        batch_size=per_worker,
        sampler=sampler,
        drop_last=True,
        num_workers=cfg.data.loader_workers,
        collate_fn=pseudo_collate,
    )
    if len(loader) == 0:
        raise ValueError(
            f"optim.batch_size: {cfg.optim.batch_size} is more than the {sampler.total} samples "
            "of an epoch; lower it or raise data.samples_per_epoch"
        )
    dtype = check_precision(cfg.run.precision, session.device)
    autocast = torch.autocast(session.device.type, dtype=dtype, enabled=dtype is not None)
    run_meta = {"run": cfg.run.name, "config": cfg.to_dict()}
    for epoch in range(start_epoch, cfg.optim.epochs):
        sampler.set_epoch(epoch)
        torch.manual_seed(int(np.random.default_rng([cfg.run.seed, epoch, session.rank]).integers(2**62)))
        sums: dict[str, float] = {}
        n, t0 = 0, time.perf_counter()
        for i, batch in enumerate(loader):
            if cfg.run.max_steps_per_epoch and i >= cfg.run.max_steps_per_epoch:
                break
            set_lr(opt, base_lrs, lr_factor(step, epoch, cfg.optim.warmup_steps, cfg.optim.milestones, cfg.optim.gamma))
            data = model.data_preprocessor(batch, training=True)
            with autocast:
                losses = wrapped(**data, mode="loss")
            loss, log_vars = model.parse_losses(losses)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.optim.clip_grad:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.clip_grad)
            opt.step()
            step, n = step + 1, n + 1
            for k, v in log_vars.items():
                sums[k] = sums.get(k, 0.0) + float(torch.as_tensor(v).detach())
        seconds = time.perf_counter() - t0
        metrics = _mean_over_workers({k: v / max(n, 1) for k, v in sums.items()}, session.device)
        metrics.update(
            epoch=epoch + 1,
            step=step,
            lr=opt.param_groups[-1]["lr"],
            epoch_seconds=seconds,
            samples_per_s=n * per_worker * session.world / max(seconds, 1e-9),
        )
        last = epoch + 1 == cfg.optim.epochs
        if session.rank == 0 and (last or (epoch + 1) % cfg.run.val_every == 0):
            metrics.update(task.validate(model))
        if last or (epoch + 1) % cfg.run.checkpoint_every == 0:
            with tempfile.TemporaryDirectory(prefix="bmp_ray_ckpt_") as tmp:
                folder = (
                    state.save(tmp, model, opt, model_name=cfg.model.name, epoch=epoch + 1, step=step, run=run_meta)
                    if session.rank == 0
                    else None
                )
                session.report(metrics, str(folder) if folder else None)
        else:
            session.report(metrics, None)
        log.info(
            "rank %d epoch %d: %s",
            session.rank,
            epoch + 1,
            {k: round(v, 5) for k, v in metrics.items() if isinstance(v, float)},
        )


def train_loop_per_worker(config: dict) -> None:
    """Ray Train's entry point on each worker (``config``: ``TrainConfig.to_dict()``)."""
    from bmp_ray.cluster import route_warnings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    route_warnings()
    train(TrainConfig.from_dict(config), RaySession())
