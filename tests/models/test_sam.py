import numpy as np
import pytest
import torch

from bmp_ray.models.segmenter import build_segmenter
from bmp_ray.testdata import keypoint_prompts


@pytest.fixture(scope="module")
def sam(weights_dir):
    return build_segmenter("sam-tiny", weights_dir, encoder_batch=2)


def test_equals_sam_predictor_per_person(sam, all_images):
    from segment_anything import SamPredictor

    predictor = SamPredictor(sam.model)
    embs = sam.embed([s.rgb for s in all_images])
    checked, flips = 0, []
    for s, emb in zip(all_images, embs):
        pts = keypoint_prompts(s)
        boxes = [None] * len(pts)
        boxes[0] = s.boxes[0]  # one person also gets a box prompt
        masks, ious = sam.segment(emb, pts, boxes)
        predictor.set_image(s.rgb, image_format="RGB")
        assert torch.allclose(predictor.features[0], emb.features, atol=1e-4)
        for j, p in enumerate(pts):
            m, q, _ = predictor.predict(p, np.ones(len(p)), box=boxes[j], multimask_output=False)
            # the batched encoder differs from one image at a time by float noise only: a pixel whose
            # logit is within that noise of the threshold may flip
            assert (m[0] == masks[j]).mean() > 0.9999
            assert abs(q[0] - ious[j]) < 1e-4
            checked += 1
        predictor.features = emb.features[None]  # the same embedding: only the decoder's batching differs
        for j, p in enumerate(pts):
            m, q, _ = predictor.predict(p, np.ones(len(p)), box=boxes[j], multimask_output=False)
            flips.append(int((m[0] != masks[j]).sum()))
            assert flips[-1] <= 1e-4 * m[0].size and abs(q[0] - ious[j]) < 1e-5
    assert checked == 19
    assert sum(flips) <= 1e-5 * sum(s.rgb.shape[0] * s.rgb.shape[1] for s in all_images) * len(flips), flips


def test_box_only_prompt_and_empty_frames(sam, coco_images):
    s = coco_images[1]
    (emb,) = sam.embed([s.rgb])
    masks, ious = sam.segment(emb, [np.zeros((0, 2))], [s.boxes[0]])
    assert masks.shape == (1, *s.rgb.shape[:2]) and ious.shape == (1,)
    e0, e1 = sam.embed([s.rgb, coco_images[0].rgb])
    masks, ious = sam.segment(e0, [])
    assert masks.shape == (0, *s.rgb.shape[:2]) and ious.shape == (0,)
    assert sam.segment(e1, keypoint_prompts(coco_images[0]))[0].shape == (1, *coco_images[0].rgb.shape[:2])


def test_grayscale_odd_sizes_and_bad_inputs(sam):
    gray = np.full((13, 1031), 90, np.uint8)
    (emb,) = sam.embed([gray])
    masks, ious = sam.segment(emb, [np.array([[5.0, 6.0]])])
    assert masks.shape == (1, 13, 1031) and np.isfinite(ious).all()
    with pytest.raises(ValueError, match="person 0: needs at least one point or a box prompt"):
        sam.segment(emb, [np.zeros((0, 2))])
    with pytest.raises(ValueError, match=r"frames\[0\]: expected uint8 pixels, got int64"):
        sam.embed([np.zeros((4, 4, 3), np.int64)])


@pytest.mark.parametrize(
    "input_size,original_size",
    [
        ((576, 1024), (1080, 1920)),
        ((680, 1024), (425, 640)),
        ((1024, 683), (1500, 1000)),
        ((13, 1024), (13, 1031)),
        ((1024, 7), (481, 7)),
    ],
)
def test_windowed_upsampling_equals_sam_postprocess_masks(sam, input_size, original_size):
    from bmp_ray.models.sam_resample import MaskResampler

    yy, xx = torch.meshgrid(torch.arange(256.0), torch.arange(256.0), indexing="ij")
    cy, cx = min(90.0, input_size[0] / 8), min(40.0, input_size[1] / 8)  # a blob inside the image part
    noise = torch.randn(3, 1, 256, 256, generator=torch.Generator().manual_seed(0))
    bump = 3 - ((yy - cy) ** 2 + (xx - cx) ** 2).sqrt() / 8
    low = noise * torch.tensor([0.05, 0.5, 3.0])[:, None, None, None] + bump
    ref = (sam.model.postprocess_masks(low, input_size, original_size)[:, 0] > 0).numpy()
    got = np.zeros_like(ref)
    for i, ((y0, y1, x0, x1), m) in enumerate(MaskResampler(input_size, original_size)(low[:, 0])):
        got[i, y0:y1, x0:x1] = m
        assert m.shape == (y1 - y0, x1 - x0)
    assert (got != ref).sum() <= 3 and ref.sum() > 0


@pytest.mark.parametrize("size", [(576, 1024), (1080, 1920), (577, 1023), (1024, 576), (7, 9), (2000, 3)])
def test_prompts_map_to_the_encoder_input_as_segment_anything_maps_them(size):
    """Points and boxes go to the resized frame's pixels bit-identically to ``ResizeLongestSide``'s
    ``apply_coords_torch`` / ``apply_boxes_torch`` (the float32 arithmetic of ``SamPredictor``)."""
    from segment_anything.utils.transforms import ResizeLongestSide

    from bmp_ray.models.sam import Embedding, _to_input

    t = ResizeLongestSide(1024)
    emb = Embedding(torch.zeros(1), size, t.get_preprocess_shape(*size, 1024))
    rng = np.random.default_rng(size[0])
    points = rng.uniform(-5, max(size) + 5, (300, 6, 2)).astype(np.float32)
    boxes = rng.uniform(-5, max(size) + 5, (300, 4)).astype(np.float32)
    assert np.array_equal(_to_input(points, emb), t.apply_coords_torch(torch.from_numpy(points), size).numpy())
    got = _to_input(boxes.reshape(-1, 2, 2), emb).reshape(-1, 4)
    assert np.array_equal(got, t.apply_boxes_torch(torch.from_numpy(boxes), size).numpy())


@pytest.mark.parametrize("size", [(576, 1024), (1024, 1024), (1024, 7), (577, 1025), (300, 500)])
def test_frames_resized_to_the_encoder_as_segment_anything_resizes_them(sam, size):
    """A frame goes to the encoder's size as ``ResizeLongestSide.apply_image`` takes it; one already
    at that size (a 1024 working frame) is used as it is, not copied."""
    frame = np.random.default_rng(size[1]).integers(0, 256, (*size, 3), np.uint8)
    got, want = sam._resized(frame), sam.transform.apply_image(frame)
    assert got.shape == want.shape and np.array_equal(got, want)
    assert (got is frame) == (max(size) == 1024)
