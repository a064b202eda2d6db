"""RTMDet-Ins post-processing with the mask upsampling deferred to the kept people, and masks moved to
the host as run boundaries.

mmdet 3.3's ``RTMDetInsHead._bbox_mask_post_process`` upsamples every candidate's mask logits (up to
``max_per_img``) to the letterboxed input (``stride`` x), then to the frame (``ceil(input / scale)``,
cut at the frame size), and thresholds ``sigmoid > mask_thr_binary``. Its masks are not clipped to the
boxes: a mask can be non-zero anywhere in the frame. Here the head's own ``predict_by_feat`` runs with
that last step replaced (``candidates``): boxes, scores and labels as mmdet's, plus the low-resolution
mask logits of every candidate (``mask_logits``, computed by mmdet's own ``_mask_predict_by_feat_single``
on all candidates, exactly as mmdet does). The caller picks its people and ``upsample`` repeats mmdet's
two interpolations and threshold on those only, on the device. ``to_rle`` encodes them: on a GPU,
``changes_to_host`` turns a batch's masks into the flat column-major positions where each mask changes
value (what COCO RLE counts are the gaps of), moved to the host in one transfer, and
``bmp_ray.masks.from_changes`` compresses them; on the CPU, ``bmp_ray.masks.encode_padded`` of the masks
(encoded from each mask's window of rows and columns holding a pixel: 3x cheaper than pycocotools' own
encoder for a mask filling the frame, more for one person). The masks are bit-identical to mmdet's (the
same ops on the same values); what crosses is 4 bytes per boundary pixel instead of height x width per
candidate.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from bmp_ray import masks as _masks


class _DeferredMasks:
    """The head, seen by its own ``predict_by_feat``, with ``_bbox_mask_post_process`` stopping at the
    low-resolution mask logits."""

    def __init__(self, head):
        self.head = head

    def __getattr__(self, name):
        return getattr(self.head, name)

    def predict_by_feat(self, *args, **kwargs):
        return type(self.head).predict_by_feat(self, *args, **kwargs)

    def _predict_by_feat_single(self, **kwargs):
        return type(self.head)._predict_by_feat_single(self, **kwargs)

    def _bbox_mask_post_process(self, results, mask_feat, cfg, rescale=False, with_nms=True, img_meta=None):
        # mmdet 3.3 RTMDetInsHead._bbox_mask_post_process up to the mask logits, line for line
        from mmdet.models.dense_heads import rtmdet_ins_head as mm  # the names mmdet's own code calls

        if not (rescale and with_nms):
            raise ValueError("candidates: RTMDet-Ins post-processing needs rescale=True and with_nms=True")
        results.bboxes = mm.scale_boxes(results.bboxes, [1 / s for s in img_meta["scale_factor"]])
        if hasattr(results, "score_factors"):
            results.scores = results.scores * results.pop("score_factors")
        if cfg.get("min_bbox_size", -1) >= 0:
            w, h = mm.get_box_wh(results.bboxes)
            valid = (w > cfg.min_bbox_size) & (h > cfg.min_bbox_size)
            if not valid.all():
                results = results[valid]
        if results.bboxes.numel() > 0:
            # float32: mmcv's nms rejects bf16 / fp16 boxes, which autocast gives (precision="bf16")
            det_bboxes, keep = mm.batched_nms(
                mm.get_box_tensor(results.bboxes).float(), results.scores.float(), results.labels, cfg.nms
            )
            results = results[keep]
            results.scores = det_bboxes[:, -1]
            results = results[: cfg.max_per_img]
            results.mask_logits = self.head._mask_predict_by_feat_single(mask_feat, results.kernels, results.priors)
        else:
            results.mask_logits = mask_feat.new_zeros((0, *mask_feat.shape[-2:]))
        return results


def candidates(head, outs: tuple, metas: list[dict]) -> list:
    """mmdet's ``head.predict_by_feat(*outs, batch_img_metas=metas, rescale=True)`` without the masks.

    Returns:
        one mmengine ``InstanceData`` per image: ``bboxes`` (n, 4) in frame pixels, ``scores`` (n,),
        ``labels`` (n,) as mmdet's, and ``mask_logits`` (n, h, w), the low-resolution mask logits (h, w:
        the mask features', input / stride).
    """
    if not hasattr(head, "_mask_predict_by_feat_single"):
        raise ValueError(f"candidates: expected an RTMDet-Ins head, got {type(head).__name__}")
    return _DeferredMasks(head).predict_by_feat(*outs, batch_img_metas=metas, rescale=True)


def upsample(logits: torch.Tensor, stride: int, meta: dict, thr: float) -> torch.Tensor:
    """mmdet's mask upsampling and threshold of some candidates' low-resolution logits.

    Args:
        logits: (k, h, w) mask logits (``candidates``' ``mask_logits`` of the kept candidates).
        stride: the head's mask stride (``head.prior_generator.strides[0][0]``).
        meta: the image's mmdet meta (``scale_factor``, ``ori_shape``).
        thr: ``mask_thr_binary`` of the head's test config.

    Returns:
        (k, h', w') bool masks, h' <= frame height, w' <= frame width (mmdet's sizes: a pixel short of the
        frame at some letterbox scales).
    """
    if logits.shape[0] == 0:
        return torch.zeros((0, *meta["ori_shape"][:2]), dtype=torch.bool, device=logits.device)
    sf = [1 / s for s in meta["scale_factor"]]
    oh, ow = meta["ori_shape"][:2]
    x = F.interpolate(logits.unsqueeze(0), scale_factor=stride, mode="bilinear")
    x = F.interpolate(
        x, size=[math.ceil(x.shape[-2] * sf[0]), math.ceil(x.shape[-1] * sf[1])], mode="bilinear", align_corners=False
    )[..., :oh, :ow]
    return x.sigmoid().squeeze(0) > thr


def changes_to_host(masks: list[torch.Tensor], sizes: list[tuple[int, int]]) -> list[list[np.ndarray]]:
    """Where each mask's column-major pixel sequence changes value, for a batch, in one transfer.

    Args:
        masks: per image (k, h', w') bool on the device, h' <= height, w' <= width (zero-padded to the frame,
            as ``detector.fit_masks`` does).
        sizes: per image the frame's (height, width).

    Returns:
        per image, per mask, the (M,) int64 positions for ``bmp_ray.masks.from_changes``.
    """
    if len(masks) != len(sizes):
        raise ValueError(f"changes_to_host: expected one size per image, got {len(masks)} and {len(sizes)}")
    flat, bounds = [], [0]
    for m, (h, w) in zip(masks, sizes):
        k, mh, mw = m.shape
        if (mh, mw) != (h, w):
            full = m.new_zeros((k, h, w))
            full[:, : min(mh, h), : min(mw, w)] = m[:, :h, :w]
            m = full
        t = m.transpose(1, 2).reshape(k, h * w)  # column-major, one row per mask
        ch = torch.empty_like(t)
        ch[:, :1] = t[:, :1]
        torch.ne(t[:, 1:], t[:, :-1], out=ch[:, 1:])
        flat.append(ch.reshape(-1))
        bounds.extend(bounds[-1] + h * w * np.arange(1, k + 1))
    total = bounds[-1]
    if total:
        idx = torch.cat(flat).nonzero().squeeze(1)
        idx = (idx.to(torch.int32) if total < 2**31 else idx).cpu().numpy().astype(np.int64)
    else:
        idx = np.zeros(0, np.int64)
    cut = np.searchsorted(idx, bounds)
    out, p = [], 0
    for m in masks:
        per = []
        for _ in range(m.shape[0]):
            per.append(idx[cut[p] : cut[p + 1]] - bounds[p])
            p += 1
        out.append(per)
    return out


def to_rle(masks: list[torch.Tensor], sizes: list[tuple[int, int]]) -> list[list[bytes]]:
    """COCO RLE ``counts`` at frame size of a batch's masks (``changes_to_host``'s arguments): per image,
    per mask, ``bmp_ray.masks.encode``'s bytes of the mask zero-padded to the frame."""
    if len(masks) != len(sizes):
        raise ValueError(f"to_rle: expected one size per image, got {len(masks)} and {len(sizes)}")
    if all(m.device.type == "cpu" for m in masks):
        return [_masks.encode_padded(m.numpy(), h, w) for m, (h, w) in zip(masks, sizes)]
    return [[_masks.from_changes(c, h, w) for c in per] for per, (h, w) in zip(changes_to_host(masks, sizes), sizes)]
