"""Pose crops: mmpose's UDP affine warp of each person to the model input, with MaskPose dimming.

Two implementations of the same crops:

- ``reference_crops``: numpy / cv2 one person at a time, as mmpose's test pipeline does
  (``cv2.warpAffine`` INTER_LINEAR of mmpose's ``get_udp_warp_matrix``, BORDER_CONSTANT 0); the mask
  decoded at frame size, holes filled, warped the same way.
- ``torch_crops``: every person of a batch of frames at once on the stage's device, with one
  host-to-device transfer (each frame's region under its people as uint8, each person's mask window,
  the sampling coordinates). The warp is ``grid_sample`` (bilinear, zeros outside the frame) in
  float64 at the source coordinates cv2.warpAffine computes (``source_coords``: the inverse matrix in
  double, then fixed point at 1/32 pixel), rounded half up as cv2's uint8 output is: equal to cv2's
  crops to the bit. Masks are decoded in their box window only (``masks.rle_window``), holes filled
  there, and packed into one atlas that one ``grid_sample`` reads for every person.

MaskPose dimming: ``crop * (0.8 + 0.2 * M)`` (``dim_weights``) with ``M`` the mask warped like the crop
(``condition_at="crop"``); ``condition_at="frame"`` (reference only) dims the full frame, then warps it.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from bmp_ray import masks as _masks
from bmp_ray.masks import rle_window

DIM_BACKGROUND = 0.8  # MaskPose: background pixels keep 80 percent of their value
_GAP = 2  # zero rows / columns around each window of the mask atlas
INTER_BITS, _AB_BITS = 5, 10  # cv2.warpAffine's fixed point: sources at 1/32 pixel


def dim_weights(mask):
    """MaskPose's dimming weights: ``DIM_BACKGROUND`` where ``mask`` is 0, 1 where it is 1, linear between.

    Args:
        mask: float numpy array or torch tensor of any shape ((H, W) frame or crop pixels, (N, 1, h, w)
            crops), values in [0, 1].

    Returns:
        the weights, of ``mask``'s shape, type and dtype (float32 for float32), to multiply the pixels by.
    """
    return DIM_BACKGROUND + (1.0 - DIM_BACKGROUND) * mask


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


def box_window(box: np.ndarray, height: int, width: int) -> tuple[int, int, int, int]:
    """The pixels of a box as a mask: x0, y0, x1, y1 (floor / ceil, clipped to the frame; may be empty)."""
    x0, y0 = max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0)
    x1, y1 = min(int(np.ceil(box[2])), width), min(int(np.ceil(box[3])), height)
    return x0, y0, max(x1, x0), max(y1, y0)


def udp_matrices(centers: np.ndarray, scales: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, 2, 3) float32: mmpose's ``get_udp_warp_matrix`` (rotation 0) of every person, vectorised."""
    c, s = np.asarray(centers, np.float32), np.asarray(scales, np.float32)
    m = np.zeros((len(c), 2, 3), np.float32)
    for axis in (0, 1):
        k = np.float32(size[axis] - 1) / s[:, axis]
        m[:, axis, axis] = k
        m[:, axis, 2] = k * (-c[:, axis] + np.float32(0.5) * s[:, axis])
    return m


