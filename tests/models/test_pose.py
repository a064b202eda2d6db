import numpy as np
import pytest

from bmp_ray import masks as _masks
from bmp_ray.models.pose import PoseEstimator, box_to_center_scale, fill_holes
from bmp_ray.testdata import middle_masks


@pytest.fixture(scope="module")
def vitpose(weights_dir):
    return PoseEstimator("vitpose-tiny", weights_dir)


@pytest.fixture(scope="module")
def maskpose(weights_dir):
    return PoseEstimator("maskpose-tiny", weights_dir)


def test_conditioning_off_equals_mmpose_inference_topdown_batched_over_frames(weights_dir, all_images):
    """Exact path (BatchNorm not folded): random weights give near-flat heatmaps whose argmax float
    rounding could move; the folded head is compared on heatmaps below."""
    from mmpose.apis import inference_topdown

    vitpose = PoseEstimator("vitpose-tiny", weights_dir, fuse_bn=False)
    assert not vitpose.conditioning
    ours = vitpose([s.rgb for s in all_images], [s.boxes for s in all_images])
    for s, kpts in zip(all_images, ours):
        ref = inference_topdown(vitpose.model, np.ascontiguousarray(s.rgb[..., ::-1]), s.boxes, "xyxy")
        xy = np.concatenate([r.pred_instances.keypoints for r in ref])
        score = np.concatenate([r.pred_instances.keypoint_scores for r in ref])
        crop = np.maximum(*(box_to_center_scale(s.boxes, 1.25, 0.75)[1].T))[:, None, None]
        assert kpts.shape == (len(s.boxes), 21, 3)
        assert (np.abs(kpts[..., :2] - xy) / crop).max() < 1e-3
        np.testing.assert_allclose(kpts[..., 2], score, atol=1e-4)


def test_folded_batchnorm_gives_the_same_heatmaps(vitpose, weights_dir, coco_images):
    s = coco_images[3]
    crops = vitpose.crops(s.rgb, s.boxes, None)[0]
    plain = PoseEstimator("vitpose-tiny", weights_dir, fuse_bn=False).heatmaps(crops)
    fused = vitpose.heatmaps(crops)
    assert np.abs(fused - plain).max() <= 1e-5 * np.abs(plain).max()


def test_flip_test_off_is_one_pass(weights_dir, coco_images):
    s = coco_images[2]
    on = PoseEstimator("vitpose-tiny", weights_dir)([s.rgb], [s.boxes])[0]
    off = PoseEstimator("vitpose-tiny", weights_dir, flip_test=False)([s.rgb], [s.boxes])[0]
    assert on.shape == off.shape and not np.allclose(on, off)


def test_no_boxes_gives_no_people_not_a_full_frame_phantom(maskpose, coco_images):
    out = maskpose([coco_images[0].rgb, coco_images[1].rgb], [np.zeros((0, 4)), coco_images[1].boxes])
    assert out[0].shape == (0, 21, 3) and out[1].shape == (3, 21, 3)
    assert [o.shape for o in maskpose([coco_images[0].rgb], [[]])] == [(0, 21, 3)]


def test_maskpose_dims_the_background_inside_the_crop(maskpose, vitpose, coco_images):
    s = coco_images[1]
    raw = vitpose.crops(s.rgb, s.boxes, None)[0]
    by_box = maskpose.crops(s.rgb, s.boxes, None)[0]  # no mask: the box is the mask
    cond = maskpose.crops(s.rgb, s.boxes, _masks.encode(middle_masks(s)))[0]
    ok = raw > 20
    # the crop's center column is inside every mask: unchanged; its corners are background: 0.8
    assert np.allclose((cond / np.maximum(raw, 1))[:, 120:136, 94:98][ok[:, 120:136, 94:98]], 1.0, atol=0.02)
    assert np.allclose((cond / np.maximum(raw, 1))[:, :4, :4][ok[:, :4, :4]], 0.8, atol=0.02)
    # with the box as the mask, only the padding around the box is dimmed
    assert np.allclose((by_box / np.maximum(raw, 1))[:, 120:136, 90:102][ok[:, 120:136, 90:102]], 1.0, atol=0.02)
    assert not np.allclose(by_box, cond)


