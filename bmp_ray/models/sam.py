"""The SAM (v1) stage: one image embedding per frame, then batched mask decoding of every person's prompts.

The same transforms as segment-anything's ``SamPredictor`` (RGB input, ``ResizeLongestSide`` to the
encoder size, normalise and pad; prompts mapped with ``apply_coords``; masks upsampled with
``postprocess_masks``, computed only in the window a mask can occupy (``MaskResampler``), and
thresholded at ``mask_threshold``), but the encoder runs on a batch of frames
and the decoder on all people of a frame at once. People are grouped by prompt shape (number of points,
with or without a box) so that no padding token changes a person's result: each group is one decoder
call, identical to ``SamPredictor.predict`` per person. The batching and grouping are shared with SAM
2.1 (``segmenter.PromptSegmenter``); ``segmenter.build_segmenter`` picks either by registry name.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import torch

from bmp_ray.models.common import inference
from bmp_ray.models.registry import SamArch
from bmp_ray.models.sam_resample import MaskResampler
from bmp_ray.models.segmenter import PromptSegmenter, TensorEmbedding

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, eq=False)
class Embedding(TensorEmbedding):
    """SAM's image embedding of one frame, computed once and reused in every BMP iteration.

    Attributes:
        features: (C, h, w) float32 tensor (256 x 64 x 64 for SAM v1), on the stage's device (on the
            CPU after unpickling, until ``to(device)``).
        original_size: (H, W) of the frame, pixels.
        input_size: (H', W') of the frame resized to the encoder's long side (before padding).
        transport: precision of ``features`` when pickled ("fp32", "fp16", "bf16"; ``TensorEmbedding``).
    """

    TENSORS = ("features",)
    features: torch.Tensor
    original_size: tuple[int, int]
    input_size: tuple[int, int]
    transport: str = "fp32"


class SamSegmenter(PromptSegmenter):
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
        transport: precision the embeddings are pickled in (``segmenter.TensorEmbedding``).
    """

    arch_type = SamArch

    def _setup(self) -> None:
        from segment_anything.utils.transforms import ResizeLongestSide

        self.transform = ResizeLongestSide(self.model.image_encoder.img_size)
        self.mask_threshold = self.model.mask_threshold

    def _encode(self, chunk: list[np.ndarray]) -> list[Embedding]:
        resized = [self._resized(f) for f in chunk]
        x = self._input_batch(resized)
        with inference(self.device, self.dtype):
            feats = self.model.image_encoder(x).float()
        return [
            Embedding(feats[i], f.shape[:2], r.shape[:2], self.transport)
            for i, (f, r) in enumerate(zip(chunk, resized))
        ]

    def _input_batch(self, resized: list[np.ndarray]) -> torch.Tensor:
        """(B, 3, S, S) float32 encoder input on the device: each (H', W', 3) uint8 resized frame moved
        there, normalised and padded (``Sam.preprocess``), and stacked."""
        return torch.stack(
            [
                self.model.preprocess(torch.as_tensor(r, device=self.device).permute(2, 0, 1).contiguous()[None])[0]
                for r in resized
            ]
        )

    def _resized(self, frame: np.ndarray) -> np.ndarray:
        """``ResizeLongestSide.apply_image`` of an (H, W, 3) uint8 frame; a frame already at the encoder's
        size (a 1024 working frame, ``decode.max_side``) as it is: PIL's resize to the same size is a copy."""
        t = self.transform
        if t.get_preprocess_shape(*frame.shape[:2], t.target_length) == frame.shape[:2]:
            return frame
        return t.apply_image(frame)

    def _resample_key(self, emb: Embedding) -> tuple:
        return emb.input_size, emb.original_size

    def _new_resampler(self, emb: Embedding) -> MaskResampler:
        return MaskResampler(emb.input_size, emb.original_size, encoder_size=self.model.image_encoder.img_size)

    def _decode(self, emb: Embedding, points, boxes) -> tuple[torch.Tensor, np.ndarray]:
        sam = self.model
        pts = lbl = box = None
        if points is not None:
            pts = torch.as_tensor(_to_input(points, emb), device=self.device)
            lbl = torch.ones(points.shape[:2], dtype=torch.int, device=self.device)
        if boxes is not None:
            box = torch.as_tensor(_to_input(boxes.reshape(-1, 2, 2), emb).reshape(-1, 4), device=self.device)
        with inference(self.device, self.dtype):
            sparse, dense = sam.prompt_encoder(points=None if pts is None else (pts, lbl), boxes=box, masks=None)
            low, iou = sam.mask_decoder(
                image_embeddings=emb.features[None],
                image_pe=sam.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=False,
            )
        return low[:, 0].float(), iou[:, 0].float().cpu().numpy()


def _to_input(xy: np.ndarray, emb: Embedding) -> np.ndarray:
    """(..., 2) float32 x, y in frame pixels to the resized frame's pixels: ``ResizeLongestSide``'s
    ``apply_coords_torch`` (float32 times the float32 of each axis' scale, bit-identical), in numpy:
    none of its tensor copies per decoder call."""
    (h, w), (nh, nw) = emb.original_size, emb.input_size
    return np.asarray(xy, np.float32) * np.array([nw / w, nh / h], np.float32)
