"""The torch pose crops against the cv2 reference (mmpose's warp), and the RLE window decoder against
pycocotools. The crops, plain and dimmed, are equal to cv2's to the bit (0 levels of 0..255 apart)."""

import cv2
import numpy as np
import pytest
import torch

from bmp_ray import masks as _masks
from bmp_ray.masks import rle_window
from bmp_ray.models.pose_crops import (
    box_to_center_scale,
    fill_holes,
    reference_crops,
    source_coords,
    to_device,
    torch_crops,
    udp_matrices,
)
from bmp_ray.testdata import middle_masks

SIZE = (192, 256)


def _blobs(h, w, boxes, seed=0):
    """(N, H, W) bool: per box an ellipse with a hole and a speck, some of it outside the frame."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    out = np.zeros((len(boxes), h, w), bool)
    for j, (x1, y1, x2, y2) in enumerate(boxes):
        cx, cy = (x1 + x2) / 2 + rng.uniform(-5, 5), (y1 + y2) / 2
        rx, ry = max((x2 - x1) / 2, 2), max((y2 - y1) / 2, 2)
        r = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
        out[j] = (r < 1.1) & ~(r < 0.1)  # a ring: its hole is filled
        out[j, int(np.clip(y1, 0, h - 1)), int(np.clip(x2, 0, w - 1))] = True
    return out


def _people(sample):
    """The sample's boxes plus boxes across each frame edge and one wholly outside."""
    h, w = sample.rgb.shape[:2]
    extra = np.array(
        [[-40, -30, 60, 140], [w - 50, h - 90, w + 30, h + 20], [w + 10, 5, w + 90, 80], [0.3, 0.7, w - 0.2, h - 0.6]],
        np.float32,
    )
    return np.concatenate([sample.boxes, extra])


def _ref(frames, boxes, masks, conditioning, condition_at="crop"):
    return np.concatenate(
        [
            reference_crops(f, b, m, size=SIZE, padding=1.25, conditioning=conditioning, condition_at=condition_at)[0]
            for f, b, m in zip(frames, boxes, masks)
        ]
    )


def _ours(frames, boxes, masks, conditioning):
    crops, _, _ = torch_crops(
        frames, boxes, masks, size=SIZE, padding=1.25, conditioning=conditioning, device=torch.device("cpu")
    )
    return crops.permute(0, 2, 3, 1).numpy()


def test_udp_matrices_and_cv2_source_coordinates(all_images):
    from mmpose.structures.bbox import get_udp_warp_matrix

    boxes = np.concatenate([_people(s) for s in all_images])
    c, s = box_to_center_scale(boxes, 1.25, 0.75)
    mats = udp_matrices(c, s, SIZE)
    ref = np.stack([get_udp_warp_matrix(c[j], s[j], 0.0, output_size=SIZE) for j in range(len(c))])
    assert np.array_equal(mats, ref)
    xs, ys = source_coords(mats, SIZE)
    inv = np.stack([cv2.invertAffineTransform(m.astype(np.float64)) for m in ref])
    # cv2's fixed point: 1/32 pixel steps, within a step of the exact inverse (two roundings)
    assert np.array_equal(xs * 32, np.round(xs * 32)) and np.array_equal(ys * 32, np.round(ys * 32))
    np.testing.assert_allclose(xs, inv[:, 0, :1] * np.arange(192) + inv[:, 0, 2:], atol=1 / 32 + 1e-6, rtol=0)
    np.testing.assert_allclose(ys, inv[:, 1, 1:2] * np.arange(256) + inv[:, 1, 2:], atol=1 / 32 + 1e-6, rtol=0)


def test_torch_crops_equal_cv2_warp(all_images):
    frames = [s.rgb for s in all_images]
    boxes = [_people(s) for s in all_images]
    ref = _ref(frames, boxes, [None] * len(frames), False)
    ours = _ours(frames, boxes, None, False)
    diff = np.abs(ours - ref)
    assert ours.shape == ref.shape == (sum(map(len, boxes)), 256, 192, 3)
    assert diff.max() == 0  # cv2's fixed-point sources and rounding, reproduced in float64
    outside = len(boxes[0]) - 2  # the box wholly outside the frame: all zeros
    assert not ours[outside].any() and not ref[outside].any()


