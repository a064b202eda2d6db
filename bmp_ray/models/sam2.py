"""The SAM 2.1 stage: Meta's ``sam2`` image model behind the same seam as SAM v1 (``segmenter``).

The same computation as ``sam2.sam2_image_predictor.SAM2ImagePredictor`` (``set_image``, then
``predict(..., multimask_output=False)`` per person, its defaults ``mask_threshold=0``,
``max_hole_area=0``, ``max_sprinkle_area=0``): the frame squashed to the model's square input
(``SAM2Transforms``: to [0, 1], bilinear antialiased resize to 1024 x 1024, ImageNet normalisation),
the image encoder, the no-memory embedding added to the top level, prompts normalised by the frame
size, and the 256 x 256 logits resized straight to the frame (``SAM2Transforms.postprocess_masks``),
computed only in the window a mask can occupy (``sam_resample.DirectResampler``). The encoder runs on a
batch of frames, the decoder on all people of a frame with the same prompt shape at once.

The model is built as ``sam2.build_sam.build_sam2`` builds it (hydra config, ``apply_postprocessing``:
a single mask that is not stable falls back to the best of the three multimask outputs), without its
checkpoint: ``build.load_model`` loads and layout-checks the weights (``weights_only=True``).
The research code (BMP 1.1) also fills holes up to 10 and removes sprinkles up to 50 low-resolution
pixels; that needs sam2's optional CUDA extension (looked up only then), which this install leaves out
(``SAM2_BUILD_CUDA=0``).
"""

from __future__ import annotations

import dataclasses
import functools
import logging

import numpy as np
import torch

from bmp_ray.models.common import inference
from bmp_ray.models.registry import Sam2Arch
from bmp_ray.models.sam_resample import DirectResampler
from bmp_ray.models.segmenter import PromptSegmenter, TensorEmbedding

log = logging.getLogger(__name__)

# what build_sam2(..., apply_postprocessing=True) adds to every config (sam2 1.1.0)
POSTPROCESSING = (
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability=true",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta=0.05",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh=0.98",
)


def _compose(arch: Sam2Arch):
    import sam2  # noqa: F401 - initialises hydra with sam2's config module
    from hydra import compose
    from omegaconf import OmegaConf

    cfg = compose(config_name=arch.config, overrides=[*arch.overrides, *POSTPROCESSING])
    OmegaConf.resolve(cfg)
    return cfg


def build_sam2_model(arch: Sam2Arch) -> torch.nn.Module:
    """The ``SAM2Base`` of ``arch`` on the CPU with freshly initialised weights, in eval mode (what
    ``build_sam2(arch.config, ckpt_path=None, device="cpu", hydra_overrides_extra=arch.overrides)`` returns)."""
    from hydra.utils import instantiate

    return instantiate(_compose(arch).model, _recursive_=True).eval()


@functools.lru_cache(maxsize=4)
def _layout(arch: Sam2Arch) -> dict[str, tuple[torch.Size, torch.dtype]]:
    return {k: (v.shape, v.dtype) for k, v in build_sam2_model(arch).state_dict().items()}


class _Skeleton(torch.nn.Module):
    """A module whose state dict is a model's on the meta device (``state_dict`` is all a layout check reads)."""

    def __init__(self, layout: dict):
        super().__init__()
        self._layout = layout

    def state_dict(self, *args, **kwargs):
        return {k: torch.empty(shape, dtype=dtype, device="meta") for k, (shape, dtype) in self._layout.items()}


def sam2_skeleton(arch: Sam2Arch) -> torch.nn.Module:
    """The layout of ``arch`` as meta tensors. sam2's Hiera reads ``.item()`` of a tensor while it is
    built, so it cannot be built on the meta device: it is built once per process on the CPU (Hiera-L:
    about 3 s) and its layout remembered."""
    return _Skeleton(_layout(arch))


