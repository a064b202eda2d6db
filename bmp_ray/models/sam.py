"""The SAM stage: one image embedding per frame, then batched mask decoding of every person's prompts.

The same transforms as segment-anything's ``SamPredictor`` (RGB input, ``ResizeLongestSide`` to the
encoder size, normalise and pad; prompts mapped with ``apply_coords``; masks upsampled with
``postprocess_masks``, computed only in the window a mask can occupy (``MaskResampler``), and
thresholded at ``mask_threshold``), but the encoder runs on a batch of frames
and the decoder on all people of a frame at once. People are grouped by prompt shape (number of points,
with or without a box) so that no padding token changes a person's result: each group is one decoder
call, identical to ``SamPredictor.predict`` per person.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Sequence

import numpy as np
import torch

from bmp_ray.models.build import check_device, load_model
from bmp_ray.models.common import check_frames, check_precision, inference
from bmp_ray.models.sam_resample import MaskResampler

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, eq=False)
class Embedding:
    """SAM's image embedding of one frame, computed once and reused in every BMP iteration.

    Attributes:
        features: (C, h, w) tensor (256 x 64 x 64 for SAM v1), on the stage's device.
        original_size: (H, W) of the frame, pixels.
        input_size: (H', W') of the frame resized to the encoder's long side (before padding).
    """

    features: torch.Tensor
    original_size: tuple[int, int]
    input_size: tuple[int, int]


class Segmenter:
    """SAM (v1) masks from point prompts, batched.

    Args:
        model: registry name ("sam-vit-b", "sam-vit-l", "sam-vit-h"; "sam-tiny" in tests).
        weights: checkpoint file or folder (None: download / cache).
        device: "cpu" or "cuda[:N]"; precision: "fp32", or "fp16" / "bf16" autocast on CUDA.
        encoder_batch: most frames per image-encoder forward pass (default 1 on the CPU, where larger
            batches measured slower, and 8 on CUDA).
        decoder_batch: most people per mask-decoder call (default 2 on the CPU: the decoder's
            activations of larger batches fall out of cache, measured 1.7x slower per person at 8;
            64 on CUDA).
    """

    def __init__(self, model: str = "sam-vit-b", weights: str | os.PathLike | None = None, *,
                 device: str = "cpu", precision: str = "fp32", encoder_batch: int | None = None,
                 decoder_batch: int | None = None,
                 offline: bool | None = None):
        from segment_anything.utils.transforms import ResizeLongestSide

        self.device = check_device(device)
        encoder_batch = encoder_batch if encoder_batch is not None else (8 if self.device.type == "cuda" else 1)
        decoder_batch = decoder_batch if decoder_batch is not None else (64 if self.device.type == "cuda" else 2)
        for name, v in (("encoder_batch", encoder_batch), ("decoder_batch", decoder_batch)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")
        self.decoder_batch = decoder_batch
        self.dtype = check_precision(precision, self.device)
        self.loaded = load_model(model, weights, device=device, offline=offline)
        if self.loaded.spec.family != "sam":
            raise ValueError(f"Segmenter: {model!r} is a {self.loaded.spec.family} model")
        self.model = self.loaded.module
        self.encoder_batch = int(encoder_batch)
        self.transform = ResizeLongestSide(self.model.image_encoder.img_size)
        self._resamplers: dict[tuple, MaskResampler] = {}

    def embed(self, frames: np.ndarray | Sequence[np.ndarray]) -> list[Embedding]:
        """Image embeddings of (B, H, W, 3) uint8 RGB frames (or a list of frames of any sizes)."""
        frames = check_frames(frames)
        out: list[Embedding] = []
        for s in range(0, len(frames), self.encoder_batch):
            chunk = frames[s:s + self.encoder_batch]
            resized = [self.transform.apply_image(f) for f in chunk]
            x = torch.stack([self.model.preprocess(
                torch.as_tensor(r, device=self.device).permute(2, 0, 1).contiguous()[None])[0]
                for r in resized])
            with inference(self.device, self.dtype):
                feats = self.model.image_encoder(x).float()
            out += [Embedding(feats[i], f.shape[:2], r.shape[:2]) for i, (f, r) in enumerate(zip(chunk, resized))]
        return out

    def segment(self, emb: Embedding, points: Sequence[np.ndarray],
                boxes: Sequence[np.ndarray | None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Masks of the people of one frame.

        Args:
            emb: the frame's embedding.
            points: per person a (P, 2) array of positive points, x, y in frame pixels (P may be 0
                when that person has a box).
            boxes: optional per person a (4,) xyxy box prompt in frame pixels, or None.

        Returns:
            masks (N, H, W) bool at frame size, and SAM's predicted IoU (N,) float32.
        """
        windows, ious = self.segment_windows(emb, points, boxes)
        masks = np.zeros((len(windows), *emb.original_size), bool)
        for j, ((y0, y1, x0, x1), m) in enumerate(windows):
            masks[j, y0:y1, x0:x1] = m
        return masks, ious

    def segment_windows(self, emb: Embedding, points: Sequence[np.ndarray],
                        boxes: Sequence[np.ndarray | None] | None = None):
        """Like ``segment``, with each mask as ``((y0, y1, x0, x1), (y1-y0, x1-x0) bool)`` in frame
        pixels: only the window a mask can occupy is computed (``MaskResampler``)."""
        n = len(points)
        boxes = [None] * n if boxes is None else list(boxes)
        if len(boxes) != n:
            raise ValueError(f"boxes: expected one entry per person ({n}), got {len(boxes)}")
        windows: list = [None] * n
        ious = np.zeros(n, np.float32)
        groups: dict[tuple[int, bool], list[int]] = {}
        for j, (p, b) in enumerate(zip(points, boxes)):
            p = np.asarray(p, np.float32).reshape(-1, 2)
            if len(p) == 0 and b is None:
                raise ValueError(f"person {j}: needs at least one point or a box prompt")
            groups.setdefault((len(p), b is not None), []).append(j)
        resample = self._resampler(emb)
        chunks = [(key, idx[i:i + self.decoder_batch]) for key, idx in groups.items()
                  for i in range(0, len(idx), self.decoder_batch)]
        for (k, has_box), idx in chunks:
            pts = lbl = box = None
            if k:
                c = np.stack([np.asarray(points[j], np.float32).reshape(-1, 2) for j in idx])
                pts = self.transform.apply_coords_torch(torch.as_tensor(c, device=self.device), emb.original_size)
                lbl = torch.ones(c.shape[:2], dtype=torch.int, device=self.device)
            if has_box:
                bx = torch.as_tensor(np.stack([np.asarray(boxes[j], np.float32) for j in idx]), device=self.device)
                box = self.transform.apply_boxes_torch(bx, emb.original_size)
            low, q = self._decode(emb, pts, lbl, box)
            for j, win in zip(idx, resample(low[:, 0], self.model.mask_threshold)):
                windows[j] = win
            ious[idx] = q
        return windows, ious

    def _resampler(self, emb: Embedding) -> MaskResampler:
        key = (emb.input_size, emb.original_size)
        if key not in self._resamplers:
            if len(self._resamplers) >= 16:
                self._resamplers.pop(next(iter(self._resamplers)))
            self._resamplers[key] = MaskResampler(emb.input_size, emb.original_size,
                                                  encoder_size=self.model.image_encoder.img_size)
        return self._resamplers[key]

    def _decode(self, emb: Embedding, pts, lbl, box) -> tuple[torch.Tensor, np.ndarray]:
        """(G, 1, 256, 256) float logits and (G,) predicted IoU of one group of prompts."""
        sam = self.model
        with inference(self.device, self.dtype):
            sparse, dense = sam.prompt_encoder(points=None if pts is None else (pts, lbl), boxes=box, masks=None)
            low, iou = sam.mask_decoder(image_embeddings=emb.features[None], image_pe=sam.prompt_encoder.get_dense_pe(),
                                        sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                        multimask_output=False)
        return low.float(), iou[:, 0].float().cpu().numpy()

    def __call__(self, frames: np.ndarray | Sequence[np.ndarray], points: Sequence[Sequence[np.ndarray]]
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Embed each frame and segment its people: per frame (masks (N, H, W) bool, IoU (N,) float32)."""
        embs = self.embed(frames)
        if len(points) != len(embs):
            raise ValueError(f"points: expected one list per frame ({len(embs)}), got {len(points)}")
        return [self.segment(e, p) if len(p) else (np.zeros((0, *e.original_size), bool), np.zeros(0, np.float32))
                for e, p in zip(embs, points)]
