"""The stored layouts: equal to the skeletons for every registered model, and used without the model libraries."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from bmp_ray.models import layouts, registry


@pytest.mark.parametrize("name", registry.names())
def test_the_stored_layout_is_the_skeletons(name):
    """If this fails, an architecture changed (a config, the registry or a library version): run
    ``python -m bmp_ray.models.layouts`` and commit the files it writes."""
    from bmp_ray.models.build import skeleton

    spec = registry.get(name)
    found = layouts.stored(name)
    assert found is not None, f"no stored layout for {name} (or written for another architecture)"
    assert found == layouts.of_module(skeleton(name), spec.family)


def test_another_architecture_falls_back_to_the_skeleton(tmp_path):
    spec = registry.get("sam-tiny")
    other = dataclasses.replace(spec, arch=dataclasses.replace(spec.arch, depth=1))
    assert layouts.stored(other) is None  # written for depth 2
    assert "image_encoder.blocks.1.attn.qkv.weight" not in layouts.layout(other).keys
    assert "image_encoder.blocks.1.attn.qkv.weight" in layouts.layout(spec).keys
    (path,) = layouts.write(["maskpose-tiny"], tmp_path)
    doc = json.loads(path.read_text())  # one key a line, and valid JSON
    assert doc["num_keypoints"] == 21 and doc["keys"]["head.final_layer.weight"][0] == 21
    assert path.read_text() == (layouts.LAYOUT_DIR / path.name).read_text()


def test_check_checkpoint_imports_no_model_library(weights_dir):
    """The driver's pre-flight reads the stored layouts: mmdet, mmpose, mmcv and sam2 stay unimported."""
    code = (
        "import sys, pathlib\n"
        "from bmp_ray.models.build import check_checkpoint\n"
        f"w = pathlib.Path({str(weights_dir)!r})\n"
        "for name, f in [('rtmdet-ins-tiny', 'rtmdet-ins-tiny-mask.pth'), ('sam-tiny', 'sam_tiny.pth'),"
        " ('maskpose-tiny', 'MaskPose/MaskPose-tiny.pth'), ('sam2.1-tiny', 'sam2.1_tiny.pt')]:\n"
        "    check_checkpoint(name, w / f)\n"
        "print(sorted(m for m in ('mmdet', 'mmpose', 'mmcv', 'sam2', 'segment_anything') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
