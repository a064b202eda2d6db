"""The detector training set: COCO person instances, the MaskOutPeople transform in mmdet's pipeline."""

import json

import numpy as np
import pytest

from bmp_ray.errors import DatasetError
from bmp_ray.masks import from_segmentation
from bmp_ray.models import registry
from bmp_ray.models.build import mm_config
from bmp_ray.train.det_data import (
    DetTrainSet,
    MaskOutPeople,
    compose,
    load_instances,
    train_steps,
)

PIPELINE = mm_config(registry.get("rtmdet-ins-tiny")).train_pipeline
LOAD = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations", with_bbox=True, with_mask=True, poly2mask=True)]


def test_instances_match_mmdets_own_coco_dataset(coco_dir):
    """Our reader and mmdet's CocoDataset (person class) give the same boxes, labels, masks, flags."""
    from mmdet.datasets import CocoDataset

    ours = load_instances(coco_dir / "test_coco.json", coco_dir)
    theirs = CocoDataset(
        ann_file=str(coco_dir / "test_coco.json"),
        data_prefix=dict(img=str(coco_dir) + "/"),
        metainfo=dict(classes=("person",)),
        filter_cfg=None,
        pipeline=[],
        serialize_data=False,
    )
    assert len(ours) == len(theirs) == 4 and sum(len(im["instances"]) for im in ours) == 14
    for i, im in enumerate(ours):
        ref = theirs.get_data_info(i)
        assert (im["img_path"], im["img_id"], im["height"], im["width"]) == (
            ref["img_path"],
            ref["img_id"],
            ref["height"],
            ref["width"],
        )
        for a, b in zip(im["instances"], ref["instances"], strict=True):
            assert np.allclose(a["bbox"], b["bbox"]) and a["bbox_label"] == b["bbox_label"] == 0
            assert a["ignore_flag"] == b["ignore_flag"] and a["mask"] == b["mask"]


def test_rle_sets_crowds_other_categories_and_people_without_masks(shared_data, tmp_path):
    och = shared_data / "images" / "ochuman"
    images = load_instances(och / "test_ochuman.json", och)  # RLE masks with sizes stored as strings
    assert [len(im["instances"]) for im in images] == [1, 2, 2]
    m = from_segmentation(images[0]["instances"][0]["mask"], images[0]["height"], images[0]["width"])
    assert m.sum() > 1000
    data = {
        "images": [{"id": 7, "file_name": "000817.jpg", "height": images[0]["height"], "width": images[0]["width"]}],
        "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 7,
                "category_id": 1,
                "bbox": [10, 10, 50, 80],
                "iscrowd": 0,
                "segmentation": [[10, 10, 60, 10, 60, 90, 10, 90]],
            },
            {
                "id": 2,
                "image_id": 7,
                "category_id": 1,
                "bbox": [100, 10, 50, 80],
                "iscrowd": 1,
                "segmentation": images[0]["instances"][0]["mask"],
            },
            {"id": 3, "image_id": 7, "category_id": 3, "bbox": [0, 0, 5, 5], "iscrowd": 0, "segmentation": []},
            {"id": 4, "image_id": 7, "category_id": 1, "bbox": [200, 10, 20, 30], "iscrowd": 0},
            {"id": 5, "image_id": 7, "category_id": 1, "bbox": [300, 10, 0.5, 30], "iscrowd": 0},
        ],
    }
    (tmp_path / "a.json").write_text(json.dumps(data))
    (inst,) = [im["instances"] for im in load_instances(tmp_path / "a.json", och)]
    # no car, no 0.5-px box
    assert [i["bbox"] for i in inst] == [[10, 10, 60, 90], [100, 10, 150, 90], [200, 10, 220, 40]]
    assert [i["ignore_flag"] for i in inst] == [0, 1, 1]  # a crowd, a person without a mask


def test_bad_files_are_named(coco_dir, tmp_path):
    with pytest.raises(DatasetError, match="missing.json: not found; check data.train\\[\\].ann_file"):
        load_instances(tmp_path / "missing.json", coco_dir)
    (tmp_path / "bad.json").write_text('{"images": [{"file_name": "x.jpg"}]}')
    with pytest.raises(DatasetError, match="bad.json: not a COCO instances file"):
        load_instances(tmp_path / "bad.json", coco_dir)
    (tmp_path / "cars.json").write_text('{"images": [], "annotations": [], "categories": [{"id": 3, "name": "car"}]}')
    with pytest.raises(DatasetError, match="cars.json: no 'person' category"):
        load_instances(tmp_path / "cars.json", coco_dir)
    with pytest.raises(DatasetError, match="image 000000000785.jpg is missing from .*; check data.val_img_dir"):
        load_instances(coco_dir / "test_coco.json", tmp_path, key="data.val_")


def _pipeline(*steps):
    return compose(steps)


