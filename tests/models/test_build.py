import dataclasses
import shutil

import numpy as np
import pytest
import torch

from bmp_ray.cli import main
from bmp_ray.errors import CheckpointError, ConfigError
from bmp_ray.models import registry
from bmp_ray.models.build import load_model
from bmp_ray.models.detector import Detector
from bmp_ray.models.pose import PoseEstimator
from bmp_ray.models.segmenter import build_segmenter
from bmp_ray.models.weights import sha256_of
from tests.models.hub_server import HubServer


def test_test_variants_load_by_name_through_the_hub_path(weights_dir, tmp_path, monkeypatch, coco_images):
    served = tmp_path / "hub" / registry.TEST_HF_REPO
    shutil.copytree(weights_dir, served)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    with HubServer(tmp_path / "hub") as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        det = Detector("rtmdet-ins-tiny")
        assert (tmp_path / "hf-cache") in det.loaded.path.parents
        assert any("/bmp-ray/test-variants/resolve/main/rtmdet-ins-tiny-mask.pth" in r for r in hub.requests)
        pose = PoseEstimator("maskpose-tiny")
        assert pose.loaded.path.name == "MaskPose-tiny.pth"
        n = len(hub.requests)
        monkeypatch.setenv("BMP_RAY_OFFLINE", "1")
        again = PoseEstimator("maskpose-tiny")  # offline: from the cache, without asking the hub
        assert len(hub.requests) == n and again.loaded.path == pose.loaded.path
    s = coco_images[1]
    np.testing.assert_array_equal(det([s.rgb])[0].boxes, Detector("rtmdet-ins-tiny", weights_dir)([s.rgb])[0].boxes)


def test_wrong_checksum_names_the_file(weights_dir):
    spec = registry.get("sam-tiny")
    bad = dataclasses.replace(spec, checkpoint=dataclasses.replace(spec.checkpoint, sha256="0" * 64))
    with pytest.raises(CheckpointError, match=r"sam_tiny.pth: sha256 [0-9a-f]{64} but 0{64} was expected"):
        load_model(bad, weights_dir)
    good = dataclasses.replace(
        spec, checkpoint=dataclasses.replace(spec.checkpoint, sha256=sha256_of(weights_dir / "sam_tiny.pth"))
    )
    assert load_model(good, weights_dir).path.name == "sam_tiny.pth"


def test_truncated_checkpoint(weights_dir, tmp_path):
    cut = tmp_path / "sam_tiny.pth"
    cut.write_bytes((weights_dir / "sam_tiny.pth").read_bytes()[:100_000])
    with pytest.raises(CheckpointError, match="sam_tiny.pth: not a readable torch checkpoint"):
        load_model("sam-tiny", cut)


def test_wrong_layout_names_missing_unexpected_and_shapes(weights_dir):
    with pytest.raises(
        CheckpointError,
        match=r"not a rtmdet-ins-tiny \(detector\) checkpoint; missing keys: "
        r"backbone\..*unexpected keys: backbone\.layers",
    ):
        load_model("rtmdet-ins-tiny", weights_dir / "ViTPose-tiny.pth")
    with pytest.raises(CheckpointError, match=r"wrong shapes \(checkpoint != model\): backbone\.layers\.0"):
        load_model("vitpose-b-multi", weights_dir / "ViTPose-tiny.pth")


def test_official_vitpose_layout_with_class_token_loads(weights_dir, tmp_path):
    """Original ViTPose checkpoints keep a class-token position in pos_embed; mmpretrain's hook drops it."""
    ckpt = torch.load(weights_dir / "ViTPose-tiny.pth", weights_only=True)
    pe = ckpt["state_dict"]["backbone.pos_embed"]
    ckpt["state_dict"]["backbone.pos_embed"] = torch.cat([torch.zeros_like(pe[:, :1]), pe], dim=1)
    ckpt["state_dict"]["backbone.cls_token"] = torch.zeros(1, 1, pe.shape[-1])
    torch.save(ckpt, tmp_path / "v.pth")
    m = load_model("vitpose-tiny", tmp_path / "v.pth").module
    assert torch.equal(m.backbone.pos_embed, pe)


def test_pose_meta_with_the_wrong_keypoint_count_is_refused(weights_dir, tmp_path):
    ckpt = torch.load(weights_dir / "ViTPose-tiny.pth", weights_only=True)
    ckpt["meta"]["dataset_meta"] = {"num_keypoints": 17, "flip_indices": list(range(17))}
    torch.save(ckpt, tmp_path / "v.pth")
    with pytest.raises(CheckpointError, match="dataset_meta has 17 keypoints but the head predicts 21"):
        load_model("vitpose-tiny", tmp_path / "v.pth")