def source_coords(mats: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Where each output column / row samples the frame: xs (N, w) and ys (N, h), float32 pixels.

    As cv2.warpAffine (INTER_LINEAR) computes them: the matrix inverted in double, then fixed point with
    ``_AB_BITS`` bits, rounded to ``1 / 2**INTER_BITS`` of a pixel (exact in float32).
    """
    m = np.asarray(mats, np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        det = 1.0 / (m[:, 0, 0] * m[:, 1, 1])  # rotation 0: the matrix is diagonal
        ax, ay = m[:, 1, 1] * det, m[:, 0, 0] * det
        bx, by = -ax * m[:, 0, 2], -ay * m[:, 1, 2]
        x, y = np.arange(size[0]), np.arange(size[1])
        one, half = 1 << _AB_BITS, 1 << (_AB_BITS - INTER_BITS - 1)
        fx = _fixed(ax[:, None] * x * one) + _fixed(bx * one)[:, None] + half
        fy = _fixed((ay[:, None] * y + by[:, None]) * one) + half
    shift, step = _AB_BITS - INTER_BITS, np.float32(1 << INTER_BITS)
    return (fx >> shift).astype(np.float32) / step, (fy >> shift).astype(np.float32) / step


def _fixed(v: np.ndarray) -> np.ndarray:
    """cv2's ``saturate_cast<int>`` of doubles: rounded half to even, clipped to int32 (NaN: 0)."""
    return np.clip(np.nan_to_num(np.rint(v)), -(2**31), 2**31 - 1).astype(np.int64)


def reference_crops(
    frame: np.ndarray,
    boxes: np.ndarray,
    masks: Sequence[bytes] | None,
    *,
    size: tuple[int, int],
    padding: float,
    conditioning: bool,
    condition_at: str = "crop",
):
    """(N, h, w, 3) float32 RGB crops of one frame (cv2, one person at a time); centers, scales (N, 2)."""
    from mmpose.structures.bbox import get_udp_warp_matrix

    h, w = frame.shape[:2]
    centers, scales = box_to_center_scale(boxes, padding, size[0] / size[1])
    out = np.empty((len(boxes), size[1], size[0], 3), np.float32)
    for j in range(len(boxes)):
        mat = get_udp_warp_matrix(centers[j], scales[j], 0.0, output_size=size)
        if not conditioning:
            out[j] = cv2.warpAffine(frame, mat, size, flags=cv2.INTER_LINEAR)
            continue
        rle = masks[j] if masks is not None else b""
        if len(rle):
            m = fill_holes(_masks.decode([rle], h, w)[0])
        else:
            m = np.zeros((h, w), np.uint8)
            x0, y0, x1, y1 = box_window(boxes[j], h, w)
            m[y0:y1, x0:x1] = 1
        if condition_at == "frame":
            dimmed = frame.astype(np.float32) * dim_weights(m.astype(np.float32))[..., None]
            out[j] = cv2.warpAffine(dimmed, mat, size, flags=cv2.INTER_LINEAR)
        else:
            crop = cv2.warpAffine(frame, mat, size, flags=cv2.INTER_LINEAR).astype(np.float32)
            mw = cv2.warpAffine(m.astype(np.float32), mat, size, flags=cv2.INTER_LINEAR)
            out[j] = crop * dim_weights(mw)[..., None]
    return out, centers, scales


def to_device(arrays: list[np.ndarray], device: torch.device, pack: bool | None = None) -> list[torch.Tensor]:
    """The arrays on ``device``: views on the CPU; elsewhere packed in one host buffer (pinned on CUDA)
    sent in one transfer (``pack`` forces either way)."""
    if not (device.type != "cpu" if pack is None else pack):  # torch takes no negative strides (bgr[..., ::-1])
        return [torch.from_numpy(a if min(a.strides, default=0) >= 0 else np.ascontiguousarray(a)) for a in arrays]
    offsets, total = [], 0
    for a in arrays:
        offsets.append(total)
        total += -(-a.nbytes // 16) * 16  # 16-byte aligned, so that every part views as its dtype
    host = torch.empty(max(total, 16), dtype=torch.uint8, pin_memory=device.type == "cuda")
    buf = host.numpy()
    for a, o in zip(arrays, offsets):
        buf[o : o + a.nbytes].view(a.dtype).reshape(a.shape)[...] = a
    dev = host.to(device, non_blocking=True)
    return [
        dev[o : o + a.nbytes].view(torch.from_numpy(np.empty(0, a.dtype)).dtype).view(a.shape)
        for a, o in zip(arrays, offsets)
    ]


def _window(xs: np.ndarray, ys: np.ndarray, height: int, width: int) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1: the frame pixels that bilinear sampling at xs, ys reads, one pixel wider, clipped
    (at least one pixel: a person wholly outside the frame reads only zeros around it)."""
    x0 = min(max(int(np.floor(xs.min())) - 1, 0), width - 1)
    y0 = min(max(int(np.floor(ys.min())) - 1, 0), height - 1)
    x1 = max(min(int(np.floor(xs.max())) + 3, width), x0 + 1)
    y1 = max(min(int(np.floor(ys.max())) + 3, height), y0 + 1)
    return x0, y0, x1, y1


def _mask_windows(boxes, masks, height, width):
    """Per person the filled mask window stored transposed (column-major, as RLE runs): (win, x0, y0)."""
    out = []
    for j, box in enumerate(boxes):
        rle = masks[j] if masks is not None else b""
        if len(rle):
            win, x0, y0 = rle_window(rle, height, width, transposed=True)
            if win.size:
                contours, _ = cv2.findContours(win, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
                cv2.drawContours(win, contours, -1, 1, thickness=cv2.FILLED)
        else:
            x0, y0, x1, y1 = box_window(box, height, width)
            win = np.ones((x1 - x0, y1 - y0), np.uint8)
        out.append((win, x0, y0))
    return out


def _atlas(windows) -> tuple[np.ndarray, np.ndarray]:
    """Windows packed in shelves with ``_GAP`` zeros around each: the atlas (uint8) and per window
    (N, 6) float32 ``x0, y0, w, h`` in the frame and ``row, col`` of its first pixel in the atlas."""
    area = sum((w.shape[0] + _GAP) * (w.shape[1] + _GAP) for w, _, _ in windows)
    width = max([int(np.sqrt(area)) + 1] + [w.shape[1] + 2 * _GAP for w, _, _ in windows])
    slots, row, col, shelf = [], _GAP, _GAP, 0
    for win, _, _ in windows:
        r, c = win.shape
        if col + c + _GAP > width:
            row, col, shelf = row + shelf + _GAP, _GAP, 0
        slots.append((row, col))
        col, shelf = col + c + _GAP, max(shelf, r)
    atlas = np.zeros((row + shelf + _GAP, width), np.uint8)
    params = np.empty((len(windows), 6), np.float32)
    for j, ((win, x0, y0), (r, c)) in enumerate(zip(windows, slots)):
        atlas[r : r + win.shape[0], c : c + win.shape[1]] = win
        params[j] = (x0, y0, win.shape[0], win.shape[1], r, c)
    return atlas, params


def _normalised(coord: torch.Tensor, size: int) -> torch.Tensor:
    return (2.0 * coord + 1.0) / size - 1.0  # grid_sample's align_corners=False: pixel centers at i + 0.5


def torch_crops(
    frames: Sequence[np.ndarray],
    boxes: Sequence[np.ndarray],
    masks,
    *,
    size: tuple[int, int],
    padding: float,
    conditioning: bool,
    device: torch.device,
):
    """The crops of every person of every frame, built on ``device``.

    Args:
        frames: (H, W, 3) uint8 RGB frames; boxes: per frame (N_i, 4) float32 xyxy.
        masks: per frame N_i COCO RLE counts (``b""``: the box is the mask) or None; None for all.

    Returns:
        crops (N, 3, h, w) float32 RGB 0..255 on ``device`` (dimmed when ``conditioning``), centers and
        scales (N, 2) float32 numpy, N the people of all frames in order.
    """
    w, h = size
    people, arrays, mask_windows = [], [], []
    centers, scales = box_to_center_scale(np.concatenate(list(boxes)), padding, w / h)
    xs, ys = source_coords(udp_matrices(centers, scales, size), size)
    start = 0
    for i, (frame, b) in enumerate(zip(frames, boxes)):
        if not len(b):
            continue
        sl = slice(start, start + len(b))
        start += len(b)
        fh, fw = frame.shape[:2]
        x0, y0, x1, y1 = _window(xs[sl], ys[sl], fh, fw)
        people.append((sl, x0, y0, x1 - x0, y1 - y0))
        arrays.append(frame[y0:y1, x0:x1])
        if conditioning:
            mask_windows += _mask_windows(b, None if masks is None else masks[i], fh, fw)
    if conditioning:
        atlas, params = _atlas(mask_windows)
        arrays += [atlas, params]
    got = to_device(arrays + [xs, ys], device)
    xs_t, ys_t = got[-2].double(), got[-1].double()
    out = []
    for (sl, x0, y0, ww, wh), win in zip(people, got):
        # float64: grid_sample's coordinates then hit cv2's 1/32 pixel steps, and its sums are exact
        img = win.permute(2, 0, 1).unsqueeze(0).double()
        n = sl.stop - sl.start
        gx = _normalised(xs_t[sl] - x0, ww)[:, None, :].expand(n, h, w)
        gy = _normalised(ys_t[sl] - y0, wh)[:, :, None].expand(n, h, w)
        grid = torch.stack([gx, gy], -1).reshape(1, n * h, w, 2)
        crop = F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        out.append(crop.view(3, n, h, w).transpose(0, 1))
    # cv2's uint8 output: (sum + 2**14) >> 15 of weights in 1/2**15, i.e. half up; exact values lie on 1/1024
    crops = torch.floor(torch.cat(out) + (0.5 + 2.0**-12)).float()
    if conditioning:
        atlas_t, p = got[len(people)], got[len(people) + 1].double()
        # window coordinates, clamped into the zero gap around the window, then shifted into the atlas
        rows = torch.minimum(torch.clamp(xs_t - p[:, :1], min=-1.5), p[:, 2:3] + 0.5) + p[:, 4:5]
        cols = torch.minimum(torch.clamp(ys_t - p[:, 1:2], min=-1.5), p[:, 3:4] + 0.5) + p[:, 5:6]
        n = len(p)
        grid = torch.stack(
            [
                _normalised(cols, atlas_t.shape[1])[:, :, None].expand(n, h, w),
                _normalised(rows, atlas_t.shape[0])[:, None, :].expand(n, h, w),
            ],
            -1,
        )
        # float64 again: cv2's weights are multiples of 1/1024, so its float32 mask values are exact
        m = (
            F.grid_sample(
                atlas_t[None, None].double(),
                grid.reshape(1, n * h, w, 2),
                mode="bilinear",
                padding_mode="zeros",
                align_corners=False,
            )
            .view(n, 1, h, w)
            .float()
        )
        crops = crops * dim_weights(m)
    return crops, centers, scales