@pytest.mark.parametrize("seed", range(6))
def test_mask_out_people_in_mmdets_pipeline(coco_dir, seed):
    """Painted pixels are exactly black and only there; the removed people leave every gt field; kept
    people keep their boxes and masks; the same seed gives the same sample."""
    image = load_instances(coco_dir / "test_coco.json", coco_dir)[2]  # 5 people
    loaded = _pipeline(*LOAD)(dict(image))
    np.random.seed(seed)
    out = _pipeline(*LOAD, dict(type="MaskOutPeople", p_none=0.0, p_all=0.0, covered=0.7))(dict(image))
    masks = loaded["gt_masks"].to_ndarray().astype(bool)
    keep = [
        next(i for i, m in enumerate(masks) if np.array_equal(m, k)) for k in out["gt_masks"].to_ndarray().astype(bool)
    ]
    removed = sorted(set(range(5)) - set(keep))
    assert 1 <= out["masked_out"] <= len(removed) <= 4  # someone painted, not everyone (p_none = p_all = 0)
    assert np.allclose(out["gt_bboxes"].tensor, loaded["gt_bboxes"].tensor[keep])
    assert out["gt_bboxes_labels"].tolist() == [0] * len(keep) and len(out["gt_ignore_flags"]) == len(keep)
    black = (out["img"] == 0).all(-1)
    changed = (out["img"] != loaded["img"]).any(-1)
    assert black[changed].all() and not (changed & ~masks[removed].any(0)).any()
    assert sum(black[masks[i]].all() for i in removed) >= out["masked_out"]  # the painted: all black
    for i in removed:  # painted or covered by the paint for 70 percent or more
        assert (masks[i] & black).sum() >= 0.7 * masks[i].sum()
    for i in keep:  # kept people: at most 70 percent under the paint
        assert (masks[i] & changed).sum() < 0.7 * masks[i].sum()
    np.random.seed(seed)
    again = _pipeline(*LOAD, dict(type="MaskOutPeople", p_none=0.0, p_all=0.0))(dict(image))
    assert np.array_equal(again["img"], out["img"]) and len(again["gt_masks"]) == len(keep)


def test_crowds_are_never_painted_and_everyone_painted_leaves_an_empty_sample(coco_dir, tmp_path):
    image = load_instances(coco_dir / "test_coco.json", coco_dir)[1]  # 3 people
    image["instances"][0]["ignore_flag"] = 1
    out = _pipeline(*LOAD, dict(type="MaskOutPeople", p_none=0.0, p_all=1.0))(dict(image))
    assert out["masked_out"] == 2 and out["gt_ignore_flags"].tolist() == [True]
    steps = train_steps(PIPELINE, augment=False, mask_out=dict(p_none=0.0, p_all=1.0))
    image = load_instances(coco_dir / "test_coco.json", coco_dir)[1]
    sample = _pipeline(*steps)(dict(image))  # FilterAnnotations(keep_empty=False) keeps it
    assert sample["inputs"].shape == (3, 320, 320) and len(sample["data_samples"].gt_instances) == 0
    with pytest.raises(ValueError, match="p_none \\+ p_all <= 1"):
        MaskOutPeople(p_none=0.8, p_all=0.3)


def test_without_augmentation_the_inputs_are_the_inference_letterbox(coco_dir):
    """Inputs equal those of the model's test pipeline (resize to 320, pad 114); boxes are the GT
    times the scale factor."""
    images = load_instances(coco_dir / "test_coco.json", coco_dir)
    ds = DetTrainSet(images, PIPELINE, augment=False, mask_out=None)
    test = _pipeline(*mm_config(registry.get("rtmdet-ins-tiny")).test_pipeline[:3], dict(type="PackDetInputs"))
    assert [t["type"] for t in ds.steps] == [
        "LoadImageFromFile",
        "LoadAnnotations",
        "Resize",
        "FilterAnnotations",
        "Pad",
        "PackDetInputs",
    ]
    for i, im in enumerate(images):
        sample = ds[(i, 0)]
        scale = 320 / max(im["height"], im["width"])
        gt = sample["data_samples"].gt_instances
        assert np.allclose(gt.bboxes.tensor.numpy(), np.array([a["bbox"] for a in im["instances"]]) * scale, atol=1.0)
        assert sample["inputs"].shape == (3, 320, 320) and gt.masks.masks.shape[1:] == (320, 320)
        assert np.array_equal(sample["inputs"], test(dict(img_path=im["img_path"]))["inputs"])


def test_augmented_samples_are_seeded(coco_dir):
    images = load_instances(coco_dir / "test_coco.json", coco_dir)
    ds = DetTrainSet(images, PIPELINE, augment=True, mask_out=dict(p_none=0.25, p_all=0.05, covered=0.7))
    a, b, c = ds[(2, 11)], ds[(2, 11)], ds[(2, 12)]
    assert np.array_equal(a["inputs"], b["inputs"]) and not np.array_equal(a["inputs"], c["inputs"])
    assert np.array_equal(a["data_samples"].gt_instances.bboxes.tensor, b["data_samples"].gt_instances.bboxes.tensor)
