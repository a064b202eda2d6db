import numpy as np
import pytest

from bmp_ray.bench import host_masks


def test_people_masks_are_the_shared_sets_people_cut_to_their_boxes(shared_data):
    shapes = host_masks.people_masks(shared_data)
    assert len(shapes) == 19  # 14 COCO people and 5 OCHuman people, every one with a mask
    for m in shapes:
        assert m.dtype == bool and m.ndim == 2
        assert m[0].any() and m[-1].any() and m[:, 0].any() and m[:, -1].any()  # tight: the mask's box


def test_people_masks_name_a_folder_without_people(tmp_path):
    for subset in ("coco", "ochuman"):
        (tmp_path / "images" / subset).mkdir(parents=True)
        (tmp_path / "images" / subset / f"test_{subset}.json").write_text('{"images": [], "annotations": []}')
    with pytest.raises(ValueError, match="no person masks in .*images"):
        host_masks.people_masks(tmp_path)


def test_scene_places_people_of_street_heights_inside_the_working_frame():
    shapes = [np.ones((40, 20), bool), np.tri(30, 30, dtype=bool)]
    a = host_masks.scene(shapes, np.random.default_rng(1), 12)
    b = host_masks.scene(shapes, np.random.default_rng(1), 12)
    h, w = host_masks.WORKING
    assert len(a) == 12
    for (win, m), (win_b, m_b) in zip(a, b):
        y0, y1, x0, x1 = win
        assert 0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w and m.shape == (y1 - y0, x1 - x0)
        assert host_masks.HEIGHTS[0] <= y1 - y0 < host_masks.HEIGHTS[1]
        assert m.dtype == bool and m.any()
        assert win == win_b and np.array_equal(m, m_b)  # seeded


def test_measure_times_the_loops_mask_steps_on_people(shared_data):
    out = host_masks.measure(shared_data, frames=1, people=6, repeats=1)
    assert out["people_per_frame"] == 6 and out["frames"] == 1
    labels = out["host_ms_by_detail"]
    for want in (
        "post-processing: BMP exclusive masks",
        "post-processing: BMP erase map",
        "RLE: masks.to_runs (window masks between stages)",
        "RLE: masks.from_runs (window masks between stages)",
        "RLE: masks.resize_windows (refined masks to the video's pixels)",
        "serialisation: part writer (Arrow IPC, write)",
    ):
        assert labels[want] > 0, want
    # people, not speckle over the frame: windows of a person's size, a few changes per row
    assert out["window_px_mean"] < 250 * 250 and out["row_changes_mean"] < 2000
    with pytest.raises(ValueError, match="people and repeats must be >= 1, got 1, 0, 1"):
        host_masks.measure(shared_data, frames=1, people=0, repeats=1)


def test_swap_takes_the_labels_measured_on_people():
    out = host_masks.swap({"a": 5.0, "b": 3.0, "c": 1.0}, {"a": 1.0, "b": 0.5, "d": 0.25})
    assert out["labels"] == ["a", "b", "d"]
    assert out["bench_ms"] == 8.0 and out["people_ms"] == 1.75  # "d": absent from the bench, 0 there
    assert out["by_label"]["d"] == {"bench": 0.0, "people": 0.25}