def test_dimming_in_the_crop_matches_full_resolution_dimming(weights_dir, all_images):
    """bmp_ray dims inside the crop; the method dims the full frame then crops. Measured here."""
    crop = PoseEstimator("maskpose-tiny", weights_dir)
    frame = PoseEstimator("maskpose-tiny", weights_dir, condition_at="frame")
    diffs, kdiffs = [], []
    for s in all_images:
        rles = _masks.encode(middle_masks(s))
        a, b = crop.crops(s.rgb, s.boxes, rles)[0], frame.crops(s.rgb, s.boxes, rles)[0]
        diffs.append(np.abs(a - b).mean())
        assert np.abs(a - b).max() <= 0.2 * 255 + 1e-3  # only a border pixel can differ, by at most the dimming
        ka = crop([s.rgb], [s.boxes], [rles])[0]
        kb = frame([s.rgb], [s.boxes], [rles])[0]
        kdiffs.append(np.abs(ka[..., 2] - kb[..., 2]).max())
    assert max(diffs) < 0.5  # mean absolute pixel difference, 0..255 scale
    assert max(kdiffs) < 0.05


def test_fill_holes_takes_external_contours():
    m = np.zeros((20, 20), bool)
    m[2:18, 2:18] = True
    m[6:12, 6:12] = False  # a hole
    m[0, 19] = True  # a separate speck stays as it is
    f = fill_holes(m)
    assert f[6:12, 6:12].all() and f[0, 19] and f.sum() == 16 * 16 + 1
    assert fill_holes(np.zeros((4, 4), bool)).sum() == 0


def test_center_scale_keeps_three_to_four():
    c, s = box_to_center_scale(np.array([[10, 20, 110, 60], [0, 0, 30, 100]]), 1.25, 0.75)
    np.testing.assert_allclose(c, [[60, 40], [15, 50]])
    np.testing.assert_allclose(s, [[125, 125 / 0.75], [125 * 0.75, 125]])


def test_grayscale_odd_sizes_and_bad_inputs(maskpose):
    gray = np.full((31, 17), 128, np.uint8)
    (k,) = maskpose([gray], [np.array([[2, 3, 15, 29]])], [[b""]])
    assert k.shape == (1, 21, 3) and np.isfinite(k).all()
    with pytest.raises(ValueError, match=r"boxes: expected one \(N, 4\) array per frame \(1\), got 2"):
        maskpose([gray], [np.zeros((0, 4)), np.zeros((0, 4))])
    with pytest.raises(ValueError, match=r"masks\[0\]: expected 1 masks \(one per box\), got 2"):
        maskpose([gray], [np.array([[2, 3, 15, 29]])], [[b"", b""]])
    with pytest.raises(ValueError, match="condition_at: expected 'crop' or 'frame'"):
        PoseEstimator("maskpose-tiny", None, condition_at="full")


def test_torch_and_reference_backends_agree_with_masks_and_boxes(weights_dir, all_images):
    """The default (torch) crops and decoding against cv2 and mmpose's codec, MaskPose conditioning on."""
    ref = PoseEstimator("maskpose-tiny", weights_dir, backend="reference")
    ours = PoseEstimator("maskpose-tiny", weights_dir)
    frames = [s.rgb for s in all_images]
    boxes = [s.boxes for s in all_images]
    rles = [_masks.encode(middle_masks(s)) for s in all_images]
    for r in rles[::2]:
        r[0] = b""  # conditioned by its box
    compared, total = [], 0
    for s, a, b in zip(all_images, ours(frames, boxes, rles), ref(frames, boxes, rles)):
        center, scale = box_to_center_scale(s.boxes, 1.25, 0.75)
        # DARK's Newton step moves a keypoint by under one heatmap pixel where the log heatmap is curved; on
        # the near-flat heatmaps of random weights it can be singular and throw the keypoint far outside its
        # crop, where one float32 ulp of the heatmaps (kernels chosen by the thread count or the CPU) moves
        # it by pixels. The keypoints mmpose's codec places inside their crops agree to 1e-3 of the crop,
        # all but a few near-flat ones (one in 362 on an AMD EPYC with one torch thread: 2.4e-3 of the
        # crop, a tenth of a heatmap pixel, from the crops of torch's and cv2's bilinear warps) to a
        # quarter of a heatmap pixel.
        margin = (scale / 48)[:, None]  # one heatmap pixel
        lo, hi = (center - scale / 2)[:, None] - margin, (center + scale / 2)[:, None] + margin
        inside = ((b[..., :2] >= lo) & (b[..., :2] <= hi)).all(-1)
        crop = np.maximum(*scale.T)[:, None]
        compared.append((np.abs(a[..., :2] - b[..., :2]).max(-1) / crop)[inside])
        np.testing.assert_allclose(a[..., 2], b[..., 2], atol=1e-4)
        total += inside.size
    off = np.concatenate(compared)
    assert np.percentile(off, 99) < 1e-3 and off.max() < 0.25 / 48
    assert len(off) >= 0.8 * total  # measured 362 of 399 keypoints inside their crops
    with pytest.raises(ValueError, match="backend: expected one of 'torch', 'reference', got 'numpy'"):
        PoseEstimator("maskpose-tiny", weights_dir, backend="numpy")
