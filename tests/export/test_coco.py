"""COCO export: ground truth through `bmp-ray export --gt` scores AP 1, a run's export loads with loadRes."""

import contextlib
import dataclasses
import io
import json

import pytest
from pycocotools.coco import COCO

from bmp_ray.cli import main
from bmp_ray.export import output_name, write_manifest, write_results
from bmp_ray.export.coco import CATEGORY, file_name, load_images, mapping_path
from bmp_ray.export.coco_eval import ground_truth_results, load_ground_truth
from bmp_ray.export.read import read_results
from tests.export.runs import FRAMES, IMAGE, VIDEO


def _last_json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _ground_truth_folder(gt_file, out):
    """The ground truth written as an output folder: one image input per COCO image, named like it."""
    gt = load_ground_truth(gt_file)
    results, ids = ground_truth_results(gt)
    rows = []
    for r, image_id in zip(results, ids):
        name = gt.loadImgs(image_id)[0]["file_name"]
        write_results(str(out), output_name(name), [dataclasses.replace(r, video_id=name)])
        rows.append({"video_id": name, "path": str(gt_file.parent / name), "status": "ok"})
    write_manifest(str(out), rows)
    return gt


@pytest.mark.parametrize("subset", ["coco", "ochuman"])
def test_ground_truth_scores_ap_one_through_export_gt(subset, shared_data, tmp_path, capsys):
    gt_file = shared_data / "images" / subset / f"test_{subset}.json"
    gt = _ground_truth_folder(gt_file, tmp_path / "out")
    rc = main(
        ["export", str(tmp_path / "out"), "--format", "coco", "--out", str(tmp_path / "res.json"), "--gt", str(gt_file)]
    )
    s = _last_json(capsys)
    assert rc == 0 and s["left_out"] == 0 and s["gt_images_missing"] == 0
    assert s["frames"] == len(gt.getImgIds()) and s["people"] == len(gt.getAnnIds())
    for iou_type in ("bbox", "segm", "keypoints"):
        assert s[iou_type] == pytest.approx(1.0), iou_type
    entries = json.loads((tmp_path / "res.json").read_text())
    assert {e["image_id"] for e in entries} <= set(gt.getImgIds()) and len(entries) == s["people"]


def test_dropping_people_lowers_the_ap(shared_data, tmp_path, capsys):
    gt_file = shared_data / "images" / "coco" / "test_coco.json"
    gt = _ground_truth_folder(gt_file, tmp_path / "out")
    busiest = max(gt.getImgIds(), key=lambda i: len(gt.getAnnIds(imgIds=i)))
    first = gt.loadImgs(busiest)[0]["file_name"]
    (video,) = read_results(str(tmp_path / "out"), [first])
    (r,) = video.frames()
    write_results(str(tmp_path / "out"), output_name(first), [r[:1]])
    main(["export", str(tmp_path / "out"), "--format", "coco", "--out", str(tmp_path / "r.json"), "--gt", str(gt_file)])
    s = _last_json(capsys)
    assert s["bbox"] < 0.99 and s["segm"] < 0.99


def test_a_run_exports_to_what_pycocotools_loads(small_run, tmp_path, capsys):
    path = tmp_path / "results.json"
    assert main(["export", str(small_run), "--format", "coco", "--out", str(path)]) == 0
    s = _last_json(capsys)
    assert s["images"] == str(tmp_path / "results.images.json") == mapping_path(str(path))
    with contextlib.redirect_stdout(io.StringIO()):
        images = COCO(s["images"])  # plain pycocotools, from the file
        res = images.loadRes(str(path))
    names = {im["file_name"] for im in images.dataset["images"]}
    assert names == {IMAGE} | {f"{VIDEO}/{i:06d}.jpg" for i in FRAMES}
    assert len(res.getAnnIds()) == s["people"] > 0 and s["frames"] == len(FRAMES) + 1
    ann = res.loadAnns(res.getAnnIds())[0]
    assert len(ann["keypoints"]) == 51 and ann["category_id"] == 1 and len(ann["bbox"]) == 4
    assert res.annToMask(ann).shape == (images.imgs[ann["image_id"]]["height"], images.imgs[ann["image_id"]]["width"])
    assert images.loadCats(1)[0] == CATEGORY and len(CATEGORY["keypoints"]) == 17
    assert load_images(s["images"]).getImgIds() == images.getImgIds()


def test_file_names_of_images_and_frames():
    assert file_name("a/b.jpg", "/x/a/b.jpg", 0) == "a/b.jpg"
    assert file_name("a/v.mp4", "/x/a/v.mp4", 12) == "a/v.mp4/000012.jpg"


def test_bad_ground_truth_is_one_line_and_exit_2(small_run, shared_data, tmp_path, capsys, caplog):
    out = str(tmp_path / "r.json")
    assert main(["export", str(small_run), "--format", "coco", "--out", out, "--gt", str(tmp_path / "no.json")]) == 2
    assert "--gt" in caplog.text and "not found" in caplog.text
    caplog.clear()
    gt_file = shared_data / "images" / "ochuman" / "test_ochuman.json"  # none of the run's inputs is in it
    (tmp_path / "r.json").write_text("an earlier export")
    assert main(["export", str(small_run), "--format", "coco", "--out", out, "--gt", str(gt_file)]) == 2
    assert "none of the output's" in caplog.text and len(caplog.records) == 1
    assert (tmp_path / "r.json").read_text() == "an earlier export"  # not replaced by an empty one
    assert main(["export", str(small_run), "--format", "posetrack", "--out", out, "--gt", str(gt_file)]) == 2
