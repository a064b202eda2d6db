"""Working frames: their size, and how they cross stage boundaries (``decode.frame_transport``)."""

import numpy as np
import pytest

from bmp_ray.errors import ConfigError
from bmp_ray.pipeline import config as C
from bmp_ray.pipeline.decode import packed, transported, unpacked, working_size
from bmp_ray.video import FrameReader


@pytest.fixture(scope="module")
def frames(shared_data):
    """The first 2 frames of a shared 1080p video, (2, 1080, 1920, 3) uint8 RGB."""
    return next(iter(FrameReader(str(shared_data / "videos" / "mmtracking_demo.mp4"), batch_size=2))).frames


def test_working_size_keeps_small_frames_and_scales_the_longer_side():
    assert working_size(1920, 1080, 0) == (1920, 1080)
    assert working_size(1920, 1080, 1920) == (1920, 1080)
    assert working_size(1920, 1080, 1024) == (1024, 576)
    assert working_size(1080, 1920, 1024) == (576, 1024)


def test_i420_carries_half_the_bytes_and_comes_back_close_to_the_frame(frames):
    """The planes are half the RGB bytes; back in RGB the frame is within a grey level on average
    (measured: mean 0.35, PSNR 52.6 dB) since the video's chroma already is 4:2:0."""
    sent = packed(frames, "i420")
    assert sent.shape == (2, 1620, 1920, 1) and sent.dtype == np.uint8 and sent.nbytes * 2 == frames.nbytes
    back = np.stack([unpacked(f) for f in sent])
    assert back.shape == frames.shape and back.dtype == np.uint8
    err = back.astype(np.float64) - frames
    assert np.abs(err).mean() < 1.0
    assert 10 * np.log10(255**2 / (err**2).mean()) > 45
    assert np.array_equal(transported(frames, "i420"), back)  # what the one-process path reads


def test_rgb_transport_and_odd_sides_send_the_frames_as_they_are(frames):
    assert packed(frames, "rgb") is frames and transported(frames, "rgb") is frames
    odd = np.ascontiguousarray(frames[:, :99, :201])
    assert packed(odd, "i420") is odd  # I420 needs even sides
    assert np.array_equal(transported(odd, "i420"), odd)
    first = frames[0]
    assert unpacked(first) is first


def test_a_wrong_frame_transport_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match=r"decode\.frame_transport.*rgb or i420.*yuv"):
        C.load(overrides=["decode.frame_transport=yuv"])