def test_conditioned_crops_match_the_reference_with_masks_holes_and_boxes(all_images):
    frames, boxes, rles = [], [], []
    for i, s in enumerate(all_images):
        h, w = s.rgb.shape[:2]
        b = _people(s)
        m = np.concatenate([middle_masks(s), _blobs(h, w, b[len(s.boxes) :], seed=i)])
        r = _masks.encode(m)
        r[0] = b""  # conditioned by its box
        frames.append(s.rgb), boxes.append(b), rles.append(r)
    rles[1][1] = _masks.encode(np.zeros(frames[1].shape[:2], bool))[0]  # an empty mask: all dimmed
    ref = _ref(frames, boxes, rles, True)
    ours = _ours(frames, boxes, rles, True)
    diff = np.abs(ours - ref)
    assert diff.max() == 0  # masks decoded in their windows, holes filled there, sampled from the atlas
    plain = _ours(frames, boxes, None, False)
    assert not np.allclose(plain, ours)


def test_grayscale_tiny_frame_and_frames_without_people():
    gray = np.repeat(np.arange(31 * 17, dtype=np.uint8).reshape(31, 17)[..., None], 3, 2)
    frames = [gray, np.zeros((5, 4, 3), np.uint8), gray]
    boxes = [
        np.array([[2, 3, 15, 29]], np.float32),
        np.zeros((0, 4), np.float32),
        np.array([[-3, -3, 40, 50], [16, 30, 17, 31]], np.float32),
    ]
    rles = [[_masks.encode(gray[..., 0] > 100)[0]], [], [b"", b""]]
    for cond in (False, True):
        ref = _ref([frames[0], frames[2]], [boxes[0], boxes[2]], [rles[0], rles[2]], cond)
        ours = _ours(frames, boxes, rles, cond)
        assert ours.shape == (3, 256, 192, 3) and np.array_equal(ours, ref)


def test_rle_window_equals_the_full_decode(all_images):
    s = all_images[0]
    h, w = s.rgb.shape[:2]
    b = _people(s)
    full = np.concatenate([middle_masks(s), _blobs(h, w, b), np.zeros((3, h, w), bool)])
    full[-2, :, 7:9] = True  # whole columns: one run across them
    full[-1, h - 1, w - 1] = full[-1, 0, 0] = True  # the first and the last pixel
    for m, rle in zip(full, _masks.encode(full)):
        win, x0, y0 = rle_window(rle, h, w)
        wt, x0t, y0t = rle_window(rle, h, w, transposed=True)
        assert np.array_equal(wt, win.T) and (x0t, y0t) == (x0, y0)
        out = m.copy()
        out[y0 : y0 + win.shape[0], x0 : x0 + win.shape[1]] = False
        assert not out.any()  # the window holds all of the mask
        assert np.array_equal(win, m[y0 : y0 + win.shape[0], x0 : x0 + win.shape[1]])
        if m.any():
            ys, xs = np.nonzero(m)
            assert (x0, x0 + win.shape[1]) == (xs.min(), xs.max() + 1)  # tight in x always
            f = fill_holes(m)
            assert np.array_equal(fill_holes(win), f[y0 : y0 + win.shape[0], x0 : x0 + win.shape[1]])
        else:
            assert win.shape == (0, 0)


@pytest.mark.parametrize("counts", [b"", b"0"])
def test_rle_window_of_nothing(counts):
    win, x0, y0 = rle_window(counts, 4, 5)
    assert win.shape == (0, 0) and (x0, y0) == (0, 0)


def test_one_packed_transfer_gives_the_same_arrays():
    arrays = [
        np.arange(7, dtype=np.uint8),
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.ones((5, 6, 3), np.uint8)[1:4, ::2],
        np.zeros((0, 4), np.float32),
    ]
    got = to_device(arrays, torch.device("cpu"), pack=True)
    for a, g in zip(arrays, got):
        assert g.dtype == torch.from_numpy(np.ascontiguousarray(a)).dtype and np.array_equal(g.numpy(), a)
