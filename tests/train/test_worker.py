"""The training loop in one process (``LocalSession``): the overfit check and exact resume."""

import numpy as np
import torch

from bmp_ray.train import state
from bmp_ray.train.worker import LocalSession, train


def test_overfit_on_the_coco_samples_halves_the_loss(small_train_config, tmp_path):
    """12 people of the 4 COCO images, no augmentation, conditioning on (masks perturbed): the loss
    of the last epochs is at most half that of the first (loss, targets and inputs are wired right)."""
    cfg = small_train_config(
        **{
            "data.augment": "false",
            "optim.batch_size": 12,
            "optim.epochs": 40,
            "optim.lr": "2e-3",
            "optim.warmup_steps": 0,
            "optim.milestones": "[]",
            "run.val_every": 1000,
        }
    )
    session = LocalSession(tmp_path)
    torch.set_num_threads(1)
    train(cfg, session)
    losses = [r["loss"] for r in session.reports]
    assert len(losses) == 40
    first, last = np.mean(losses[:2]), np.mean(losses[-5:])
    assert last <= 0.5 * first, (first, last)
    assert 0.0 <= session.reports[-1]["val_keypoints_AP"] <= 1.0  # validated at the last epoch


def test_resume_continues_exactly_where_the_run_stopped(small_train_config, tmp_path):
    """2 epochs in one go equal 1 epoch, a new process' worth of state, then the 2nd epoch resumed."""
    torch.set_num_threads(1)
    cfg2 = small_train_config(**{"optim.epochs": 2, "run.max_steps_per_epoch": 2, "run.val_every": 1000})
    straight = LocalSession(tmp_path / "straight")
    train(cfg2, straight)

    cfg1 = small_train_config(**{"optim.epochs": 1, "run.max_steps_per_epoch": 2, "run.val_every": 1000})
    resumed = LocalSession(tmp_path / "resumed")
    train(cfg1, resumed)
    train(cfg2, resumed)  # finds checkpoint_1 and trains epoch 2 only
    assert [r["epoch"] for r in resumed.reports] == [1, 2] and resumed.reports[-1]["step"] == 4
    a = torch.load(f"{straight.reports[-1]['checkpoint']}/{state.MODEL_FILE}", weights_only=True)["state_dict"]
    b = torch.load(f"{resumed.reports[-1]['checkpoint']}/{state.MODEL_FILE}", weights_only=True)["state_dict"]
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k


def test_detector_overfit_on_the_coco_samples_halves_the_loss(coco_dir, det_init, tmp_path):
    """RTMDet-Ins-tiny from mmdet's initialisation on the 4 COCO images (14 people), letterboxed as at
    inference, no mask-out: the loss of the last epochs is at most half that of the first. AdamW at
    1e-3: the recipe's SGD gets there too, in about twice the steps."""
    from bmp_ray.train import config as train_config

    from .conftest import det_settings

    cfg = train_config.load(
        overrides=det_settings(
            coco_dir,
            det_init,
            **{
                "data.augment": "false",
                "data.mask_out": "false",
                "optim.optimizer": "adamw",
                "optim.epochs": 30,
                "optim.warmup_steps": 0,
                "optim.milestones": "[]",
                "run.val_every": 1000,
            },
        )
    )
    session = LocalSession(tmp_path)
    torch.set_num_threads(2)
    train(cfg, session)
    losses = [r["loss"] for r in session.reports]
    first, last = np.mean(losses[:2]), np.mean(losses[-3:])
    assert last <= 0.5 * first, (first, last)
    assert {"loss_cls", "loss_bbox", "loss_mask"} <= set(session.reports[-1])
    assert 0.0 <= session.reports[-1]["val_masked_bbox_AP"] <= 1.0  # validated at the last epoch
