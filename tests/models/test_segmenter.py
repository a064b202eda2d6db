import dataclasses
import pickle

import numpy as np
import pytest
import torch

from bmp_ray.errors import ConfigError
from bmp_ray.models.sam import SamSegmenter
from bmp_ray.models.sam2 import Sam2Segmenter
from bmp_ray.models.segmenter import Segmenter, SegmenterEmbedding, build_segmenter
from bmp_ray.testdata import keypoint_prompts

NAMES = ["sam-tiny", "sam2.1-tiny"]


@pytest.fixture(scope="module", params=NAMES)
def seg(request, weights_dir):
    return build_segmenter(request.param, weights_dir)


def _tensors(e):
    return [e.features, *getattr(e, "high_res_feats", ())]


def test_the_factory_picks_the_class_by_architecture(weights_dir):
    assert type(build_segmenter("sam-tiny", weights_dir)) is SamSegmenter
    s2 = build_segmenter("sam2.1-tiny", weights_dir)
    assert type(s2) is Sam2Segmenter and isinstance(s2, Segmenter)
    with pytest.raises(ConfigError, match="'maskpose-tiny' is a pose model.*sam models: sam-vit-b.*sam2.1-hiera-large"):
        build_segmenter("maskpose-tiny", weights_dir)
    with pytest.raises(ValueError, match="transport 'int8': expected one of fp32, fp16, bf16"):
        build_segmenter("sam-tiny", weights_dir, transport="int8")


def test_embedding_pickles_to_cpu_and_segments_the_same(seg, coco_images):
    s = coco_images[1]
    (emb,) = seg.embed([s.rgb])
    assert isinstance(emb, SegmenterEmbedding)
    back = pickle.loads(pickle.dumps(emb, protocol=5))
    for a, b in zip(_tensors(emb), _tensors(back)):
        assert b.device.type == "cpu" and b.dtype == torch.float32 and torch.equal(a.cpu(), b)
    assert back.original_size == emb.original_size and back.to(seg.device) is not None
    pts = keypoint_prompts(s)[:2]
    (w0, q0), (w1, q1) = seg.segment_windows(emb, pts), seg.segment_windows(back, pts)
    assert all(a[0] == b[0] and np.array_equal(a[1], b[1]) for a, b in zip(w0, w1)) and np.array_equal(q0, q1)


def test_the_loops_own_numpy_conversion_still_works(seg, coco_images):
    """What bmp.loop did before the embedding owned its transport: features replaced by a numpy array
    before pickling, and by a torch tensor after. Either way the segmenter takes the embedding."""
    s = coco_images[1]
    (emb,) = seg.embed([s.rgb])
    as_numpy = dataclasses.replace(emb, features=emb.features.cpu().numpy())
    back = pickle.loads(pickle.dumps(as_numpy, protocol=5))
    pts = keypoint_prompts(s)[:2]
    (w0, q0) = seg.segment_windows(emb, pts)
    for e in (as_numpy, back, dataclasses.replace(back, features=torch.from_numpy(back.features.numpy()))):
        w1, q1 = seg.segment_windows(e, pts)
        assert all(a[0] == b[0] and np.array_equal(a[1], b[1]) for a, b in zip(w0, w1)) and np.array_equal(q0, q1)


@pytest.mark.parametrize("transport", ["fp16", "bf16"])
def test_half_precision_transport_halves_the_bytes(seg, coco_images, transport):
    s = coco_images[1]
    (emb,) = seg.embed([s.rgb])
    half = dataclasses.replace(emb, transport=transport)
    full_bytes, half_bytes = len(pickle.dumps(emb, protocol=5)), len(pickle.dumps(half, protocol=5))
    assert half_bytes < 0.52 * full_bytes and emb.nbytes >= 0.98 * full_bytes
    back = pickle.loads(pickle.dumps(half, protocol=5))
    tol = 2**-8 if transport == "bf16" else 2**-11
    for a, b in zip(_tensors(emb), _tensors(back)):
        assert b.dtype == torch.float32 and torch.allclose(a, b, rtol=tol, atol=1e-6)
        assert not torch.equal(a, b)
