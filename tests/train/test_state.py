import pytest
import torch

from bmp_ray.errors import CheckpointError
from bmp_ray.models.build import load_model, new_model
from bmp_ray.models.weights import sha256_of
from bmp_ray.train import state
from bmp_ray.train.optim import build_optimizer


def test_save_restore_and_export_in_the_official_layout(tmp_path):
    torch.manual_seed(0)
    model = new_model("maskpose-tiny")
    opt = build_optimizer(model, 1e-3, 0.1, 0.75)
    model(torch.zeros(1, 3, 256, 192), None, mode="tensor").sum().backward()
    opt.step()
    state.save(tmp_path / "ckpt", model, opt, model_name="maskpose-tiny", epoch=3, step=30, run={"run": "r"})
    raw = torch.load(tmp_path / "ckpt" / state.MODEL_FILE, weights_only=True)
    assert set(raw) == {"meta", "state_dict"} and raw["meta"]["dataset_meta"]["dataset_name"] == "bmp_21kpt"
    assert raw["meta"]["bmp_ray_train"] == {"model": "maskpose-tiny", "epoch": 3, "step": 30, "run": "r"}

    other = new_model("maskpose-tiny")
    other_opt = build_optimizer(other, 1e-3, 0.1, 0.75)
    assert state.restore(tmp_path / "ckpt", other, other_opt) == (3, 30)
    for (k, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        assert torch.equal(a, b), k
    assert other_opt.state_dict()["state"].keys() == opt.state_dict()["state"].keys()

    dest = state.export(tmp_path / "ckpt", tmp_path / "weights")
    assert dest == tmp_path / "weights" / "MaskPose" / "MaskPose-tiny.pth"
    assert f"{sha256_of(dest)}  MaskPose/MaskPose-tiny.pth" in (tmp_path / "weights" / "SHA256SUMS").read_text()
    loaded = load_model("maskpose-tiny", tmp_path / "weights")  # the inference loader, weights_only
    key = "head.final_layer.weight"
    assert torch.equal(loaded.module.state_dict()[key], model.state_dict()[key])


def test_a_foreign_folder_is_not_resumed(tmp_path):
    model = new_model("maskpose-tiny")
    with pytest.raises(CheckpointError, match="model.pth is missing; it was not written by bmp-ray train"):
        state.restore(tmp_path, model, build_optimizer(model, 1e-3, 0.1, 0.75))
