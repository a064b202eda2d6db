"""``bmp-ray maskout-preview``: the picture of mask-out training samples."""

import json

import cv2
import pytest

from bmp_ray.cli import main
from bmp_ray.train.preview import maskout_preview


def test_the_picture_has_a_row_per_image_and_a_tile_per_draw(shared_data, tmp_path):
    och = shared_data / "images" / "ochuman"
    out = maskout_preview(
        och / "test_ochuman.json", och, tmp_path / "p.png", draws=2, seed=1, width=600, p_none=0.0, p_all=1.0
    )  # every person painted in every draw
    img = cv2.imread(str(out))
    assert img.shape[1] == 600 and img.shape[0] > 100
    dark = (img.max(-1) == 0).mean()
    assert dark > 0.02  # the painted people
    with pytest.raises(ValueError, match="p.txt: expected a .jpg or .png path"):
        maskout_preview(och / "test_ochuman.json", och, tmp_path / "p.txt", draws=1)


def test_cli(shared_data, tmp_path, capsys):
    coco = shared_data / "images" / "coco"
    assert (
        main(
            [
                "maskout-preview",
                str(coco / "test_coco.json"),
                str(coco),
                "--out",
                str(tmp_path / "c.jpg"),
                "--draws",
                "1",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["out"] == str(tmp_path / "c.jpg")
    assert cv2.imread(str(tmp_path / "c.jpg")).shape[1] == 1200