def test_device_precision_and_missing_weights_are_named(weights_dir, monkeypatch):
    with pytest.raises(ConfigError, match="device 'gpu' is not a torch device"):
        load_model("sam-tiny", weights_dir, device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="device 'cuda' requested but this machine has 0 CUDA"):
            load_model("sam-tiny", weights_dir, device="cuda")
    with pytest.raises(ConfigError, match="precision 'fp16' needs a CUDA device"):
        build_segmenter("sam-tiny", weights_dir, precision="fp16")
    with pytest.raises(ConfigError, match="precision 'int8': expected one of fp32, fp16, bf16"):
        build_segmenter("sam-tiny", weights_dir, precision="int8")
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    with pytest.raises(
        CheckpointError, match="test variant with random weights: write them with `bmp-ray weights synth"
    ):
        load_model("sam-tiny")
    with pytest.raises(CheckpointError, match="no such checkpoint file or weights folder"):
        load_model("sam-tiny", weights_dir / "nope")


def test_cli_synth_then_fetch(tmp_path, capsys):
    assert main(["weights", "synth", "--out", str(tmp_path), "--model", "sam-tiny"]) == 0
    assert (tmp_path / "sam_tiny.pth").is_file() and "sam_tiny.pth" in (tmp_path / "SHA256SUMS").read_text()
    assert main(["weights", "fetch", "sam-tiny", "--weights", str(tmp_path)]) == 0
    assert main(["weights", "fetch", "sam-x", "--weights", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert '"path": "' + str(tmp_path / "sam_tiny.pth") in out
    assert main(["weights", "list"]) == 0
    assert '"name": "maskpose-b"' in capsys.readouterr().out


@pytest.mark.parametrize("name", registry.names())
def test_skeleton_has_the_layout_of_the_built_model(name):
    """The meta-device architecture the pre-flight checks against equals the real one, key by key and
    shape by shape (the largest SAMs are compared by their size only, to keep this fast)."""
    from bmp_ray.models.build import new_model, skeleton

    sk = skeleton(name)
    assert all(t.is_meta for t in sk.state_dict().values())
    layout = {k: tuple(v.shape) for k, v in sk.state_dict().items()}
    if name in ("sam-vit-l", "sam-vit-h"):
        arch = registry.get(name).arch
        assert layout["image_encoder.patch_embed.proj.weight"] == (arch.embed_dim, 3, 16, 16)
        assert sum(k.endswith("attn.qkv.weight") for k in layout) == arch.depth
        return
    if name in ("sam2.1-hiera-small", "sam2.1-hiera-base-plus", "sam2.1-hiera-large"):
        # sam2's Hiera cannot be built on the meta device: its skeleton is a CPU build's layout
        widths = {"sam2.1-hiera-small": 96, "sam2.1-hiera-base-plus": 112, "sam2.1-hiera-large": 144}
        assert layout["image_encoder.trunk.patch_embed.proj.weight"] == (widths[name], 3, 7, 7)
        assert layout["sam_mask_decoder.conv_s0.weight"] == (32, 256, 1, 1)
        return
    assert layout == {k: tuple(v.shape) for k, v in new_model(name).state_dict().items()}


def test_sam2_checkpoints_are_in_metas_layout(weights_dir, tmp_path):
    """``{"model": state_dict}``, loaded with weights_only; a plain state dict or a wrong key is named."""
    from bmp_ray.models.build import check_checkpoint

    path = weights_dir / "sam2.1_tiny.pt"
    ckpt = torch.load(path, weights_only=True)
    assert list(ckpt) == ["model"] and all(isinstance(v, torch.Tensor) for v in ckpt["model"].values())
    check_checkpoint("sam2.1-tiny", path)
    assert load_model("sam2.1-tiny", path).path == path
    with pytest.raises(CheckpointError, match=r"expected Meta's SAM 2 layout \{'model': state_dict\}"):
        check_checkpoint("sam2.1-tiny", weights_dir / "sam_tiny.pth")
    sd = dict(ckpt["model"])
    sd.pop("no_mem_embed")
    torch.save({"model": sd}, tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match=r"not a sam2.1-tiny \(sam\) checkpoint; missing keys: no_mem_embed"):
        load_model("sam2.1-tiny", tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match=r"wrong shapes \(checkpoint != model\): image_encoder\."):
        check_checkpoint("sam2.1-hiera-tiny", path)


def test_check_checkpoint_makes_the_checks_of_load_model_without_loading(weights_dir, tmp_path):
    from bmp_ray.models.build import check_checkpoint

    check_checkpoint("sam-tiny", weights_dir / "sam_tiny.pth")  # a good file passes
    with pytest.raises(CheckpointError, match=r"not a rtmdet-ins-tiny \(detector\) checkpoint; missing keys"):
        check_checkpoint("rtmdet-ins-tiny", weights_dir / "ViTPose-tiny.pth")
    cut = tmp_path / "sam_tiny.pth"
    cut.write_bytes((weights_dir / "sam_tiny.pth").read_bytes()[:100_000])
    with pytest.raises(CheckpointError, match="sam_tiny.pth: not a readable torch checkpoint"):
        check_checkpoint("sam-tiny", cut)
    legacy = tmp_path / "legacy.pth"  # the pre-zip torch format cannot be mapped: read instead
    torch.save(
        torch.load(weights_dir / "sam_tiny.pth", weights_only=True), legacy, _use_new_zipfile_serialization=False
    )
    check_checkpoint("sam-tiny", legacy)
