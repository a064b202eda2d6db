"""The pose stage: MaskPose / ViTPose top-down keypoints, batched over every person of every frame.

Per person (box xyxy, optional instance mask), as mmpose's test pipeline does: center and scale from
the box with padding 1.25, aspect fixed to 3:4 (w:h), UDP affine warp to 192x256 (bilinear); then
normalisation with the ImageNet mean/std in RGB; one forward of the original and the flipped crops in
the same batch (the head's BatchNorms folded into its deconvolutions); flipped heatmaps mapped back and
averaged; UDP + DARK-UDP decoding (mmpose's own
codec); keypoints mapped back to frame pixels.

MaskPose conditioning (``conditioning=True``): the image is ``img * (0.8 + 0.2 * M)`` with ``M`` the
person's mask with holes filled (a person without a mask is conditioned by its box). bmp_ray applies
the dimming INSIDE the crop (``condition_at="crop"``, the default): the crop is multiplied by the mask
warped with the same affine matrix (bilinear), instead of dimming the whole frame once per person and
warping that. The two agree up to interpolation at the mask border (measured in ``bench stages`` and
in the tests); ``condition_at="frame"`` computes the full-resolution reference.
"""

from __future__ import annotations

import logging
import os
from typing import Sequence

import cv2
import numpy as np
import torch

from bmp_ray import masks as _masks
from bmp_ray.models.build import LoadedModel, check_device, load_model
from bmp_ray.models.common import check_frames, check_precision, inference
from bmp_ray.models.fuse import fuse_conv_bn

log = logging.getLogger(__name__)
DIM_BACKGROUND = 0.8  # MaskPose: background pixels keep 80 percent of their value


def box_to_center_scale(boxes: np.ndarray, padding: float, aspect: float) -> tuple[np.ndarray, np.ndarray]:
    """mmpose's ``bbox_xyxy2cs`` with padding, then the scale fixed to ``aspect`` = w / h.

    Args:
        boxes: (N, 4) xyxy, frame pixels.

    Returns:
        centers (N, 2) and scales (N, 2) (w, h), float32, frame pixels.
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    x1, y1, x2, y2 = boxes.T
    center = np.stack([x1 + x2, y1 + y2], axis=1) * 0.5
    scale = np.stack([x2 - x1, y2 - y1], axis=1) * padding
    w, h = scale[:, :1], scale[:, 1:]
    scale = np.where(w > h * aspect, np.hstack([w, w / aspect]), np.hstack([h * aspect, h]))
    return center.astype(np.float32), scale.astype(np.float32)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool mask with every hole filled (the union of its external contours), as uint8 0/1."""
    m = np.ascontiguousarray(mask, np.uint8)
    ys, xs = np.nonzero(m)
    if ys.size == 0:
        return m
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    sub = m[y0:y1, x0:x1]
    contours, _ = cv2.findContours(sub, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(sub, contours, -1, 1, thickness=cv2.FILLED)
    return m


def _box_mask(box: np.ndarray, height: int, width: int) -> np.ndarray:
    m = np.zeros((height, width), np.uint8)
    x1, y1 = max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0)
    x2, y2 = min(int(np.ceil(box[2])), width), min(int(np.ceil(box[3])), height)
    m[y1:y2, x1:x2] = 1
    return m


