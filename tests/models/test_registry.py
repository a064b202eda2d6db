import numpy as np
import pytest
import torch

from bmp_ray.errors import ConfigError
from bmp_ray.models import registry
from bmp_ray.models.build import load_model, mm_config, new_model
from bmp_ray.models.detector import Detector
from bmp_ray.models.pose import PoseEstimator
from bmp_ray.models.segmenter import build_segmenter


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown model 'maskpose-x'.*maskpose-b.*sam-vit-h"):
        registry.get("maskpose-x")
    with pytest.raises(ConfigError, match="'sam-vit-b' is a sam model.*pose models: maskpose-b"):
        registry.get("sam-vit-b", family="pose")


def test_every_test_variant_stands_in_for_a_full_model_of_its_family():
    for name in registry.names(test_variants=True):
        spec = registry.get(name)
        assert registry.get(spec.full).family == spec.family
        assert spec.conditioning == registry.get(spec.full).conditioning


def test_fine_tuning_starts_from_a_model_of_the_same_architecture():
    starts = {n: registry.get(n).starts_from for n in registry.names() if registry.get(n).starts_from}
    assert starts == {
        "rtmdet-ins-l-bmp": "rtmdet-ins-l",
        "maskpose-b": "vitpose-b-multi",
        "maskpose-tiny": "vitpose-tiny",
    }
    for name, start in starts.items():
        assert registry.get(start).arch == registry.get(name).arch


def test_detector_config_has_the_bmp_settings():
    cfg = mm_config(registry.get("rtmdet-ins-l-bmp"))
    t = cfg.model.test_cfg
    assert (t.score_thr, t.nms.iou_threshold, t.max_per_img, t.mask_thr_binary) == (0.05, 0.6, 40, 0.5)
    assert cfg.model.bbox_head.num_classes == 80 and cfg.model.bbox_head.type == "RTMDetInsSepBNHead"
    resize, pad = cfg.test_pipeline[1], cfg.test_pipeline[2]
    assert resize.scale == (640, 640) and resize.keep_ratio and pad.pad_val.img == (114, 114, 114)
    assert cfg.model.data_preprocessor.bgr_to_rgb is False


def test_pose_config_has_the_maskpose_settings():
    cfg = mm_config(registry.get("maskpose-b"))
    assert cfg.codec.input_size == (192, 256) and cfg.codec.heatmap_size == (48, 64)
    assert cfg.codec.sigma == 2 and cfg.codec.blur_kernel_size == 11 and cfg.bbox_padding == 1.25
    assert cfg.model.head.out_channels == 21 and cfg.model.head.deconv_out_channels == (256, 256)
    assert cfg.model.backbone.patch_cfg.padding == 2 and cfg.model.backbone.with_cls_token is False
    assert cfg.model.test_cfg.flip_test and not cfg.model.test_cfg.shift_heatmap
    assert cfg.model.data_preprocessor.mean == [123.675, 116.28, 103.53]


# published parameter counts (millions) of the official architectures
FULL_SIZES = {
    "rtmdet-ins-l-bmp": 57.4,
    "rtmdet-ins-l": 57.4,
    "maskpose-b": 90.0,
    "vitpose-b-multi": 90.0,
    "sam-vit-b": 93.7,
    "sam-vit-l": 312.3,
    "sam-vit-h": 641.1,
    "sam2.1-hiera-tiny": 38.9,
    "sam2.1-hiera-small": 46.0,
    "sam2.1-hiera-base-plus": 80.8,
    "sam2.1-hiera-large": 224.4,
}


def test_sam2_entries_are_metas_configs_and_files():
    """Each SAM 2.1 entry names the config and file sam2's own hub loader uses for its repository, and
    Meta's direct URL of that file."""
    from sam2.build_sam import HF_MODEL_ID_TO_FILENAMES

    names = [
        n for n in registry.names("sam", test_variants=False) if isinstance(registry.get(n).arch, registry.Sam2Arch)
    ]
    assert names == ["sam2.1-hiera-tiny", "sam2.1-hiera-small", "sam2.1-hiera-base-plus", "sam2.1-hiera-large"]
    for name in names:
        spec = registry.get(name)
        c = spec.checkpoint
        assert HF_MODEL_ID_TO_FILENAMES[c.hf_repo] == (spec.arch.config, c.filename)
        assert c.url == "https://dl.fbaipublicfiles.com/segment_anything_2/092824/" + c.filename
        assert spec.arch.overrides == ()
    tiny = registry.get("sam2.1-tiny")
    assert tiny.test_variant and tiny.arch.config == "configs/sam2.1/sam2.1_hiera_t.yaml" and tiny.arch.overrides


@pytest.mark.parametrize("name", registry.names(test_variants=False))
def test_full_size_architectures_build(name):
    n = sum(p.numel() for p in new_model(name).parameters()) / 1e6
    assert n == pytest.approx(FULL_SIZES[name], rel=0.01)


@pytest.mark.parametrize("name", registry.names(test_variants=True))
def test_every_test_variant_builds_from_its_synthesized_checkpoint_and_runs(name, weights_dir, coco_images):
    spec = registry.get(name)
    loaded = load_model(name, weights_dir)
    assert loaded.path == weights_dir / spec.checkpoint.filename
    assert not loaded.module.training
    sample = coco_images[1]
    if spec.family == "detector":
        (dets,) = Detector(name, weights_dir)([sample.rgb])
        assert len(dets) > 0 and dets.mask_array().shape == (len(dets), *sample.rgb.shape[:2])
    elif spec.family == "pose":
        (kpts,) = PoseEstimator(name, weights_dir)([sample.rgb], [sample.boxes])
        assert kpts.shape == (len(sample.boxes), 21, 3) and np.isfinite(kpts).all()
    else:
        sam = build_segmenter(name, weights_dir)
        (emb,) = sam.embed([sample.rgb])
        masks, ious = sam.segment(emb, [sample.keypoints[0, :3, :2]])
        assert masks.shape == (1, *sample.rgb.shape[:2]) and ious.shape == (1,)


def test_synthesized_weights_are_seeded(tmp_path):
    from bmp_ray.models.synth import synthesize

    a = synthesize(tmp_path / "a", ["vitpose-tiny"], seed=1)["vitpose-tiny"]
    b = synthesize(tmp_path / "b", ["vitpose-tiny"], seed=1)["vitpose-tiny"]
    c = synthesize(tmp_path / "c", ["vitpose-tiny"], seed=2)["vitpose-tiny"]
    sa, sb, sc = (torch.load(p, weights_only=True)["state_dict"] for p in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    sums = (tmp_path / "a" / "SHA256SUMS").read_text().split()
    assert sums[1] == "ViTPose-tiny.pth" and len(sums[0]) == 64
