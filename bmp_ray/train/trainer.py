"""The fine-tuning job: a Ray Train (V2) ``TorchTrainer`` over ``worker.train``.

``fit(cfg)`` checks the inputs on the driver (annotation files, images, starting weights) before any
worker starts, then runs ``cfg.run.num_workers`` DDP workers (gloo on CPU, NCCL with ``use_gpu``).
Checkpoints go to ``storage_path/name`` (a local folder shared by the nodes, or s3:// / gs://);
submitting again with the same name and storage resumes from the latest checkpoint (Ray Train restores
the run's state from storage). The final checkpoint is exported to ``run.export`` in the official layout.

Data loading is a sharded torch ``DataLoader`` per worker (``RatioSampler``), not Ray Data: a sample is
one random read of an indexed annotation plus per-sample random augmentation, the sets are small
enough to index on every worker, and the sampler makes each epoch's draw a pure function of (seed,
epoch), which is what makes a resumed run draw exactly the samples the interrupted one would have.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from bmp_ray.models import registry
from bmp_ray.models.weights import resolve
from bmp_ray.train import state
from bmp_ray.train.config import TrainConfig

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrainSummary:
    """What a finished job reports: last metrics, where its checkpoint is, where it exported to."""

    name: str
    metrics: dict
    checkpoint: str | None
    exported: str | None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def preflight(cfg: TrainConfig) -> None:
    """Fail on the driver, before any worker starts, on missing or malformed data and weights."""
    from bmp_ray.train.tasks import TASKS

    TASKS[cfg.model.task].check(cfg)
    if cfg.data.val_ann_file and not Path(cfg.data.val_ann_file).is_file():
        from bmp_ray.errors import DatasetError

        raise DatasetError(f"validation file {cfg.data.val_ann_file}: not found; check data.val_ann_file")
    start = registry.get(cfg.model.init_model or cfg.model.name, cfg.model.task)
    resolve(start.checkpoint, cfg.model.init)


def _worker_resources(cfg: TrainConfig) -> dict:
    res = {"CPU": 1.0, **({"GPU": 1.0} if cfg.run.use_gpu else {})}
    return {**res, cfg.run.pool: 0.001} if cfg.run.pool else res


def fit(cfg: TrainConfig, address: str | None = None) -> TrainSummary:
    """Run (or resume) the training job of ``cfg`` on Ray; export the final weights when asked."""
    import ray.train
    from ray.train.torch import TorchConfig, TorchTrainer

    from bmp_ray.cluster import init_ray
    from bmp_ray.train.worker import train_loop_per_worker

    cfg = cfg.absolute()
    preflight(cfg)
    init_ray(address)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=cfg.to_dict(),
        torch_config=TorchConfig(backend="nccl" if cfg.run.use_gpu else "gloo"),
        scaling_config=ray.train.ScalingConfig(
            num_workers=cfg.run.num_workers, use_gpu=cfg.run.use_gpu, resources_per_worker=_worker_resources(cfg)
        ),
        run_config=ray.train.RunConfig(
            name=cfg.run.name,
            storage_path=cfg.run.storage(),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=cfg.run.keep),
            failure_config=ray.train.FailureConfig(max_failures=2),
        ),
    )
    result = trainer.fit()
    exported = None
    if cfg.run.export and result.checkpoint is not None:
        with result.checkpoint.as_directory() as folder:
            exported = str(state.export(folder, cfg.run.export))
    metrics = {k: v for k, v in (result.metrics or {}).items() if isinstance(v, (int, float, str))}
    return TrainSummary(cfg.run.name, metrics, result.checkpoint.path if result.checkpoint else None, exported)
