import hashlib

import numpy as np
import pytest
import torch

from bmp_ray.errors import CheckpointError
from bmp_ray.models.weights import (
    CheckpointSource,
    check_layout,
    load_checkpoint,
    resolve,
    state_dict_of,
    verify,
)
from tests.models.hub_server import HubServer


def mm_checkpoint(path, model: torch.nn.Module, meta=None):
    """An MMEngine-layout checkpoint: {"meta": ..., "state_dict": ...}."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"meta": meta or {"epoch": 3, "dataset_meta": {"classes": ["person"]}}, "state_dict": model.state_dict()}, path
    )
    return path


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))


def test_local_file_and_official_folder_layout(tmp_path, model):
    f = mm_checkpoint(tmp_path / "repo" / "MaskPose" / "MaskPose-b-1.0.0.pth", model)
    src = CheckpointSource("MaskPose/MaskPose-b-1.0.0.pth", sha256=sha(f))
    assert resolve(src, f) == f
    assert resolve(src, tmp_path / "repo") == f
    flat = mm_checkpoint(tmp_path / "flat" / "MaskPose-b-1.0.0.pth", model)
    assert resolve(CheckpointSource("MaskPose/MaskPose-b-1.0.0.pth"), tmp_path / "flat") == flat
    with pytest.raises(CheckpointError, match="no MaskPose/MaskPose-b-1.0.0.pth .* in this weights folder"):
        resolve(src, tmp_path / "flat" / "..")
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        resolve(src, tmp_path / "nope.pth")


def test_wrong_checksum_names_file_expected_and_got(tmp_path, model):
    f = mm_checkpoint(tmp_path / "a.pth", model)
    with pytest.raises(CheckpointError) as e:
        verify(f, "0" * 64)
    msg = str(e.value)
    assert str(f) in msg and "0" * 64 in msg and sha(f) in msg and "delete it" in msg


def test_hub_download_cache_and_offline(tmp_path, model, monkeypatch):
    served = tmp_path / "hub"
    f = mm_checkpoint(served / "vrg-prague" / "BBoxMaskPose" / "MaskPose" / "MaskPose-b-1.0.0.pth", model)
    src = CheckpointSource("MaskPose/MaskPose-b-1.0.0.pth", hf_repo="vrg-prague/BBoxMaskPose", sha256=sha(f))
    cache = tmp_path / "hf-cache"
    with HubServer(served) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        path = resolve(src, cache=cache, offline=False)
        assert path.read_bytes() == f.read_bytes() and cache in path.parents
        assert any("/vrg-prague/BBoxMaskPose/resolve/main/MaskPose/MaskPose-b-1.0.0.pth" in r for r in hub.requests)
        n = len(hub.requests)
        assert resolve(src, cache=cache, offline=True) == path  # offline: from the cache
        assert len(hub.requests) == n  # ... without asking the hub
        with pytest.raises(CheckpointError, match="offline mode is on and it is not cached"):
            resolve(src, cache=tmp_path / "empty-cache", offline=True)
        bad = CheckpointSource(src.filename, hf_repo=src.hf_repo, sha256="f" * 64)
        with pytest.raises(CheckpointError, match="sha256"):
            resolve(bad, cache=cache, offline=False)


def test_url_download_cache_and_offline(tmp_path, model, monkeypatch):
    served = tmp_path / "srv"
    f = mm_checkpoint(served / "sam_vit_b_01ec64.pth", model)
    monkeypatch.setenv("BMP_RAY_CACHE", str(tmp_path / "cache"))
    with HubServer(served) as hub:
        src = CheckpointSource("sam_vit_b_01ec64.pth", url=f"{hub.url}/files/sam_vit_b_01ec64.pth", sha256=sha(f))
        path = resolve(src, offline=False)
        assert path.read_bytes() == f.read_bytes() and (tmp_path / "cache") in path.parents
        n = len(hub.requests)
        assert resolve(src, offline=True) == path and len(hub.requests) == n
        missing = CheckpointSource("x.pth", url=f"{hub.url}/files/x.pth")
        with pytest.raises(CheckpointError, match="download failed"):
            resolve(missing, offline=False)
        assert [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()] == [f.name]  # no partial file left
    with pytest.raises(CheckpointError, match="offline mode is on"):
        resolve(CheckpointSource("y.pth", url="http://127.0.0.1:9/y.pth"), offline=True)


def test_load_weights_only_with_numpy_meta(tmp_path, model):
    f = mm_checkpoint(
        tmp_path / "a.pth", model, meta={"epoch": np.int64(3), "lr": np.float32(0.1), "dtype": np.dtype("float32")}
    )
    ckpt = load_checkpoint(f)
    sd = state_dict_of(ckpt, f)
    assert set(sd) == set(model.state_dict())
    check_layout(sd, model, f, "test")


class Evil:
    """Any class: unpickling it would import and run code of the checkpoint's choosing."""


