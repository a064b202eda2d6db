"""The batched torch UDP + DARK-UDP decoder against mmpose's own codec, on the same heatmaps."""

import platform

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bmp_ray.models.build import load_model
from bmp_ray.models.pose import PoseEstimator
from bmp_ray.models.pose_decode import _blur_at, decode_udp_dark, log32

# numpy's float32 log is its own SIMD code (AVX2 + FMA3 or AVX512F) and cv2's filter fuses multiply-adds
# on x86-64: elsewhere the two differ from the emulation here by an ulp, which near-flat heatmaps amplify
SIMD = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 SIMD arithmetic")


@pytest.fixture(scope="module")
def codec(weights_dir):
    return load_model("vitpose-tiny", weights_dir).module.head.decoder


def _gaussians(codec, rng, n):
    """(n, K, 64, 48) heatmaps of the codec's own encoding: keypoints anywhere in the crop (edges and
    corners too), a little noise, some maps shifted below zero (no positive maximum)."""
    k = 21
    xy = rng.uniform([-4, -4], [196, 260], (n, k, 2)).astype(np.float32)
    xy[0, :4] = [[0, 0], [191, 255], [0, 255], [191, 0]]
    hms = np.stack([codec.encode(p[None])["heatmaps"] for p in xy]).astype(np.float32)
    hms += rng.normal(0, 0.01, hms.shape).astype(np.float32)
    hms[1, :5] -= 1.0
    hms[2, 0] -= 1.0  # the first map of a person: mmpose's neighbour indices wrap around to the last map
    return hms


def _compare(codec, hms):
    ref = [codec.decode(h) for h in hms]
    ref_xy = np.stack([r[0][0] for r in ref])
    ref_score = np.stack([r[1][0] for r in ref])
    xy, score = decode_udp_dark(torch.from_numpy(hms), (192, 256), codec.blur_kernel_size)
    assert xy.dtype == torch.float64 and score.dtype == torch.float32
    np.testing.assert_array_equal(score.numpy(), ref_score)
    return np.abs(xy.numpy() - ref_xy), ref_xy


def test_decode_equals_mmpose_codec_on_gaussian_heatmaps(codec):
    err, ref_xy = _compare(codec, _gaussians(codec, np.random.default_rng(0), 16))
    assert err.max() < 1e-3  # input-crop pixels (192x256); measured 0 on x86-64
    assert np.isfinite(ref_xy).all()


@SIMD
def test_decode_equals_mmpose_codec_on_the_tiny_models_heatmaps(weights_dir, coco_images):
    """Random weights: near-flat heatmaps, whose Newton step is ill-conditioned (up to hundreds of pixels):
    equal only because the blur and the log are computed as cv2 and numpy compute them."""
    est = PoseEstimator("vitpose-tiny", weights_dir, backend="reference")
    hms = np.concatenate([est.heatmaps(est.crops(s.rgb, s.boxes, None)[0]) for s in coco_images[:3]])
    err, ref_xy = _compare(codec=est.codec, hms=hms)
    assert err.max() < 1e-6


@SIMD
def test_log32_and_blur_are_numpys_and_cv2s_to_the_bit(codec):
    from mmpose.codecs.utils.post_processing import gaussian_blur

    rng = np.random.default_rng(1)
    x = np.exp(rng.uniform(np.log(1e-3), np.log(50), 100_000)).astype(np.float32)
    assert np.array_equal(log32(torch.from_numpy(x)).numpy(), np.log(x))
    hms = _gaussians(codec, rng, 3)
    hms[1] = rng.uniform(0, 0.01, hms[1].shape)
    ref = np.stack([gaussian_blur(h.copy(), 11) for h in hms])
    m, k, h, w = hms.shape
    padded = F.pad(torch.from_numpy(hms).reshape(m * k, h, w), (5, 5, 5, 5))
    at = _blur_at(padded, torch.arange(m * k * h * w).view(m * k, -1), 11).view(hms.shape)
    ours = at * (torch.from_numpy(hms).flatten(2).amax(2) / at.flatten(2).amax(2))[..., None, None]
    assert np.array_equal(ours.numpy(), ref)


def test_decode_rejects_other_shapes():
    with pytest.raises(ValueError, match=r"heatmaps: expected \(N, K, H, W\), got shape \(21, 64, 48\)"):
        decode_udp_dark(torch.zeros(21, 64, 48), (192, 256))
    with pytest.raises(ValueError, match="blur_kernel_size: expected an odd integer, got 10"):
        decode_udp_dark(torch.ones(1, 2, 64, 48), (192, 256), 10)