@dataclasses.dataclass(frozen=True, eq=False)
class Sam2Embedding(TensorEmbedding):
    """SAM 2.1's image embedding of one frame: three feature levels.

    Attributes:
        features: (256, 64, 64) float32, the top level ("image_embed", no-memory embedding added).
        high_res_feats: ((32, 256, 256), (64, 128, 128)) float32, the decoder's high-resolution levels,
            already projected by its ``conv_s0`` / ``conv_s1``.
        original_size: (H, W) of the frame, pixels.
        transport: precision of the tensors when pickled ("fp32", "fp16", "bf16").
    """

    TENSORS = ("features", "high_res_feats")
    features: torch.Tensor
    high_res_feats: tuple[torch.Tensor, ...]
    original_size: tuple[int, int]
    transport: str = "fp32"


class Sam2Segmenter(PromptSegmenter):
    """SAM 2.1 masks from point (and box) prompts, batched.

    Args:
        model: registry name ("sam2.1-hiera-tiny", "-small", "-base-plus", "-large"; "sam2.1-tiny" in tests).
        weights, device, precision, encoder_batch, decoder_batch, offline, transport: as ``SamSegmenter``.
    """

    arch_type = Sam2Arch

    def _setup(self) -> None:
        from sam2.utils.transforms import SAM2Transforms

        self.transforms = SAM2Transforms(resolution=self.model.image_size, mask_threshold=0.0)
        self.mask_threshold = 0.0

    def _encode(self, chunk: list[np.ndarray]) -> list[Sam2Embedding]:
        model = self.model
        # ToTensor (to [0, 1] float), then SAM2Transforms' scripted resize and normalisation
        x = torch.stack(
            [
                self.transforms.transforms(
                    torch.as_tensor(f, device=self.device).permute(2, 0, 1).contiguous().float().div(255)
                )
                for f in chunk
            ]
        )
        with inference(self.device, self.dtype):
            _, feats, _, sizes = model._prepare_backbone_features(model.forward_image(x))
            if model.directly_add_no_mem_embed:
                feats[-1] = feats[-1] + model.no_mem_embed
            # (HW, B, C) per level, high resolution first -> (B, C, H, W)
            levels = [f.permute(1, 2, 0).reshape(len(chunk), -1, *s).float() for f, s in zip(feats, sizes)]
        return [
            Sam2Embedding(levels[-1][i], tuple(lv[i] for lv in levels[:-1]), f.shape[:2], self.transport)
            for i, f in enumerate(chunk)
        ]

    def _new_resampler(self, emb: Sam2Embedding) -> DirectResampler:
        return DirectResampler(emb.original_size, low_size=4 * emb.features.shape[-1])

    def _decode(self, emb: Sam2Embedding, points, boxes) -> tuple[torch.Tensor, np.ndarray]:
        model, t, dev = self.model, self.transforms, self.device
        coords = labels = None
        if points is not None:
            coords = t.transform_coords(
                torch.as_tensor(points, dtype=torch.float, device=dev), normalize=True, orig_hw=emb.original_size
            )
            labels = torch.ones(points.shape[:2], dtype=torch.int, device=dev)
        if boxes is not None:  # a box is two points labelled 2 and 3, before the clicks
            box = t.transform_boxes(
                torch.as_tensor(boxes, dtype=torch.float, device=dev), normalize=True, orig_hw=emb.original_size
            )
            box_labels = torch.tensor([[2, 3]], dtype=torch.int, device=dev).repeat(len(boxes), 1)
            coords = box if coords is None else torch.cat([box, coords], dim=1)
            labels = box_labels if labels is None else torch.cat([box_labels, labels], dim=1)
        with inference(dev, self.dtype):
            sparse, dense = model.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=None)
            low, iou, _, _ = model.sam_mask_decoder(
                image_embeddings=emb.features[None],
                image_pe=model.sam_prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=False,
                repeat_image=len(coords) > 1,
                high_res_features=[f[None] for f in emb.high_res_feats],
            )
        return low[:, 0].float(), iou[:, 0].float().cpu().numpy()