def test_unsafe_pickle_is_refused_with_the_type_named(tmp_path):
    f = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "meta": {"x": Evil()}}, f)
    with pytest.raises(CheckpointError, match="refusing to unpickle.*Evil"):
        load_checkpoint(f)


def test_truncated_and_not_a_checkpoint(tmp_path, model):
    f = mm_checkpoint(tmp_path / "a.pth", model)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or damaged"):
        load_checkpoint(cut)
    (tmp_path / "t.pth").write_text("hello")
    with pytest.raises(CheckpointError, match=r"t\.pth: not a readable torch checkpoint"):
        load_checkpoint(tmp_path / "t.pth")


def test_wrong_layout_lists_missing_unexpected_and_shapes(tmp_path, model):
    sd = dict(model.state_dict())
    sd.pop("1.weight")
    sd["head.extra"] = torch.zeros(1)
    sd["0.bias"] = torch.zeros(7)
    with pytest.raises(CheckpointError) as e:
        check_layout(sd, model, tmp_path / "x.pth", "MaskPose-B")
    msg = str(e.value)
    assert "not a MaskPose-B checkpoint" in msg and "missing keys: 1.weight" in msg
    assert "unexpected keys: head.extra" in msg and "0.bias (7,) != (4,)" in msg


def test_module_prefix_is_stripped_and_plain_state_dicts_load(tmp_path, model):
    f = tmp_path / "ddp.pth"
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, f)
    assert set(state_dict_of(load_checkpoint(f), f)) == set(model.state_dict())


def test_an_openmmlab_digest_prefix_is_checked(tmp_path, model):
    """OpenMMLab names files ``...-<first 8 sha256 digits>.pth``; the registry checks those digits."""
    f = mm_checkpoint(tmp_path / "a.pth", model)
    verify(f, sha(f)[:8])
    with pytest.raises(CheckpointError, match="damaged or not the official"):
        verify(f, "0" * 8)
    with pytest.raises(CheckpointError):  # too short to mean anything
        verify(f, sha(f)[:4])


def test_a_sha256sums_beside_the_file_is_checked(tmp_path, model):
    """``weights synth`` and ``train --export`` write ``SHA256SUMS``; a file changed after that is
    refused, a file it does not list (or no such file) is not checked."""
    from bmp_ray.models.weights import listed_sha256

    f = mm_checkpoint(tmp_path / "repo" / "MaskPose" / "MaskPose-b-1.0.0.pth", model)
    src = CheckpointSource("MaskPose/MaskPose-b-1.0.0.pth")
    assert resolve(src, tmp_path / "repo") == f  # no SHA256SUMS: nothing to check
    sums = tmp_path / "repo" / "SHA256SUMS"
    sums.write_text(f"{sha(f)}  MaskPose/MaskPose-b-1.0.0.pth\n{'0' * 64}  other.pth\n")
    assert listed_sha256(f) == (sums.resolve(), sha(f))
    assert resolve(src, tmp_path / "repo") == f
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"MaskPose-b-1.0.0.pth: sha256 [0-9a-f]{64} but .*SHA256SUMS lists"):
        resolve(src, tmp_path / "repo")
    sums.write_text(f"{'0' * 64}  other.pth\n")  # not listed: not checked
    assert resolve(src, tmp_path / "repo") == f


def test_the_url_when_the_hub_does_not_give_the_file(tmp_path, model, monkeypatch, caplog):
    """SAM 2.1's files are on the hub (facebook/...) and at Meta's URL: either serves."""
    served = tmp_path / "srv"
    f = mm_checkpoint(served / "sam2.1_hiera_tiny.pt", model)
    monkeypatch.setenv("BMP_RAY_CACHE", str(tmp_path / "cache"))
    with HubServer(served) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        src = CheckpointSource(
            "sam2.1_hiera_tiny.pt",
            hf_repo="facebook/sam2.1-hiera-tiny",
            sha256=sha(f),
            url=f"{hub.url}/files/sam2.1_hiera_tiny.pt",
        )
        path = resolve(src, cache=tmp_path / "hf", offline=False)  # not on the hub: the URL
        assert path.read_bytes() == f.read_bytes() and "urls" in path.parts
        assert "trying " + src.url in caplog.text
        assert resolve(src, cache=tmp_path / "hf", offline=True) == path  # the URL cache, offline
        gone = CheckpointSource("x.pt", hf_repo="facebook/x", url=f"{hub.url}/files/x.pt")
        with pytest.raises(CheckpointError, match=r"facebook/x/x.pt: download failed .*; and .*/files/x.pt: download"):
            resolve(gone, cache=tmp_path / "hf", offline=False)
