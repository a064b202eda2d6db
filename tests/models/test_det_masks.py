import numpy as np
import torch
from pycocotools import mask as coco

from bmp_ray import masks
from bmp_ray.models import det_masks


def test_changes_to_host_gives_the_full_frame_rle_of_each_mask_of_a_batch():
    rng = np.random.default_rng(0)
    sizes = [(13, 7), (5, 9), (1, 1), (6, 4)]
    ms = [
        rng.random((3, 13, 7)) > 0.5,
        np.zeros((0, 5, 9), bool),
        np.ones((2, 1, 1), bool),
        rng.random((2, 5, 3)) > 0.3,
    ]  # the last a pixel short of its frame in both directions: zero-padded
    ms[0][1] = True
    ms[0][2] = False
    changes = det_masks.changes_to_host([torch.as_tensor(m) for m in ms], sizes)
    rles = det_masks.to_rle([torch.as_tensor(m) for m in ms], sizes)
    assert [len(c) for c in changes] == [3, 0, 2, 2]
    for m, per, (h, w) in zip(ms, changes, sizes):
        full = np.zeros((len(m), h, w), bool)
        full[:, : m.shape[1], : m.shape[2]] = m
        ref = (
            [r["counts"] for r in coco.encode(np.asfortranarray(np.moveaxis(full, 0, -1).astype(np.uint8)))]
            if len(m)
            else []
        )
        assert [masks.from_changes(c, h, w) for c in per] == ref
        assert all(c.dtype == np.int64 for c in per)
        assert rles.pop(0) == ref  # the CPU route of to_rle: encode_windows of the masks
    assert det_masks.changes_to_host([], []) == [] and det_masks.to_rle([], []) == []


def _meta(h, w, size=320):
    s = min(size / h, size / w)  # mmdet's Resize(keep_ratio): (w_scale, h_scale) of the rounded size
    nh, nw = int(h * s + 0.5), int(w * s + 0.5)
    return {"scale_factor": (nw / w, nh / h), "ori_shape": (h, w)}


def test_upsampling_some_candidates_equals_upsampling_all_then_picking():
    # mmdet upsamples every candidate; the detector only the kept ones: the same pixels, bit for bit
    torch.manual_seed(0)
    logits = torch.randn(40, 40, 40) * 3
    for h, w in [(1080, 1920), (425, 640), (37, 53)]:
        meta = _meta(h, w)
        everyone = det_masks.upsample(logits, 8, meta, 0.5)
        keep = torch.tensor([31, 2, 17, 5])
        some = det_masks.upsample(logits[keep], 8, meta, 0.5)
        assert some.dtype == torch.bool and some.shape[0] == 4 and some.shape[1] <= h and some.shape[2] <= w
        assert torch.equal(some, everyone[keep]) and 0 < some.float().mean() < 1
    assert det_masks.upsample(logits[:0], 8, _meta(10, 20), 0.5).shape == (0, 10, 20)
