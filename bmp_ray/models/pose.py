"""The pose stage: MaskPose / ViTPose top-down keypoints, batched over every person of every frame.

Per person (box xyxy, optional instance mask), as mmpose's test pipeline does: center and scale from
the box with padding 1.25, aspect fixed to 3:4 (w:h), UDP affine warp to 192x256 (bilinear); then
normalisation with the ImageNet mean/std in RGB; one forward of the original and the flipped crops in
the same batch (the head's BatchNorms folded into its deconvolutions); flipped heatmaps mapped back and
averaged; UDP + DARK-UDP decoding; keypoints mapped back to frame pixels.

Two backends compute the crops and the decoding: "torch" (the default) builds the crops of all people
of all frames at once on the stage's device (``pose_crops.torch_crops``: one host-to-device transfer)
and decodes all heatmaps there (``pose_decode.decode_udp_dark``: one device-to-host transfer);
"reference" warps with cv2 and decodes with mmpose's own codec, one person at a time. They agree within
the tolerances of tests/models/test_pose_crops.py and test_pose_decode.py.

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

import numpy as np
import torch

from bmp_ray.models.build import LoadedModel, check_device, load_model
from bmp_ray.models.common import check_frames, check_precision, inference
from bmp_ray.models.fuse import fuse_conv_bn
from bmp_ray.models.pose_crops import DIM_BACKGROUND, box_to_center_scale, fill_holes, reference_crops, torch_crops
from bmp_ray.models.pose_decode import decode_udp_dark

__all__ = ["BACKENDS", "DIM_BACKGROUND", "PoseEstimator", "box_to_center_scale", "fill_holes"]
log = logging.getLogger(__name__)
BACKENDS = ("torch", "reference")


class PoseEstimator:
    """Top-down keypoints for people given by boxes (and masks, for MaskPose).

    Args:
        model: registry name ("maskpose-b", "vitpose-b-multi"; "maskpose-tiny" / "vitpose-tiny" in tests).
        weights: checkpoint file or official-layout folder (None: hub / cache).
        device: "cpu" or "cuda[:N]"; precision: "fp32", or "fp16" / "bf16" autocast on CUDA.
        conditioning: MaskPose dimming on or off (default: the model's own, on for MaskPose).
        condition_at: "crop" (dim inside the crop, default) or "frame" (full-resolution reference, built
            by the reference crops whatever the backend).
        flip_test: average with the flipped crop (the models' test setting).
        fuse_bn: fold the head's BatchNorms into its deconvolutions (same function up to float
            rounding, one pass less over the largest activations).
        loaded: an already loaded model to use instead of ``model`` / ``weights`` (training validation:
            the model being trained, in eval mode, on ``device``).
        max_batch: most people per forward pass (each gives two crops with the flip test); default 4
            on the CPU (small batches stay in cache: measured faster there) and 64 on CUDA.
        backend: "torch" (default): crops and decoding batched over all people on ``device``, one
            transfer each way per call; "reference": cv2 crops and mmpose's codec, one person at a time.
    """

    def __init__(
        self,
        model: str = "maskpose-b",
        weights: str | os.PathLike | None = None,
        *,
        device: str = "cpu",
        precision: str = "fp32",
        conditioning: bool | None = None,
        condition_at: str = "crop",
        flip_test: bool = True,
        max_batch: int | None = None,
        fuse_bn: bool = True,
        offline: bool | None = None,
        loaded: LoadedModel | None = None,
        backend: str = "torch",
    ):
        if condition_at not in ("crop", "frame"):
            raise ValueError(f"condition_at: expected 'crop' or 'frame', got {condition_at!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {', '.join(map(repr, BACKENDS))}, got {backend!r}")
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
        self.backend = backend
        cfg = self.model.cfg
        self.codec = self.model.head.decoder
        kind = (type(self.codec).__name__, getattr(self.codec, "heatmap_type", None))
        if backend == "torch" and kind != ("UDPHeatmap", "gaussian"):
            raise ValueError(
                f"backend 'torch' decodes UDPHeatmap (gaussian) heatmaps; the model's codec is {kind}: "
                "use backend='reference'"
            )
        self.blur_kernel_size = int(getattr(self.codec, "blur_kernel_size", 11))
        self.input_w, self.input_h = (int(v) for v in cfg.codec["input_size"])
        self.padding = float(cfg.get("bbox_padding", 1.25))
        pre = self.model.data_preprocessor
        # crops are RGB already: mean/std are the preprocessor's own, which it applies after BGR->RGB
        self._mean = pre.mean.view(1, 3, 1, 1).to(self.device)
        self._std = pre.std.view(1, 3, 1, 1).to(self.device)
        self.flip_indices = list(self.model.dataset_meta["flip_indices"])
        self.num_keypoints = len(self.flip_indices)
        # mmpose's flip_heatmaps (mode "heatmap", no shift) with the index on the device: a list index
        # would be copied there on every pass, waiting for the device each time
        self._flip_index = torch.tensor(self.flip_indices, dtype=torch.int64).to(self.device)
        # BN folded into the deconvolutions of a copy of the head (self.model stays as loaded)
        self._head = fuse_conv_bn(self.model.head) if fuse_bn else self.model.head

    # -- crops -------------------------------------------------------------------------------------

    def crops(self, frame: np.ndarray, boxes: np.ndarray, masks: Sequence[bytes] | None):
        """The reference crops of one frame (cv2, one person at a time): (N, 256, 192, 3) float32 RGB,
        conditioned when on; and centers, scales (N, 2)."""
        return reference_crops(
            frame,
            boxes,
            masks,
            size=(self.input_w, self.input_h),
            padding=self.padding,
            conditioning=self.conditioning,
            condition_at=self.condition_at,
        )

    def crops_torch(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray], masks=None):
        """The torch crops of all people of ``frames``: (N, 3, 256, 192) float32 RGB 0..255 on the device,
        conditioned when on (inside the crop); and centers, scales (N, 2) numpy."""
        return torch_crops(
            frames,
            boxes,
            masks if self.conditioning else None,
            size=(self.input_w, self.input_h),
            padding=self.padding,
            conditioning=self.conditioning,
            device=self.device,
        )

    # -- forward -----------------------------------------------------------------------------------

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, K, 64, 48) float32 heatmaps on the device of (N, 3, 256, 192) normalised crops."""
        n = x.shape[0]
        if self.flip_test:
            x = torch.cat([x, x.flip(-1)])
        with inference(self.device, self.dtype):
            hm = self._head.forward(self.model.extract_feat(x)).float()
        if self.flip_test:
            hm = (hm[:n] + hm[n:].flip(-1)[:, self._flip_index]) * 0.5
        return hm

    def _heatmaps_of(self, crops: torch.Tensor) -> torch.Tensor:
        """Heatmaps of (N, 3, 256, 192) RGB 0..255 crops on the device, ``max_batch`` people a pass."""
        x = (crops - self._mean) / self._std
        return torch.cat([self._forward(x[s : s + self.max_batch]) for s in range(0, len(x), self.max_batch)])

    def heatmaps(self, crops: np.ndarray) -> np.ndarray:
        """(N, K, 64, 48) float32 heatmaps of (N, 256, 192, 3) RGB float crops, flip test included."""
        x = torch.from_numpy(crops).to(self.device).permute(0, 3, 1, 2)
        return self._forward((x - self._mean) / self._std).cpu().numpy()

    def __call__(
        self,
        frames: np.ndarray | Sequence[np.ndarray],
        boxes: Sequence[np.ndarray],
        masks: Sequence[Sequence[bytes] | None] | None = None,
    ) -> list[np.ndarray]:
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
        boxes = [
            np.asarray(b, np.float32).reshape(-1, 4) if np.size(b) else np.zeros((0, 4), np.float32) for b in boxes
        ]
        for i, b in enumerate(boxes):
            if masks is not None and masks[i] is not None and len(masks[i]) != len(b):
                raise ValueError(f"masks[{i}]: expected {len(b)} masks (one per box), got {len(masks[i])}")
        counts = [len(b) for b in boxes]
        k = self.num_keypoints
        if not sum(counts):
            return [np.zeros((0, k, 3), np.float32) for _ in frames]
        if self.backend == "reference":
            kpts = self._reference(frames, boxes, masks)
        else:
            kpts = self._batched(frames, boxes, masks)
        return list(np.split(kpts, np.cumsum(counts)[:-1]))

    def _batched(self, frames, boxes, masks) -> np.ndarray:
        if self.conditioning and self.condition_at == "frame":
            parts = [
                self.crops(f, b, None if masks is None else masks[i])
                for i, (f, b) in enumerate(zip(frames, boxes))
                if len(b)
            ]
            crops = torch.from_numpy(np.concatenate([p[0] for p in parts])).to(self.device).permute(0, 3, 1, 2)
            centers, scales = (np.concatenate([p[j] for p in parts]) for j in (1, 2))
        else:
            crops, centers, scales = self.crops_torch(frames, boxes, masks)
        xy, score = decode_udp_dark(self._heatmaps_of(crops), (self.input_w, self.input_h), self.blur_kernel_size)
        got = torch.cat([xy, score.double()[..., None]], -1).cpu().numpy()  # the one device-to-host transfer
        return self._to_frame(got[..., :2], got[..., 2], centers, scales)

    def _to_frame(self, xy: np.ndarray, score: np.ndarray, centers: np.ndarray, scales: np.ndarray) -> np.ndarray:
        """(N, K, 3) float32: input-crop pixels (N, K, 2) to frame pixels, and the scores."""
        size = np.array([self.input_w, self.input_h], np.float32)
        kpts = np.empty(xy.shape[:2] + (3,), np.float32)
        kpts[..., :2] = xy / size * scales[:, None] + centers[:, None] - 0.5 * scales[:, None]
        kpts[..., 2] = score
        return kpts

    def _reference(self, frames, boxes, masks) -> np.ndarray:
        parts = [
            self.crops(f, b, None if masks is None else masks[i])
            for i, (f, b) in enumerate(zip(frames, boxes))
            if len(b)
        ]
        crops = np.concatenate([p[0] for p in parts])
        centers, scales = (np.concatenate([p[j] for p in parts]) for j in (1, 2))
        hms = np.concatenate(
            [self.heatmaps(crops[s : s + self.max_batch]) for s in range(0, len(crops), self.max_batch)]
        )
        decoded = [self.codec.decode(hm) for hm in hms]  # mmpose's UDP + DARK-UDP decoding, input-crop pixels
        xy = np.stack([d[0][0] for d in decoded])
        score = np.stack([d[1][0] for d in decoded])
        return self._to_frame(xy, score, centers, scales)
