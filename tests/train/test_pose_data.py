"""The training samples against mmpose's codec and against bmp_ray's own inference crops."""

import numpy as np
import pytest

from bmp_ray.models.build import load_model
from bmp_ray.models.pose import PoseEstimator
from bmp_ray.train.keypoints import load_source
from bmp_ray.train.pose_data import PoseTrainSet, RatioSampler


@pytest.fixture(scope="module")
def model(train_weights):
    return load_model("maskpose-tiny", train_weights).module


@pytest.fixture(scope="module")
def people(coco_dir):
    return load_source("coco", coco_dir / "test_coco.json", coco_dir)


def test_targets_decode_back_to_the_ground_truth_keypoints(model, people):
    ds = PoseTrainSet(people, model, conditioning=True, augment=False, perturb=False)
    codec = model.head.decoder
    for i in range(len(people)):
        sample = ds[i]
        ds_ = sample["data_samples"]
        hm = ds_.gt_fields.heatmaps.numpy()
        xy, _ = codec.decode(hm)  # input-crop pixels (192x256)
        center, scale = ds_.metainfo["input_center"], ds_.metainfo["input_scale"]
        img_xy = xy[0] / np.array([192, 256]) * scale + center - 0.5 * scale
        vis = people[i].visible > 0
        err = np.abs(img_xy[vis] - people[i].keypoints[vis])
        assert err.max() < 0.02 * scale.max(), (i, err.max())  # within one heatmap pixel or so
        assert np.array_equal(ds_.gt_instance_labels.keypoint_weights[0].numpy() > 0, vis)


def test_conditioned_inputs_equal_the_inference_reference_crops(model, people, train_weights, coco_dir):
    """Without perturbation the training input is the image dimmed outside the mask and warped, which is
    exactly PoseEstimator's full-resolution conditioning reference (condition_at="frame")."""
    from pycocotools import mask as coco_mask

    from bmp_ray.train.pose_data import person_mask, read_image

    ds = PoseTrainSet(people, model, conditioning=True, augment=False, perturb=False)
    est = PoseEstimator("maskpose-tiny", train_weights, condition_at="frame")
    for i in (0, 5):
        p = people[i]
        bgr = read_image(p.image)
        rle = coco_mask.encode(np.asfortranarray(person_mask(p, *bgr.shape[:2])))["counts"]
        ref, _, _ = est.crops(np.ascontiguousarray(bgr[..., ::-1]), p.box[None], [rle])
        got = ds[i]["inputs"].numpy().transpose(1, 2, 0)[..., ::-1]  # CHW BGR -> HWC RGB
        assert np.abs(got - ref[0]).max() < 1e-3
        plain = PoseTrainSet(people, model, conditioning=False, augment=False)[i]["inputs"].numpy()
        assert not np.allclose(plain, ds[i]["inputs"].numpy())


def test_perturbation_and_augmentation_follow_the_sample_seed(model, people):
    ds = PoseTrainSet(people, model, conditioning=True, augment=True, perturb=True)
    a, b, c = ds[(3, 11)], ds[(3, 11)], ds[(3, 12)]
    assert np.array_equal(a["inputs"].numpy(), b["inputs"].numpy())
    assert not np.array_equal(a["inputs"].numpy(), c["inputs"].numpy())


def test_ratio_sampler_draws_by_ratio_and_splits_over_workers():
    full = RatioSampler([10, 3], [3, 1], 41, world=2, seed=7)
    assert full.total == 40 and full.counts() == [30, 10]
    rows = full.draw()
    assert (rows[:, 0] < 10).sum() == 30 and (rows[:, 0] >= 10).sum() == 10
    assert set(rows[rows[:, 0] >= 10, 0]) == {10, 11, 12}  # the small set is cycled
    shards = [list(RatioSampler([10, 3], [3, 1], 41, rank=r, world=2, seed=7)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 20
    assert sorted(shards[0] + shards[1]) == sorted(map(tuple, rows.tolist()))
    again = RatioSampler([10, 3], [3, 1], 41, world=2, seed=7)
    assert np.array_equal(again.draw(), rows)
    again.set_epoch(1)
    assert not np.array_equal(again.draw(), rows)
