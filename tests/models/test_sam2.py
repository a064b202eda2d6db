import numpy as np
import pytest
import torch

from bmp_ray.models import registry
from bmp_ray.models.segmenter import build_segmenter
from bmp_ray.testdata import keypoint_prompts


@pytest.fixture(scope="module")
def sam2(weights_dir):
    return build_segmenter("sam2.1-tiny", weights_dir, encoder_batch=2)


@pytest.fixture(scope="module")
def predictor(weights_dir):
    """sam2's own predictor on the same checkpoint, built by sam2's own builder (its checkpoint loading)."""
    from sam2.build_sam import build_sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    spec = registry.get("sam2.1-tiny")
    model = build_sam2(
        spec.arch.config,
        str(weights_dir / spec.checkpoint.filename),
        device="cpu",
        hydra_overrides_extra=list(spec.arch.overrides),
    )
    return SAM2ImagePredictor(model)


def _set(predictor, emb):
    predictor._features = {"image_embed": emb.features[None], "high_res_feats": [f[None] for f in emb.high_res_feats]}
    predictor._orig_hw, predictor._is_image_set = [emb.original_size], True


def test_equals_sam2_image_predictor_per_person(sam2, predictor, all_images):
    embs = sam2.embed([s.rgb for s in all_images])
    checked, flips, sizes = 0, [], []
    for s, emb in zip(all_images, embs):
        pts = keypoint_prompts(s)
        masks, ious = sam2.segment(emb, pts)
        predictor.set_image(s.rgb)
        ref = predictor._features
        assert torch.allclose(ref["image_embed"][0], emb.features, atol=1e-4)
        assert all(torch.allclose(r[0], f, atol=1e-4) for r, f in zip(ref["high_res_feats"], emb.high_res_feats))
        for j, p in enumerate(pts):
            m, q, _ = predictor.predict(p, np.ones(len(p)), multimask_output=False)
            # the batched encoder differs from one image at a time by float noise only
            assert (m[0].astype(bool) == masks[j]).mean() > 0.9999
            assert abs(q[0] - ious[j]) < 1e-4
            checked += 1
        _set(predictor, emb)  # the same embedding: only the decoder's batching and windows differ
        for j, p in enumerate(pts):
            m, q, _ = predictor.predict(p, np.ones(len(p)), multimask_output=False)
            flips.append(int((m[0].astype(bool) != masks[j]).sum()))
            sizes.append(int(m[0].sum()))
            assert flips[-1] <= 3 and abs(q[0] - ious[j]) < 1e-5
    assert checked == 19
    # random weights still give masks that are neither empty nor the whole frame, so equality means something
    assert sum(0 < a < m[0].size for a in sizes) >= 5, sizes


def test_box_prompts_equal_the_predictor(sam2, predictor, coco_images):
    s = coco_images[1]
    (emb,) = sam2.embed([s.rgb])
    pts = keypoint_prompts(s)
    points = [pts[0], np.zeros((0, 2)), pts[1 % len(pts)]]
    boxes = [s.boxes[0], s.boxes[0], None]
    masks, ious = sam2.segment(emb, points, boxes)
    _set(predictor, emb)
    for j, (p, b) in enumerate(zip(points, boxes)):
        kw = dict(point_coords=p, point_labels=np.ones(len(p))) if len(p) else {}
        m, q, _ = predictor.predict(box=b, multimask_output=False, **kw)
        assert (m[0].astype(bool) != masks[j]).sum() <= 3 and abs(q[0] - ious[j]) < 1e-5


def test_built_as_build_sam2_builds_it(sam2, predictor):
    ours, theirs = sam2.model.state_dict(), predictor.model.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    d = sam2.model.sam_mask_decoder
    assert d.dynamic_multimask_via_stability and d.dynamic_multimask_stability_thresh == 0.98
    trunk = sam2.model.image_encoder.trunk
    assert len(trunk.blocks) == 5 and trunk.patch_embed.proj.out_channels == 16


def test_grayscale_odd_sizes_and_bad_inputs(sam2):
    gray = np.full((13, 1031), 90, np.uint8)
    (emb,) = sam2.embed([gray])
    masks, ious = sam2.segment(emb, [np.array([[5.0, 6.0]])])
    assert masks.shape == (1, 13, 1031) and np.isfinite(ious).all()
    with pytest.raises(ValueError, match="person 0: needs at least one point or a box prompt"):
        sam2.segment(emb, [np.zeros((0, 2))])
    with pytest.raises(ValueError, match="Sam2Segmenter: 'sam-tiny' is a sam model .SamArch., expected a Sam2Arch"):
        from bmp_ray.models.sam2 import Sam2Segmenter

        Sam2Segmenter("sam-tiny")


@pytest.mark.parametrize("original_size", [(1080, 1920), (425, 640), (1500, 1000), (13, 1031), (481, 7)])
def test_windowed_resize_equals_sam2_postprocess_masks(sam2, original_size):
    from bmp_ray.models.sam_resample import DirectResampler

    yy, xx = torch.meshgrid(torch.arange(256.0), torch.arange(256.0), indexing="ij")
    noise = torch.randn(3, 1, 256, 256, generator=torch.Generator().manual_seed(0))
    bump = 3 - ((yy - 90) ** 2 + (xx - 40) ** 2).sqrt() / 8
    low = noise * torch.tensor([0.05, 0.5, 3.0])[:, None, None, None] + bump
    ref = (sam2.transforms.postprocess_masks(low, original_size)[:, 0] > 0).numpy()
    got = np.zeros_like(ref)
    for i, ((y0, y1, x0, x1), m) in enumerate(DirectResampler(original_size)(low[:, 0])):
        got[i, y0:y1, x0:x1] = m
        assert m.shape == (y1 - y0, x1 - x0)
    assert (got != ref).sum() <= 3 and ref.sum() > 0
