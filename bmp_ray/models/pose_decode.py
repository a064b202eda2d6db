"""UDP + DARK-UDP heatmap decoding of every person at once, in torch on the heatmaps' device.

The arithmetic of mmpose's ``UDPHeatmap.decode`` with ``heatmap_type='gaussian'`` (mmpose 1.3:
``get_heatmap_maximum``, then ``refine_keypoints_dark_udp``), which decodes one person at a time in numpy:

1. the maximum of each heatmap and its first location (``-1, -1`` where the maximum is <= 0);
2. each heatmap blurred by cv2's Gaussian of ``blur_kernel_size`` with zeros around it, rescaled to its
   former maximum, clipped to [1e-3, 50] and logged;
3. one Newton step at the maximum on the edge-padded log heatmap: gradient and Hessian by central
   differences, ``(H + eps I)^-1`` in float64. mmpose reads the neighbours in the person's flattened
   padded heatmaps, so that a ``-1, -1`` location reads across heatmaps (the first wraps to the last):
   reproduced here;
4. heatmap pixels to input-crop pixels: ``xy / (W - 1, H - 1) * input_size``.

On near-flat heatmaps (random weights) that Newton step is ill-conditioned: one float32 ulp in the
blur or the log moves it by up to a pixel. So the values the step reads are computed in the very order
of operations of cv2's float32 Gaussian filter and of numpy's float32 log (x86-64 SIMD, both with fused
multiply-adds, each emulated by one float64 operation rounded to float32), at the seven pixels the step
reads and at the candidates for the blurred maximum only; the blurred map itself (to find those
candidates) is a plain float32 blur. Measured against mmpose's codec in tests/models/test_pose_decode.py
(equal on x86-64). No host-device synchronisation: constants are made on the device once.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch
import torch.nn.functional as F

_CANDIDATES = 4  # where the plain float32 blur has its largest values: the exact maximum is among them
# numpy's float32 log (loops_exponent_log.dispatch.c.src, AVX2 / AVX512F): a 5/5 rational polynomial
_LOG_P = [
    float(np.float32(v))
    for v in (
        0.0,
        9.999999999999998702752e-01,
        2.112677543073053063722e00,
        1.480000633576506585156e00,
        3.808837741388407920751e-01,
        2.589979117907922693523e-02,
    )
]
_LOG_Q = [
    float(np.float32(v))
    for v in (
        1.0,
        2.612677543073109236779e00,
        2.453006071784736363091e00,
        9.864942958519418960339e-01,
        1.546476374983906719538e-01,
        5.875095403124574342950e-03,
    )
]
_LN2, _SQRT1_2 = float(np.float32(0.693147180559945309417)), float(np.float32(0.707106781186547524400))


@functools.lru_cache(maxsize=8)
def _kernel(size: int) -> tuple[float, ...]:
    return tuple(float(v) for v in cv2.getGaussianKernel(size, 0, ktype=cv2.CV_32F).reshape(-1))


@functools.lru_cache(maxsize=16)
def _const(values: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """An int64 constant on ``device``, made once (a fresh host-to-device copy would wait for the device)."""
    return torch.tensor(values, dtype=torch.int64).to(device)


@functools.lru_cache(maxsize=16)
def _band(size: int, kernel: int, device: torch.device) -> torch.Tensor:
    """(size, size) float32: the Gaussian blur along one axis with zeros outside, as a matrix."""
    r, taps = kernel // 2, torch.tensor(_kernel(kernel))
    i = torch.arange(size)
    off = i[None, :] - i[:, None] + r
    return torch.where((off >= 0) & (off < kernel), taps[off.clamp(0, kernel - 1)], 0.0).to(device)


def _fma(a, b, c) -> torch.Tensor:
    """float32 ``a * b + c`` rounded once (the float64 product of two float32 values is exact)."""
    a = a.double() if isinstance(a, torch.Tensor) else a
    b = b.double() if isinstance(b, torch.Tensor) else b
    return (a * b + (c.double() if isinstance(c, torch.Tensor) else c)).float()


def log32(x: torch.Tensor) -> torch.Tensor:
    """numpy's float32 ``log`` of positive normal float32 values, operation by operation."""
    m, e = torch.frexp(x)  # m in [0.5, 1)
    low = m <= _SQRT1_2
    m = torch.where(low, m + m, m) - 1.0
    e = torch.where(low, e - 1, e).float()
    num, den = _fma(_LOG_P[5], m, _LOG_P[4]), _fma(_LOG_Q[5], m, _LOG_Q[4])
    for j in (3, 2, 1, 0):
        num, den = _fma(num, m, _LOG_P[j]), _fma(den, m, _LOG_Q[j])
    return _fma(e, _LN2, num / den)


