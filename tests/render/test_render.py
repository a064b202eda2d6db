"""Rendering a run: the MP4's frames, size and rate; masks drawn where people are, nothing elsewhere."""

import av
import cv2
import numpy as np
import pytest

from bmp_ray.cli import main
from bmp_ray.export import output_name
from bmp_ray.export.read import read_results, read_run, run_sampling
from bmp_ray.video.decode import FrameReader
from tests.export.runs import FPS, FRAMES, IMAGE, SIZE, VIDEO, drawn_copy


def _originals(small_run):
    (video,) = read_results(str(small_run), [VIDEO])
    reader = FrameReader(video.row["path"], sampling=run_sampling(read_run(str(small_run))))
    frames = np.concatenate([b.frames.copy() for b in reader])
    return frames, list(video.frames())


def _near_people(r, margin=40, threshold=0.3):
    """(H, W) bool: every pixel within ``margin`` of a person's mask, box, label or drawn keypoints."""
    union = r.mask_array().any(0).astype(np.uint8)
    near = cv2.dilate(union, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)) > 0
    for (x1, y1, x2, y2), k in zip(r.boxes, r.keypoints):
        drawn = k[k[:, 2] >= threshold, :2]
        xs = np.concatenate([[x1, x2, x1 + 160], drawn[:, 0]])  # the label starts at the box's left, above it
        ys = np.concatenate([[y1 - 30, y2], drawn[:, 1]])
        lo_x, hi_x = int(max(xs.min() - margin, 0)), int(min(xs.max() + margin, r.width))
        lo_y, hi_y = int(max(ys.min() - margin, 0)), int(min(ys.max() + margin, r.height))
        near[lo_y:hi_y, lo_x:hi_x] = True
    return near


def _render(out, dest, *argv):
    assert main(["render", str(out), "--video", VIDEO, "--out", str(dest), *argv]) == 0
    path = dest / f"{output_name(VIDEO)}.mp4"
    assert path.is_file() and not list(dest.glob(".*tmp"))
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        drawn = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(s)])
        assert s.codec_context.name == "h264" and float(s.average_rate) == FPS
    originals, results = _originals(out)
    assert drawn.shape == (len(FRAMES), SIZE[1], SIZE[0], 3) == originals.shape
    return np.abs(drawn.astype(np.int16) - originals.astype(np.int16)).sum(-1), results  # (F, H, W) L1 over RGB


def _masks_changed(diff, results, erode=9):
    checked = 0
    for i, r in enumerate(results):
        for m in r.mask_array():
            inner = cv2.erode(m.astype(np.uint8), np.ones((erode, erode), np.uint8)) > 0
            if inner.sum() > 200:
                assert np.median(diff[i][inner]) > 30, f"frame {r.frame_index}: a mask was not drawn"
                checked += 1
    assert checked, "no mask big enough to check"


def test_render_one_video_of_a_run(small_run, tmp_path):
    """The run as the test weights leave it: masks are speckle over much of the frame, so the pixels of
    all masks together are compared with the pixels of none."""
    diff, results = _render(small_run, tmp_path)
    assert all(len(r) for r in results)
    for i, r in enumerate(results):
        union = r.mask_array().any(0).astype(np.uint8)
        inside = cv2.erode(union, np.ones((3, 3), np.uint8)) > 0
        outside = cv2.dilate(union, np.ones((3, 3), np.uint8)) == 0
        assert inside.sum() > 10_000 and outside.sum() > 10_000
        assert np.median(diff[i][inside]) > max(30, 3 * np.median(diff[i][outside]))


def test_drawn_where_people_are_and_nowhere_else(small_run, tmp_path):
    out = drawn_copy(small_run, tmp_path / "drawn")
    diff, results = _render(out, tmp_path / "render")
    _masks_changed(diff, results)
    for i, r in enumerate(results):
        far = ~_near_people(r)
        assert far.sum() > 300_000
        assert np.median(diff[i][far]) <= 8 and np.percentile(diff[i][far], 99) < 48  # codec noise only
        k = r.keypoints[0, 10, :2].astype(int)  # a keypoint dot (white) outside the masks? inside the box
        assert diff[i][k[1], k[0]] > 30


def test_frames_side_by_side_are_pngs_with_the_original_on_the_left(small_run, tmp_path):
    assert main(["render", str(small_run), "--out", str(tmp_path), "--frames", "--side-by-side"]) == 0
    pngs = sorted((tmp_path / output_name(VIDEO)).glob("*.png"))
    assert [p.name for p in pngs] == [f"{i:08d}.png" for i in FRAMES]
    originals, _ = _originals(small_run)
    for png, original in zip(pngs, originals):
        img = cv2.imread(str(png))[..., ::-1]
        assert img.shape == (SIZE[1], 2 * SIZE[0], 3)
        assert np.array_equal(img[:, : SIZE[0]], original)  # PNG is lossless
        assert not np.array_equal(img[:, SIZE[0] :], original)
    assert [p.name for p in (tmp_path / output_name(IMAGE)).glob("*.png")] == ["00000000.png"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--video", "nope.mp4"], "holds no video 'nope.mp4'"),
        (["--out", "s3://bucket/x"], "expected a local folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(small_run, tmp_path, caplog, argv, message):
    out = [] if "--out" in argv else ["--out", str(tmp_path)]
    assert main(["render", str(small_run), *out, *argv]) == 2
    assert message in caplog.text and len(caplog.records) == 1


def test_not_an_output_folder_exits_2(tmp_path, caplog):
    assert main(["render", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "is not a bmp_ray output folder" in caplog.text


def _with_path(out, dest, path):
    """A copy of ``out`` whose video marker points at ``path``."""
    import json
    import shutil

    shutil.copytree(out, dest)
    (marker,) = [p for p in (dest / "_videos").glob("*.json") if VIDEO in p.name]
    data = json.loads(marker.read_text())
    data["row"]["path"] = str(path)
    marker.write_text(json.dumps(data))
    return dest


def test_a_moved_or_replaced_input_fails_that_video_with_exit_1(small_run, shared_data, tmp_path, capsys):
    import json

    moved = _with_path(small_run, tmp_path / "moved", tmp_path / "gone.mp4")
    assert main(["render", str(moved), "--video", VIDEO, "--out", str(tmp_path / "r")]) == 1
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["ok"] is False and "cannot decode it again" in line["error"]
    other = _with_path(small_run, tmp_path / "other", shared_data / "videos" / "mmpose_demo.mp4")
    assert main(["render", str(other), "--video", VIDEO, "--out", str(tmp_path / "r")]) == 1
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "decoded 960x540, the results are for 1280x720" in line["error"]
    assert not list((tmp_path / "r").glob("*.mp4")) and not list((tmp_path / "r").glob(".*"))
