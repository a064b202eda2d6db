"""The detector stage: RTMDet-Ins person boxes and instance masks, batched over frames.

Frames go through mmdet's own test pipeline of the model's config (letterbox to the model's input
size, pad value 114, BGR) and one batched forward and head post-processing, mmdet's ``test_step`` with
the masks left at low resolution (``det_masks``); the detector's internal thresholds are those of the
config (score 0.05, NMS IoU 0.6, at most 40 instances, mask threshold 0.5). Then, as BMP does, only
label 0 (person) with score > ``score_thr`` is kept, sorted by score, with greedy box NMS at ``nms_iou``.
Boxes are clipped to the frame (boxes left without area are dropped). Only the kept people's masks are
upsampled (on the device, as mmdet does, bit-identical to its masks) and they cross to the host as run
boundaries, one transfer per batch. Masks leave the stage as COCO RLE at frame size; boxes are in frame
pixels.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Sequence

import cv2
import numpy as np
import torch
import torchvision

from bmp_ray import masks as _masks
from bmp_ray.models import det_masks as _det_masks
from bmp_ray.models.build import LoadedModel, check_device, load_model
from bmp_ray.models.common import check_frames, check_precision, inference

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, eq=False)
class Detections:
    """Person detections in one frame, sorted by decreasing score.

    Attributes:
        boxes: (N, 4) float32, xyxy, frame pixels.
        scores: (N,) float32 in [0, 1].
        masks: (N,) object array of bytes, COCO RLE counts of the instance masks at (height, width).
        height, width: frame size in pixels.
    """

    boxes: np.ndarray
    scores: np.ndarray
    masks: np.ndarray
    height: int
    width: int

    def __post_init__(self):
        n = len(self.scores)
        if self.boxes.shape != (n, 4) or self.masks.shape != (n,):
            raise ValueError(
                f"Detections: expected boxes (N, 4) and masks (N,) with N = {n}, got "
                f"{self.boxes.shape} and {self.masks.shape}"
            )

    def __len__(self) -> int:
        return len(self.scores)

    def mask_array(self) -> np.ndarray:
        """(N, H, W) bool instance masks."""
        return _masks.decode(self.masks, self.height, self.width)


def person_nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, score_thr: float, iou: float) -> np.ndarray:
    """Indices of kept people: label 0, score > ``score_thr``, greedy NMS at ``iou``, by score."""
    idx = np.flatnonzero((labels == 0) & (scores > score_thr))
    if idx.size == 0:
        return idx
    keep = torchvision.ops.nms(
        torch.as_tensor(boxes[idx], dtype=torch.float32), torch.as_tensor(scores[idx], dtype=torch.float32), iou
    ).numpy()
    return idx[keep]


def clip_boxes(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """(N, 4) xyxy boxes clipped to the frame. mmdet clamps boxes to the letterboxed image, which after
    rescaling can reach a little past the frame (far past it for extreme aspect ratios); a box left
    with no area is dropped by the caller."""
    out = boxes.astype(np.float32, copy=True)
    np.clip(out[:, 0::2], 0, width, out=out[:, 0::2])
    np.clip(out[:, 1::2], 0, height, out=out[:, 1::2])
    return out


def select_people(
    boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, height: int, width: int, score_thr: float, iou: float
) -> tuple[np.ndarray, np.ndarray]:
    """BMP's rule on a detector's raw output: boxes clipped to the frame, those left without area
    dropped, then ``person_nms``. Returns the clipped (N, 4) boxes and the kept indices."""
    boxes = clip_boxes(boxes, height, width)
    labels = np.where((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]), labels, -1)
    return boxes, person_nms(boxes, scores, labels, score_thr, iou)


def fit_masks(masks: np.ndarray, height: int, width: int) -> np.ndarray:
    """(N, h', w') masks cut or zero-padded to (N, height, width).

    mmdet 3.3 rescales RTMDet-Ins masks to ``ceil(input * 1/scale)`` and cuts at the original size,
    which can leave them a pixel short of the frame (640x425 at a 320 letterbox gives width 639).
    """
    n, h, w = masks.shape
    if (h, w) == (height, width):
        return masks
    out = np.zeros((n, height, width), masks.dtype)
    out[:, : min(h, height), : min(w, width)] = masks[:, :height, :width]
    return out


class Detector:
    """Person detection with instance masks on batches of frames.

    Args:
        model: registry name of a detector ("rtmdet-ins-l-bmp", or "rtmdet-ins-tiny" in tests).
        weights: checkpoint file or official-layout folder (None: hub / cache).
        device: "cpu" or "cuda[:N]".
        precision: "fp32", or "fp16" / "bf16" autocast on CUDA.
        score_thr: keep people with score strictly above this (BMP: 0.3).
        nms_iou: greedy box NMS IoU between kept people (BMP: 0.3).
        max_per_img: the detector's own cap on instances per image, all classes (default: the model
            config's, 40 for BMP).
        loaded: an already loaded model to use instead of ``model`` / ``weights`` (training validation:
            the model being trained, in eval mode).
    """

    def __init__(
        self,
        model: str = "rtmdet-ins-l-bmp",
        weights: str | os.PathLike | None = None,
        *,
        device: str = "cpu",
        precision: str = "fp32",
        score_thr: float = 0.3,
        nms_iou: float = 0.3,
        max_per_img: int | None = None,
        offline: bool | None = None,
        loaded: LoadedModel | None = None,
    ):
        from mmcv.transforms import Compose
        from mmdet.utils import get_test_pipeline_cfg
        from mmengine.registry import DefaultScope

        for name, v in (("score_thr", score_thr), ("nms_iou", nms_iou)):
            if not 0.0 <= float(v) <= 1.0:
                raise ValueError(f"Detector {name}: expected a number in [0, 1], got {v!r}")
        self.device = check_device(device)
        self.dtype = check_precision(precision, self.device)
        self.loaded = loaded if loaded is not None else load_model(model, weights, device=device, offline=offline)
        if self.loaded.spec.family != "detector":
            raise ValueError(f"Detector: {model!r} is a {self.loaded.spec.family} model")
        self.model = self.loaded.module
        self.score_thr, self.nms_iou = float(score_thr), float(nms_iou)
        if max_per_img is not None:
            if isinstance(max_per_img, bool) or not isinstance(max_per_img, int) or max_per_img < 1:
                raise ValueError(f"Detector max_per_img: expected an integer >= 1, got {max_per_img!r}")
            self.model.bbox_head.test_cfg["max_per_img"] = max_per_img
        pipeline = get_test_pipeline_cfg(self.model.cfg.copy())
        pipeline[0].type = "mmdet.LoadImageFromNDArray"
        with DefaultScope.overwrite_default_scope("mmdet"):
            self.pipeline = Compose(pipeline)

    def __call__(
        self,
        frames: np.ndarray | Sequence[np.ndarray],
        erase: Sequence[np.ndarray | None] | None = None,
        *,
        score_thr: float | None = None,
        nms_iou: float | None = None,
    ) -> list[Detections]:
        """Detect people.

        Args:
            frames: (B, H, W, 3) uint8 RGB, or a list of RGB / grayscale frames of any sizes.
            erase: optional per frame (H, W) bool mask of pixels painted black (0, 0, 0) before detection
                (BMP's mask-out of people already found); None leaves a frame as it is.
            score_thr, nms_iou: this call's person thresholds (default: the stage's own).

        Returns:
            one ``Detections`` per frame.
        """
        frames = check_frames(frames)
        if erase is not None and len(erase) != len(frames):
            raise ValueError(f"erase: expected one mask (or None) per frame ({len(frames)}), got {len(erase)}")
        if not frames:
            return []
        data = []
        for i, f in enumerate(frames):
            bgr = cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2BGR)  # a copy, ~100x faster than f[..., ::-1]
            if erase is not None and erase[i] is not None:
                m = np.asarray(erase[i], bool)
                if m.shape != f.shape[:2]:
                    raise ValueError(f"erase[{i}]: expected shape {f.shape[:2]}, got {m.shape}")
                _masks.paint_black(bgr, m)
            data.append(self.pipeline(dict(img=bgr, img_id=i)))
        from mmengine.dataset import pseudo_collate

        thr = self.score_thr if score_thr is None else float(score_thr)
        iou = self.nms_iou if nms_iou is None else float(nms_iou)
        with inference(self.device, self.dtype):
            cands, metas = self._candidates(pseudo_collate(data))
            return self._convert(cands, metas, [f.shape[:2] for f in frames], thr, iou)

    def _candidates(self, data: dict) -> tuple[list, list[dict]]:
        """mmdet's ``test_step`` up to the head's post-processing, the masks left at low resolution
        (``det_masks.candidates``); with each image's meta."""
        data = self.model.data_preprocessor(data, False)
        metas = [s.metainfo for s in data["data_samples"]]
        outs = self.model.bbox_head(self.model.extract_feat(data["inputs"]))
        return _det_masks.candidates(self.model.bbox_head, outs, metas), metas

    def _convert(
        self, cands: list, metas: list[dict], sizes: list[tuple[int, int]], score_thr: float, nms_iou: float
    ) -> list[Detections]:
        """BMP's person rule on the candidates' boxes (one transfer), mmdet's mask upsampling of the kept
        people only, on the device, and their RLE (``det_masks.to_rle``: run boundaries, one transfer)."""
        n = [len(c.scores) for c in cands]
        rows = (
            torch.cat(
                [torch.cat([c.bboxes.float(), c.scores.float()[:, None], c.labels.float()[:, None]], 1) for c in cands]
            )
            .cpu()
            .numpy()
        )
        head = self.model.bbox_head
        stride, mask_thr = head.prior_generator.strides[0][0], head.test_cfg.mask_thr_binary
        kept, picks = [], []
        for start, (h, w), r in zip(np.cumsum([0] + n[:-1]), sizes, np.split(rows, np.cumsum(n)[:-1])):
            boxes, keep = select_people(r[:, :4], r[:, 4], r[:, 5].astype(np.int64), h, w, score_thr, nms_iou)
            kept.append((boxes[keep], r[keep, 4]))
            picks.append(start + keep)
        logits = torch.cat([c.mask_logits for c in cands])  # (sum n, h, w): one letterbox size per batch
        logits = logits[torch.as_tensor(np.concatenate(picks), dtype=torch.long).to(logits.device)]
        masks = [
            _det_masks.upsample(x, stride, meta, mask_thr)
            for x, meta in zip(logits.split([len(p) for p in picks]), metas)
        ]
        return [
            Detections(b.astype(np.float32), s.astype(np.float32), np.array(rles, object).reshape(-1), h, w)
            for (b, s), rles, (h, w) in zip(kept, _det_masks.to_rle(masks, sizes), sizes)
        ]