def _blur_at(padded: torch.Tensor, flat: torch.Tensor, size: int) -> torch.Tensor:
    """cv2.GaussianBlur (float32) of zero-padded maps at given pixels, in cv2's order of operations.

    Args:
        padded: (M, H + 2r, W + 2r) float32 maps with r zeros around each.
        flat: (M', P) int64 pixels as ``map * H * W + y * W + x`` of the unpadded maps.

    Returns:
        (M', P) float32: along rows the taps summed in order by fused multiply-adds; along columns the
        center tap first, then each symmetric pair's sum, fused-multiply-added from the center out.
    """
    taps, r = _kernel(size), size // 2
    m, hp, wp = padded.shape
    h, w = hp - 2 * r, wp - 2 * r
    k, rest = flat // (h * w), flat % (h * w)
    origin = k * hp * wp + (rest // w) * wp + rest % w  # the window's top-left pixel in ``padded``
    offsets = torch.arange(size, device=flat.device)
    idx = origin[..., None, None] + offsets[:, None] * wp + offsets  # (M', P, size, size): rows i, taps j
    v = padded.reshape(-1)[idx].permute(3, 0, 1, 2).double().contiguous()  # taps first: contiguous steps
    rows = (v[0] * taps[0]).float()  # the float64 product of two float32 values is exact: rounded once
    for j in range(1, size):
        rows = (rows.double() + taps[j] * v[j]).float()
    rows = rows.permute(2, 0, 1).contiguous()  # (size, M', P)
    out = rows[r] * taps[r]
    for j in range(1, r + 1):
        out = _fma(taps[r + j], rows[r - j] + rows[r + j], out)
    return out


def decode_udp_dark(
    heatmaps: torch.Tensor, input_size: tuple[int, int], blur_kernel_size: int = 11
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keypoints of (N, K, H, W) float32 heatmaps, as mmpose's UDPHeatmap (gaussian) decodes them.

    Args:
        heatmaps: (N, K, H, W) float32, any device.
        input_size: the model input (w, h) in pixels.
        blur_kernel_size: the codec's ``blur_kernel_size`` (odd).

    Returns:
        xy (N, K, 2) float64 in input-crop pixels, and scores (N, K) float32 (each heatmap's maximum),
        on the heatmaps' device.
    """
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps: expected (N, K, H, W), got shape {tuple(heatmaps.shape)}")
    if blur_kernel_size % 2 != 1:
        raise ValueError(f"blur_kernel_size: expected an odd integer, got {blur_kernel_size}")
    hm = heatmaps.float()
    n, k, h, w = hm.shape
    dev, r = hm.device, blur_kernel_size // 2
    scores, arg = hm.flatten(2).max(2)  # first maximum, as np.argmax
    loc = torch.stack([arg % w, arg // w], -1)
    loc = torch.where((scores <= 0)[..., None], torch.full_like(loc, -1), loc)

    maps = hm.reshape(n * k, h, w)
    padded = F.pad(maps, (r, r, r, r))
    # the blurred maximum: exact values at the largest pixels of a float32 blur (two banded matrix products;
    # a 1-channel conv2d is ten times slower on the CPU)
    approx = (_band(h, blur_kernel_size, dev) @ maps @ _band(w, blur_kernel_size, dev).T).view(n * k, -1)
    c = min(_CANDIDATES, h * w)
    cand = approx.topk(c, 1).indices + torch.arange(n * k, device=dev)[:, None] * (h * w)

    # the seven pixels of the edge-padded log heatmaps the Newton step reads, as mmpose indexes them
    row, area = w + 2, (w + 2) * (h + 2)
    index = loc[..., 0] + 1 + (loc[..., 1] + 1) * row + area * torch.arange(k, device=dev)
    steps = _const((0, 1, row, row + 1, -row - 1, -1, -row), dev)
    at = torch.remainder(index[..., None] + steps, k * area)  # (N, K, 7); negative indices wrap, as numpy's
    kk, rest = at // area, at % area
    y = (rest // row - 1).clamp(0, h - 1)  # edge padding: the nearest pixel of the map
    x = (rest % row - 1).clamp(0, w - 1)
    person = torch.arange(n, device=dev)[:, None, None] * k
    flat = ((person + kk) * (h * w) + y * w + x).view(n * k, 7)
    blurred = _blur_at(padded, torch.cat([cand, flat], 1), blur_kernel_size)  # one pass for both
    top, vals = blurred[:, :c].amax(1).view(n, k), blurred[:, c:].reshape(n, k, 7)
    ratio = hm.flatten(2).amax(2) / top  # mmpose: heatmap *= origin_max / max(blurred), in float32
    ratio_at = torch.gather(ratio, 1, kk.view(n, -1)).view(n, k, 7)
    v = log32((vals * ratio_at).clamp(1e-3, 50.0))
    i_, ix1, iy1, ix1y1, ix1_y1_, ix1_, iy1_ = v.unbind(-1)
    dx, dy = 0.5 * (ix1 - ix1_), 0.5 * (iy1 - iy1_)
    dxx = ix1 - 2 * i_ + ix1_
    dyy = iy1 - 2 * i_ + iy1_
    dxy = 0.5 * (ix1y1 - ix1 - iy1 + i_ + i_ - ix1_ - iy1_ + ix1_y1_)
    eps = float(np.finfo(np.float32).eps)
    a, b, d = dxx.double() + eps, dxy.double(), dyy.double() + eps
    det = a * d - b * b
    ox = (d * dx.double() - b * dy.double()) / det
    oy = (a * dy.double() - b * dx.double()) / det
    refined = (loc.double() - torch.stack([ox, oy], -1)).float()  # mmpose subtracts in place: float32
    xy = torch.stack(
        [refined[..., 0].double() / (w - 1) * input_size[0], refined[..., 1].double() / (h - 1) * input_size[1]], -1
    )
    return xy, scores
