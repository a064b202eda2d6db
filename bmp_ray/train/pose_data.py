"""The pose training set: a person's crop, its heatmap targets and MaskPose's conditioning.

Per sample, as mmpose's own top-down training does, with the conditioning in front:

1. the image (BGR, ``cv2.imread``) and the person's mask (COCO segmentation, or the box where the set
   has no masks, as at inference);
2. MaskPose conditioning (when on): the mask perturbed (``perturb.perturb_mask``), its holes filled
   (as at inference) and the image dimmed outside it, ``img * (0.8 + 0.2 * M)``;
3. mmpose's transforms from the model config's ``train_pipeline``: ``GetBBoxCenterScale`` (padding
   1.25), ``RandomFlip``, ``RandomHalfBody``, ``RandomBBoxTransform`` (the three only with ``augment``),
   ``TopdownAffine`` (UDP, 192x256), ``GenerateTarget`` (UDP heatmaps, sigma 2), ``PackPoseInputs``.

``RatioSampler`` draws each epoch's samples from several sets by ratio and splits them over the DDP
workers; each sample carries its own seed, so a sample is the same whatever worker or process makes it.
"""

from __future__ import annotations

import logging
from typing import Iterator, Sequence

import cv2
import numpy as np
import torch.utils.data

from bmp_ray.errors import DatasetError
from bmp_ray.masks import from_segmentation
from bmp_ray.models.pose_crops import dim_weights, fill_holes
from bmp_ray.train.keypoints import PersonSample
from bmp_ray.train.perturb import perturb_mask

log = logging.getLogger(__name__)
AUGMENTATIONS = ("RandomFlip", "RandomHalfBody", "RandomBBoxTransform")
META_KEYS = ("flip_indices", "flip_pairs", "upper_body_ids", "lower_body_ids", "dataset_keypoint_weights")


def read_image(path: str) -> np.ndarray:
    """(H, W, 3) uint8 BGR, or ``DatasetError`` naming the file."""
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise DatasetError(f"training image {path}: missing or not a readable image")
    return img


def person_mask(person: PersonSample, height: int, width: int) -> np.ndarray:
    """(H, W) uint8 0/1: the person's instance mask, or the box where the set has none."""
    seg = person.segmentation
    if seg:
        m = from_segmentation(seg, height, width)
        if m.shape == (height, width):
            return m.astype(np.uint8)
        log.warning(
            "%s: mask size %s differs from the image's %s; using the box", person.image, m.shape, (height, width)
        )
    m = np.zeros((height, width), np.uint8)
    x1, y1, x2, y2 = person.box
    m[max(int(y1), 0) : max(int(np.ceil(y2)), 0), max(int(x1), 0) : max(int(np.ceil(x2)), 0)] = 1
    return m


