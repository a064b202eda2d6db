"""A ``torchvision`` stand-in for ``bench gpu`` on a machine without a working torchvision: the names the
inference paths import (SAM's ``ResizeLongestSide``, bmp_ray's person NMS, mmpretrain's and mmdet's
module-level imports), in plain torch and PIL. Installed by ``gpu_env.install_torchvision`` only."""

from __future__ import annotations

import enum


class InterpolationMode(enum.Enum):
    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


def build(stub_module, nms) -> dict:
    """``{module name: module}`` of the stand-in; ``stub_module(name)`` makes a module whose unknown
    attributes are placeholders that raise when used; ``nms(boxes, scores, iou)`` is the NMS kernel."""
    import numpy as np
    import torch
    from PIL import Image

    def box_area(boxes):
        return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])

    def box_iou(a, b):
        lt = torch.max(a[:, None, :2], b[None, :, :2])
        rb = torch.min(a[:, None, 2:], b[None, :, 2:])
        inter = (rb - lt).clamp(min=0).prod(-1)
        return inter / (box_area(a)[:, None] + box_area(b)[None, :] - inter)

    def batched_nms(boxes, scores, idxs, iou_threshold):
        if boxes.numel() == 0:
            return torch.zeros(0, dtype=torch.long, device=boxes.device)
        offsets = idxs.to(boxes) * (boxes.max() + 1)
        return nms(boxes + offsets[:, None], scores, iou_threshold)

    _modes = {
        InterpolationMode.NEAREST: Image.NEAREST,
        InterpolationMode.BILINEAR: Image.BILINEAR,
        InterpolationMode.BICUBIC: Image.BICUBIC,
        InterpolationMode.BOX: Image.BOX,
        InterpolationMode.HAMMING: Image.HAMMING,
        InterpolationMode.LANCZOS: Image.LANCZOS,
    }

    def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
        if not isinstance(img, Image.Image):
            raise NotImplementedError("bench gpu's torchvision stand-in resizes PIL images only")
        h, w = (size, size) if isinstance(size, int) else size
        return img.resize((int(w), int(h)), _modes[interpolation])

    def to_pil_image(pic, mode=None):
        if not isinstance(pic, np.ndarray):
            raise NotImplementedError("bench gpu's torchvision stand-in converts numpy arrays only")
        return Image.fromarray(pic, mode)

    mods = {
        n: stub_module(n)
        for n in (
            "torchvision",
            "torchvision.ops",
            "torchvision.ops.boxes",
            "torchvision.transforms",
            "torchvision.transforms.functional",
            "torchvision.transforms.transforms",
        )
    }
    for m in mods.values():
        m.__path__ = []
    tv = mods["torchvision"]
    tv.__version__, tv._bmp_ray_stand_in = "0.0+bmp_ray_stand_in", True
    tv.ops, tv.transforms = mods["torchvision.ops"], mods["torchvision.transforms"]
    for m in (mods["torchvision.ops"], mods["torchvision.ops.boxes"]):
        m.nms, m.batched_nms, m.box_iou, m.box_area = nms, batched_nms, box_iou, box_area
    mods["torchvision.ops"].boxes = mods["torchvision.ops.boxes"]
    tr = mods["torchvision.transforms"]
    tr.functional, tr.transforms, tr.InterpolationMode = (
        mods["torchvision.transforms.functional"],
        mods["torchvision.transforms.transforms"],
        InterpolationMode,
    )
    mods["torchvision.transforms.transforms"].InterpolationMode = InterpolationMode
    f = mods["torchvision.transforms.functional"]
    f.resize, f.to_pil_image, f.InterpolationMode = resize, to_pil_image, InterpolationMode
    return mods
