"""bench gpu's stand-ins: mmcv.ops (nms over torchvision or plain torch) gives the detector exactly what
compiled mmcv gives; the torchvision stand-in's NMS and resize agree with torchvision's; the carried
wheels are unpacked onto the end of sys.path."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from bmp_ray.bench import gpu_env

ROOT = Path(__file__).resolve().parents[2]

# the tiny detector on real images: mmdet's raw output (every class) and bmp_ray's people, as JSON
DETECT = """
import json, sys
import cv2
from bmp_ray.bench import gpu_env
stand_in = gpu_env.install_stand_ins(force_mmcv_ops=sys.argv[1] == "1")["mmcv.ops"]
import mmcv.ops
from mmdet.apis import inference_detector
from mmengine.registry import DefaultScope
from bmp_ray.models.detector import Detector

det = Detector("rtmdet-ins-tiny", sys.argv[2], score_thr=0.05, nms_iou=0.5)
det.model.bbox_head.test_cfg["max_per_img"] = 100
out = {"stand_in": stand_in, "nms_module": mmcv.ops.nms.__module__, "images": []}
for path in sys.argv[3:]:
    bgr = cv2.imread(path)
    with DefaultScope.overwrite_default_scope("mmdet"):
        inst = inference_detector(det.model, bgr).pred_instances
    d = det([bgr[..., ::-1].copy()])[0]
    out["images"].append({"boxes": inst.bboxes.tolist(), "labels": inst.labels.tolist(),
                          "scores": inst.scores.tolist(), "masks": inst.masks.sum((1, 2)).tolist(),
                          "people": d.boxes.tolist(), "people_scores": d.scores.tolist(),
                          "people_masks": [m.decode("latin1") for m in d.masks]})
json.dump(out, sys.stdout)
"""


@pytest.fixture(scope="module")
def det_weights(tmp_path_factory):
    from bmp_ray.models.synth import synthesize

    out = tmp_path_factory.mktemp("w")
    synthesize(out, ["rtmdet-ins-tiny"])
    return out


def _detect(force: bool, weights: Path, images: list[Path]) -> dict:
    r = subprocess.run(
        [sys.executable, "-c", DETECT, "1" if force else "0", str(weights), *map(str, images)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


@pytest.mark.timeout(700)
def test_mmcv_ops_stand_in_gives_what_compiled_mmcv_gives(det_weights, shared_data):
    images = (
        sorted((shared_data / "images" / "coco").glob("*.jpg"))[:2]
        + sorted((shared_data / "images" / "ochuman").glob("*.jpg"))[:1]
    )
    real, stand_in = _detect(False, det_weights, images), _detect(True, det_weights, images)
    assert real["stand_in"] is None and real["nms_module"] == "mmcv.ops.nms"
    assert stand_in["stand_in"] == {"reason": "forced", "nms_kernel": "torchvision.ops.nms"}
    assert sum(len(i["boxes"]) for i in real["images"]) > 100  # random weights: many boxes reach NMS
    assert sum(len(i["people"]) for i in real["images"]) > 0
    # exactly equal, instance by instance: boxes, labels, scores, masks
    assert [_canonical(i) for i in stand_in["images"]] == [_canonical(i) for i in real["images"]]


def _canonical(image: dict) -> tuple:
    """Every instance (score, label, box, mask area) and person (score, box, mask) of one image, sorted:
    equal scores of random weights come in either order, from compiled mmcv itself too (test_detector)."""
    inst = sorted(zip(image["scores"], image["labels"], map(tuple, image["boxes"]), image["masks"]))
    people = sorted(zip(image["people_scores"], map(tuple, image["people"]), image["people_masks"]))
    return inst, people


def test_other_mmcv_ops_import_but_raise_when_used():
    code = (
        "from bmp_ray.bench import gpu_env; gpu_env.install_mmcv_ops(force=True)\n"
        "from mmcv.ops import RoIAlign, nms, batched_nms\nfrom mmcv.ops.carafe import CARAFEPack\n"
        "import torch\nclass Sub(RoIAlign): pass\n"
        "try:\n    RoIAlign(7)\nexcept NotImplementedError as e:\n    print('raised', e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "raised mmcv.ops.RoIAlign is not available" in r.stdout


def test_greedy_nms_is_torchvision_nms():
    import torchvision

    g = torch.Generator().manual_seed(0)
    for n, iou in ((0, 0.5), (1, 0.5), (300, 0.3), (300, 0.7)):
        xy = torch.rand(n, 2, generator=g) * 200
        boxes = torch.cat([xy, xy + 5 + torch.rand(n, 2, generator=g) * 60], 1)
        scores = torch.rand(n, generator=g)
        assert torch.equal(gpu_env.greedy_nms(boxes, scores, iou), torchvision.ops.nms(boxes, scores, iou))


def test_torchvision_stand_in_matches_torchvision():
    import torchvision
    from PIL import Image
    from torchvision.transforms.functional import resize, to_pil_image

    from bmp_ray.bench import gpu_tv

    mods = gpu_tv.build(gpu_env._StubModule, gpu_env.greedy_nms)
    f = mods["torchvision.transforms.functional"]
    img = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    assert np.array_equal(
        np.array(f.resize(f.to_pil_image(img), [24, 40])), np.array(resize(to_pil_image(img), [24, 40]))
    )
    assert isinstance(f.to_pil_image(img), Image.Image)
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10.0]])
    scores, idx = torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0, 0, 1])
    ops = mods["torchvision.ops"]
    assert torch.equal(ops.batched_nms(boxes, scores, idx, 0.5), torchvision.ops.batched_nms(boxes, scores, idx, 0.5))
    assert torch.allclose(ops.box_iou(boxes, boxes), torchvision.ops.box_iou(boxes, boxes))
    assert mods["torchvision.transforms.transforms"].InterpolationMode.BILINEAR.value == "bilinear"
    with pytest.raises(NotImplementedError, match="torchvision.transforms.RandomResizedCrop is not available"):
        mods["torchvision.transforms"].RandomResizedCrop(3)


def test_add_wheels_appends_an_unpacked_site(tmp_path, monkeypatch):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "carried_pkg-1.0-py3-none-any.whl", "w") as z:
        z.writestr("carried_pkg/__init__.py", "VALUE = 7\n")
        z.writestr("carried_pkg-1.0.dist-info/METADATA", "Name: carried-pkg\nVersion: 1.0\n")
    monkeypatch.setattr(sys, "path", list(sys.path))
    got = gpu_env.add_wheels(wheels, tmp_path / "site")
    assert got["wheels"] == ["carried_pkg-1.0-py3-none-any.whl"] and sys.path[-1] == str(tmp_path / "site")
    import carried_pkg

    assert carried_pkg.VALUE == 7
    monkeypatch.delitem(sys.modules, "carried_pkg")
    with pytest.raises(FileNotFoundError, match=r"expected \*.whl files"):
        gpu_env.add_wheels(tmp_path / "site" / "carried_pkg")