class PoseTrainSet(torch.utils.data.Dataset):
    """People as mmpose training samples (``{"inputs": (3, 256, 192) uint8/float tensor, "data_samples"}``).

    Args:
        people: the samples of every training set, concatenated (``RatioSampler`` indexes them).
        model: the mmpose ``TopdownPoseEstimator`` (its ``cfg.train_pipeline`` and ``dataset_meta``).
        conditioning: dim the image outside the (perturbed) mask.
        augment: keep mmpose's random flip, half-body and box transforms.
        perturb: perturb the conditioning mask.
    """

    def __init__(
        self, people: Sequence[PersonSample], model, *, conditioning: bool, augment: bool = True, perturb: bool = True
    ):
        from mmengine.dataset import Compose
        from mmengine.registry import DefaultScope
        from mmpose.registry import TRANSFORMS

        self.people = list(people)
        self.conditioning, self.perturb = bool(conditioning), bool(perturb)
        steps = [
            t
            for t in model.cfg.train_pipeline
            if t["type"] != "LoadImage" and (augment or t["type"] not in AUGMENTATIONS)
        ]
        with DefaultScope.overwrite_default_scope("mmpose"):
            self.pipeline = Compose([TRANSFORMS.build(dict(t)) for t in steps])
        self.meta = {k: model.dataset_meta[k] for k in META_KEYS if k in model.dataset_meta}

    def __len__(self) -> int:
        return len(self.people)

    def __getitem__(self, item: int | tuple[int, int]) -> dict:
        index, seed = item if isinstance(item, tuple) else (item, item)
        p = self.people[index]
        np.random.seed(seed % 2**32)  # mmpose's random transforms draw from numpy's global state
        rng = np.random.default_rng(seed)
        img = read_image(p.image)
        h, w = img.shape[:2]
        if self.conditioning:
            m = person_mask(p, h, w)
            if self.perturb:
                m = perturb_mask(m, p.box, rng)
            img = img.astype(np.float32) * dim_weights(fill_holes(m).astype(np.float32))[..., None]
        info = dict(
            img=img,
            img_shape=(h, w),
            ori_shape=(h, w),
            img_path=p.image,
            img_id=p.image_id,
            id=index,
            bbox=p.box.reshape(1, 4).copy(),
            bbox_score=np.ones(1, np.float32),
            keypoints=p.keypoints.reshape(1, -1, 2).copy(),
            keypoints_visible=p.visible.reshape(1, -1).copy(),
            **self.meta,
        )
        return self.pipeline(info)


class RatioSampler(torch.utils.data.Sampler):
    """Each epoch's samples drawn from several sets by ratio, shuffled and split over workers.

    Args:
        sizes: people per set (the dataset is their concatenation, in order).
        ratios: each set's share of an epoch.
        samples_per_epoch: samples per epoch over all workers (rounded down to a multiple of ``world``).
        rank, world: this worker and the number of workers.
        seed: with the epoch (``set_epoch``), decides every draw.

    Yields ``(index into the concatenation, sample seed)``; every worker gets the same number.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        ratios: Sequence[float],
        samples_per_epoch: int,
        *,
        rank: int = 0,
        world: int = 1,
        seed: int = 0,
    ):
        if len(sizes) != len(ratios) or not sizes or min(sizes) < 1:
            raise ValueError(
                f"RatioSampler: expected one ratio per non-empty set, got sizes {list(sizes)} and ratios {list(ratios)}"
            )
        if samples_per_epoch < world:
            raise ValueError(f"RatioSampler: samples_per_epoch ({samples_per_epoch}) < workers ({world})")
        self.sizes, self.ratios = list(sizes), np.asarray(ratios, np.float64)
        self.total = samples_per_epoch - samples_per_epoch % world
        self.rank, self.world, self.seed, self.epoch = rank, world, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def counts(self) -> list[int]:
        """Samples per set in one epoch (largest remainders: they sum to the epoch's total)."""
        share = self.ratios / self.ratios.sum() * self.total
        counts = np.floor(share).astype(int)
        for i in np.argsort(-(share - counts), kind="stable")[: self.total - counts.sum()]:
            counts[i] += 1
        return counts.tolist()

    def draw(self) -> np.ndarray:
        """(total, 2) int64: the epoch's (index, sample seed) rows over all workers."""
        rng = np.random.default_rng([self.seed, self.epoch])
        parts, offset = [], 0
        for size, count in zip(self.sizes, self.counts()):
            reps = -(-count // size)
            idx = np.concatenate([rng.permutation(size) for _ in range(reps)])[:count] if count else []
            parts.append(np.asarray(idx, np.int64) + offset)
            offset += size
        order = rng.permutation(np.concatenate(parts))
        seeds = rng.integers(0, 2**62, len(order), dtype=np.int64)
        return np.stack([order, seeds], axis=1)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for index, seed in self.draw()[self.rank :: self.world]:
            yield int(index), int(seed)

    def __len__(self) -> int:
        return self.total // self.world
