import pytest
import torch

from bmp_ray.models.build import new_model
from bmp_ray.train.optim import build_optimizer, lr_factor


def test_layer_decay_groups_follow_the_vit_depth():
    model = new_model("maskpose-tiny")  # 2 transformer layers
    opt = build_optimizer(model, lr=1e-3, weight_decay=0.1, layer_decay=0.5)
    by_name = {n: (g["lr"], g["weight_decay"]) for g in opt.param_groups for n in g["param_names"]}
    assert by_name["backbone.patch_embed.projection.weight"] == (pytest.approx(1e-3 * 0.5**3), 0.1)
    assert by_name["backbone.layers.0.attn.qkv.weight"] == (pytest.approx(1e-3 * 0.5**2), 0.1)
    assert by_name["backbone.layers.1.attn.qkv.weight"] == (pytest.approx(1e-3 * 0.5), 0.1)
    assert by_name["head.final_layer.weight"] == (pytest.approx(1e-3), 0.1)
    assert by_name["backbone.pos_embed"][1] == 0.0 and by_name["head.final_layer.bias"][1] == 0.0
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))


def test_schedule_warms_up_then_steps_at_milestones():
    assert lr_factor(0, 0, 500, (170, 200), 0.1) == pytest.approx(0.001)
    assert lr_factor(250, 0, 500, (170, 200), 0.1) == pytest.approx(0.5005)
    assert lr_factor(500, 169, 500, (170, 200), 0.1) == 1.0
    assert lr_factor(10**6, 170, 500, (170, 200), 0.1) == pytest.approx(0.1)
    assert lr_factor(10**6, 209, 500, (170, 200), 0.1) == pytest.approx(0.01)


def test_the_detector_gets_sgd_without_decay_on_norms_and_biases():
    model = new_model("rtmdet-ins-tiny")
    opt = build_optimizer(model, lr=0.02, weight_decay=1e-4, layer_decay=1.0, optimizer="sgd", momentum=0.9)
    assert isinstance(opt, torch.optim.SGD)
    names = dict(model.named_parameters())
    decay = {}
    for g in opt.param_groups:
        assert g["lr"] == 0.02 and g["momentum"] == 0.9
        for p in g["params"]:
            decay[next(n for n, q in names.items() if q is p)] = g["weight_decay"]
    assert len(decay) == len(names)
    assert decay["backbone.stem.0.conv.weight"] == 1e-4
    assert decay["backbone.stem.0.bn.weight"] == 0.0 and decay["bbox_head.rtm_cls.0.bias"] == 0.0
    with pytest.raises(ValueError, match="optimizer: expected 'adamw' or 'sgd', got 'adam'"):
        build_optimizer(model, 0.02, 1e-4, 1.0, optimizer="adam")