class PoseEstimator:
    """Top-down keypoints for people given by boxes (and masks, for MaskPose).

    Args:
        model: registry name ("maskpose-b", "vitpose-b-multi"; "maskpose-tiny" / "vitpose-tiny" in tests).
        weights: checkpoint file or official-layout folder (None: hub / cache).
        device: "cpu" or "cuda[:N]"; precision: "fp32", or "fp16" / "bf16" autocast on CUDA.
        conditioning: MaskPose dimming on or off (default: the model's own, on for MaskPose).
        condition_at: "crop" (dim inside the crop, default) or "frame" (full-resolution reference).
        flip_test: average with the flipped crop (the models' test setting).
        fuse_bn: fold the head's BatchNorms into its deconvolutions (same function up to float
            rounding, one pass less over the largest activations).
        loaded: an already loaded model to use instead of ``model`` / ``weights`` (training validation:
            the model being trained, in eval mode, on ``device``).
        max_batch: most people per forward pass (each gives two crops with the flip test); default 4
            on the CPU (small batches stay in cache: measured faster there) and 64 on CUDA.
    """

    def __init__(self, model: str = "maskpose-b", weights: str | os.PathLike | None = None, *,
                 device: str = "cpu", precision: str = "fp32", conditioning: bool | None = None,
                 condition_at: str = "crop", flip_test: bool = True, max_batch: int | None = None, fuse_bn: bool = True,
                 offline: bool | None = None, loaded: LoadedModel | None = None):
        from mmpose.models.utils.tta import flip_heatmaps

        if condition_at not in ("crop", "frame"):
            raise ValueError(f"condition_at: expected 'crop' or 'frame', got {condition_at!r}")
        self.device = check_device(device)
        max_batch = max_batch if max_batch is not None else (64 if self.device.type == "cuda" else 4)
        if int(max_batch) < 1:
            raise ValueError(f"max_batch: expected an integer >= 1, got {max_batch!r}")
        self.dtype = check_precision(precision, self.device)
        self.loaded = loaded if loaded is not None else load_model(model, weights, device=device, offline=offline)
        if self.loaded.spec.family != "pose":
            raise ValueError(f"PoseEstimator: {model!r} is a {self.loaded.spec.family} model")
        self.model = self.loaded.module
        self.conditioning = self.loaded.spec.conditioning if conditioning is None else bool(conditioning)
        self.condition_at, self.flip_test, self.max_batch = condition_at, bool(flip_test), int(max_batch)
        cfg = self.model.cfg
        self.codec = self.model.head.decoder
        self.input_w, self.input_h = (int(v) for v in cfg.codec["input_size"])
        self.padding = float(cfg.get("bbox_padding", 1.25))
        pre = self.model.data_preprocessor
        # crops are RGB already: mean/std are the preprocessor's own, which it applies after BGR->RGB
        self._mean = pre.mean.view(1, 3, 1, 1).to(self.device)
        self._std = pre.std.view(1, 3, 1, 1).to(self.device)
        self.flip_indices = list(self.model.dataset_meta["flip_indices"])
        self.num_keypoints = len(self.flip_indices)
        self._flip_heatmaps = flip_heatmaps
        # BN folded into the deconvolutions of a copy of the head (self.model stays as loaded)
        self._head = fuse_conv_bn(self.model.head) if fuse_bn else self.model.head

    # -- crops -------------------------------------------------------------------------------------

    def crops(self, frame: np.ndarray, boxes: np.ndarray, masks: Sequence[bytes] | None):
        """(N, 256, 192, 3) float32 RGB crops of one frame, conditioned when on; and centers, scales."""
        from mmpose.structures.bbox import get_udp_warp_matrix

        h, w = frame.shape[:2]
        centers, scales = box_to_center_scale(boxes, self.padding, self.input_w / self.input_h)
        size = (self.input_w, self.input_h)
        out = np.empty((len(boxes), self.input_h, self.input_w, 3), np.float32)
        for j in range(len(boxes)):
            mat = get_udp_warp_matrix(centers[j], scales[j], 0.0, output_size=size)
            if not self.conditioning:
                out[j] = cv2.warpAffine(frame, mat, size, flags=cv2.INTER_LINEAR)
                continue
            rle = masks[j] if masks is not None else b""
            m = fill_holes(_masks.decode([rle], h, w)[0]) if len(rle) else _box_mask(boxes[j], h, w)
            if self.condition_at == "frame":
                weight = DIM_BACKGROUND + (1.0 - DIM_BACKGROUND) * m.astype(np.float32)
                out[j] = cv2.warpAffine(frame.astype(np.float32) * weight[..., None], mat, size,
                                        flags=cv2.INTER_LINEAR)
            else:
                crop = cv2.warpAffine(frame, mat, size, flags=cv2.INTER_LINEAR).astype(np.float32)
                mw = cv2.warpAffine(m.astype(np.float32), mat, size, flags=cv2.INTER_LINEAR)
                out[j] = crop * (DIM_BACKGROUND + (1.0 - DIM_BACKGROUND) * mw)[..., None]
        return out, centers, scales

    # -- forward -----------------------------------------------------------------------------------

    def heatmaps(self, crops: np.ndarray) -> np.ndarray:
        """(N, K, 64, 48) float32 heatmaps of (N, 256, 192, 3) RGB float crops, flip test included."""
        x = torch.from_numpy(crops).to(self.device).permute(0, 3, 1, 2)
        x = (x - self._mean) / self._std
        n = x.shape[0]
        if self.flip_test:
            x = torch.cat([x, x.flip(-1)])
        with inference(self.device, self.dtype):
            hm = self._head.forward(self.model.extract_feat(x)).float()
        if self.flip_test:
            flipped = self._flip_heatmaps(hm[n:], flip_mode="heatmap", flip_indices=self.flip_indices,
                                          shift_heatmap=False)
            hm = (hm[:n] + flipped) * 0.5
        return hm.cpu().numpy()

    def __call__(self, frames: np.ndarray | Sequence[np.ndarray], boxes: Sequence[np.ndarray],
                 masks: Sequence[Sequence[bytes] | None] | None = None) -> list[np.ndarray]:
        """Keypoints of every person of every frame.

        Args:
            frames: (B, H, W, 3) uint8 RGB, or a list of RGB / grayscale frames of any sizes.
            boxes: per frame an (N_i, 4) array, xyxy in frame pixels (N_i may be 0).
            masks: per frame N_i COCO RLE counts (``b""``: none, the box is used) or None; only read
                when conditioning is on.

        Returns:
            per frame an (N_i, K, 3) float32 array: x, y in frame pixels and the heatmap score.
        """
        frames = check_frames(frames)
        if len(boxes) != len(frames):
            raise ValueError(f"boxes: expected one (N, 4) array per frame ({len(frames)}), got {len(boxes)}")
        if masks is not None and len(masks) != len(frames):
            raise ValueError(f"masks: expected one entry per frame ({len(frames)}), got {len(masks)}")
        boxes = [np.asarray(b, np.float32).reshape(-1, 4) if np.size(b) else np.zeros((0, 4), np.float32)
                 for b in boxes]
        for i, b in enumerate(boxes):
            if masks is not None and masks[i] is not None and len(masks[i]) != len(b):
                raise ValueError(f"masks[{i}]: expected {len(b)} masks (one per box), got {len(masks[i])}")
        counts = [len(b) for b in boxes]
        parts = [self.crops(f, b, None if masks is None else masks[i])
                 for i, (f, b) in enumerate(zip(frames, boxes)) if len(b)]
        k = self.num_keypoints
        if not parts:
            return [np.zeros((0, k, 3), np.float32) for _ in frames]
        crops = np.concatenate([p[0] for p in parts])
        centers = np.concatenate([p[1] for p in parts])
        scales = np.concatenate([p[2] for p in parts])
        hms = np.concatenate([self.heatmaps(crops[s:s + self.max_batch])
                              for s in range(0, len(crops), self.max_batch)])
        kpts = np.empty((len(crops), k, 3), np.float32)
        size = np.array([self.input_w, self.input_h], np.float32)
        for j, hm in enumerate(hms):
            xy, score = self.codec.decode(hm)  # mmpose's UDP + DARK-UDP decoding, input-crop pixels
            kpts[j, :, :2] = xy[0] / size * scales[j] + centers[j] - 0.5 * scales[j]
            kpts[j, :, 2] = score[0]
        return list(np.split(kpts, np.cumsum(counts)[:-1]))
