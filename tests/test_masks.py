import cv2
import numpy as np
import pytest
from pycocotools import mask as coco

from bmp_ray import masks


def test_encode_decode_round_trip_and_bbox_match_pycocotools():
    rng = np.random.default_rng(0)
    m = rng.random((3, 13, 7)) > 0.6
    m[2] = False
    counts = masks.encode(m)
    np.testing.assert_array_equal(masks.decode(counts, 13, 7), m)
    ref = coco.toBbox(coco.encode(np.asfortranarray(m[0].astype(np.uint8))))
    np.testing.assert_allclose(masks.to_bbox(counts, 13, 7)[0], [ref[0], ref[1], ref[0] + ref[2], ref[1] + ref[3]])


def test_empty_inputs_and_single_mask():
    assert masks.encode(np.zeros((0, 4, 5), bool)) == []
    assert masks.decode([], 4, 5).shape == (0, 4, 5)
    assert masks.to_bbox([], 4, 5).shape == (0, 4)
    assert len(masks.encode(np.ones((4, 5), bool))) == 1
    assert masks.encode_windows([], [], 4, 5) == []


def _full(window_mask, window, h, w):
    y0, y1, x0, x1 = window
    full = np.zeros((h, w), bool)
    full[y0:y1, x0:x1] = window_mask
    return full


def _windows(rng, h, w):
    """Random windows, and the edge cases: whole frame, full rows / columns, 1-pixel, empty, corners."""
    out = [
        (0, h, 0, w),
        (0, h, 2, 3),
        (1, 2, 0, w),
        (0, 1, 0, 1),
        (h - 1, h, w - 1, w),
        (0, 0, 0, w),
        (2, 2, 1, 1),
        (0, h, 0, 1),
        (0, h, w - 1, w),
        (0, 3, w - 2, w),
        (h - 3, h, 0, 2),
    ]
    out = [(y0, y1, x0, x1) for y0, y1, x0, x1 in out if 0 <= y0 <= y1 <= h and 0 <= x0 <= x1 <= w]
    for _ in range(60):
        y0, y1 = np.sort(rng.integers(0, h + 1, 2))
        x0, x1 = np.sort(rng.integers(0, w + 1, 2))
        out.append((int(y0), int(y1), int(x0), int(x1)))
    return out


@pytest.mark.parametrize("h, w", [(13, 7), (1, 9), (8, 1), (1, 1), (31, 40)])
def test_encode_window_is_bit_identical_to_the_full_frame_encoding(h, w):
    rng = np.random.default_rng(h * 100 + w)
    for window in _windows(rng, h, w):
        y0, y1, x0, x1 = window
        shape = (y1 - y0, x1 - x0)
        for m in (rng.random(shape) > 0.5, np.ones(shape, bool), np.zeros(shape, bool), rng.random(shape) > 0.9):
            ref = coco.encode(np.asfortranarray(_full(m, window, h, w).astype(np.uint8)))["counts"]
            assert masks.encode_window(m, window, h, w) == ref, (window, m.astype(int))
            assert masks.encode_window(m.astype(np.uint8) * 7, window, h, w) == ref  # non-zero is inside
    ws = _windows(rng, h, w)[:12]
    ms = [rng.random((y1 - y0, x1 - x0)) > 0.4 for (y0, y1, x0, x1) in ws]
    assert masks.encode_windows(ms, ws, h, w) == masks.encode(np.stack([_full(m, wi, h, w) for m, wi in zip(ms, ws)]))


def test_encode_window_of_columns_that_join_across_the_frame_height():
    # full-height window: a column ending inside and the next starting inside is one run, not two
    m = np.zeros((5, 3), bool)
    m[3:, 0] = m[:, 1] = m[:2, 2] = True
    ref = coco.encode(np.asfortranarray(_full(m, (0, 5, 1, 4), 5, 6).astype(np.uint8)))["counts"]
    assert masks.encode_window(m, (0, 5, 1, 4), 5, 6) == ref
    assert masks.window_changes(m, (0, 5, 1, 4), 5, 6).tolist() == [5 + 3, 5 * 3 + 2]


def test_encode_window_at_1080p_random_blobs():
    rng = np.random.default_rng(1)
    h, w = 1080, 1920
    for window in [(300, 1000, 800, 1100), (0, 1080, 0, 1920), (0, 1080, 1500, 1920), (700, 1080, 0, 10)]:
        y0, y1, x0, x1 = window
        small = rng.random(((y1 - y0) // 20 + 1, (x1 - x0) // 20 + 1)) > 0.5
        m = np.kron(small, np.ones((20, 20), bool))[: y1 - y0, : x1 - x0]
        ref = coco.encode(np.asfortranarray(_full(m, window, h, w).astype(np.uint8)))["counts"]
        assert masks.encode_window(m, window, h, w) == ref


def test_from_changes_and_bad_windows_are_named():
    ref = coco.encode(np.asfortranarray(np.eye(4, dtype=np.uint8)))["counts"]
    assert masks.from_changes([0, 1, 5, 6, 10, 11, 15], 4, 4) == ref
    assert masks.from_changes([], 4, 4) == coco.encode(np.zeros((4, 4), np.uint8, order="F"))["counts"]
    with pytest.raises(ValueError, match=r"expected increasing positions in \[0, 16\)"):
        masks.from_changes([3, 3], 4, 4)
    with pytest.raises(ValueError, match=r"expected increasing positions in \[0, 16\)"):
        masks.from_changes([16], 4, 4)
    with pytest.raises(ValueError, match=r"window: expected \(y0, y1, x0, x1\) inside a 4x5 frame, got \(0, 5, 0, 1\)"):
        masks.encode_window(np.zeros((5, 1), bool), (0, 5, 0, 1), 4, 5)
    with pytest.raises(ValueError, match=r"window mask: expected shape \(2, 1\) for window \(0, 2, 0, 1\), got \(1, 2"):
        masks.encode_window(np.zeros((1, 2), bool), (0, 2, 0, 1), 4, 5)
    with pytest.raises(ValueError, match="expected one window per mask, got 1 masks and 0 windows"):
        masks.encode_windows([np.zeros((1, 1), bool)], [], 4, 5)


def test_from_segmentation_reads_polygons_and_both_rle_forms_as_pycocotools_does():
    h, w = 40, 50
    poly = [[5, 5, 30, 5, 30, 25, 5, 25], [35, 30, 45, 30, 45, 38]]
    ref = coco.decode(coco.merge(coco.frPyObjects(poly, h, w))).astype(bool)
    m = masks.from_segmentation(poly, h, w)
    assert m.dtype == bool and m.shape == (h, w) and np.array_equal(m, ref) and m.sum() > 400
    compressed = coco.encode(np.asfortranarray(ref.astype(np.uint8)))
    as_text = {"size": compressed["size"], "counts": compressed["counts"].decode()}  # as in a json file
    assert np.array_equal(masks.from_segmentation(as_text, h, w), ref)
    flat = ref.T.reshape(-1)  # uncompressed RLE: column-major run lengths starting with zeros
    change = np.flatnonzero(np.diff(np.r_[0, flat.astype(int), 2 if flat[-1] == 0 else -1]))
    runs = np.diff(np.r_[0, change]).tolist()
    assert np.array_equal(masks.from_segmentation({"size": [h, w], "counts": runs}, h, w), ref)


def test_resize_from_the_window_equals_resizing_the_frame():
    """Nearest neighbour at pixel centres, from the mask's window; cv2's exact nearest where no target
    pixel centre falls on a source pixel edge (integer factors)."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(4, 60, 2))
        big_h, big_w = (int(v) for v in rng.integers(2, 150, 2))
        m = np.zeros((h, w), bool)
        y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        m[y0 : y0 + int(rng.integers(1, 15)), x0 : x0 + int(rng.integers(1, 15))] = True
        m &= rng.random((h, w)) > 0.2
        (c,) = masks.encode(m[None])
        rows = np.floor((np.arange(big_h) + 0.5) * h / big_h).astype(int)
        cols = np.floor((np.arange(big_w) + 0.5) * w / big_w).astype(int)
        got = masks.decode([masks.resize(c, h, w, big_h, big_w)], big_h, big_w)[0]
        assert np.array_equal(got, m[rows][:, cols])
    m = np.zeros((27, 32), np.uint8)
    m[3:20, 5:9] = 1
    m[21, 30] = 1
    (c,) = masks.encode(m[None].astype(bool))
    for fy, fx in ((2, 2), (3, 2), (1, 4)):
        ref = cv2.resize(m, (32 * fx, 27 * fy), interpolation=cv2.INTER_NEAREST_EXACT)
        assert np.array_equal(masks.decode([masks.resize(c, 27, 32, 27 * fy, 32 * fx)], 27 * fy, 32 * fx)[0], ref)
    assert masks.resize(b"", 4, 4, 8, 8) == b""
    (empty,) = masks.encode(np.zeros((1, 4, 4), bool))
    assert masks.resize(empty, 4, 4, 8, 6) == masks.encode(np.zeros((1, 8, 6), bool))[0]


def test_resize_of_runs_across_columns_equals_resizing_the_frame():
    """Masks whose runs go on from one column into the next (full columns, the whole frame, a frame
    less one pixel) and noisy ones, up and down, against the full frame resized and encoded."""
    rng = np.random.default_rng(5)
    for t in range(800):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        nh, nw = (int(v) for v in rng.integers(1, 90, 2))
        m = np.zeros((h, w), bool)
        if t % 4 == 0:
            m = rng.random((h, w)) > 0.5
        elif t % 4 == 1:
            m[:] = True
            m[rng.integers(0, h), rng.integers(0, w)] = t % 8 == 1
        elif t % 4 == 2:
            m[:, rng.integers(0, w) :] = True
            m[: rng.integers(0, h + 1)] ^= True
        else:
            m[rng.integers(0, h) :] = True
        (c,) = masks.encode(m[None])
        rows, cols = masks.nearest_sources(h, nh), masks.nearest_sources(w, nw)
        assert masks.resize(c, h, w, nh, nw) == masks.encode(m[rows][:, cols][None])[0], (t, h, w, nh, nw)


@pytest.fixture(params=[1, 7, None], ids=["pass-per-mask", "passes-of-7-pieces", "default-passes"])
def pieces_per_pass(request, monkeypatch):
    """``masks._resize_pieces`` with passes of 1 piece (a mask per pass), 7 pieces, or its default."""
    if request.param is not None:
        monkeypatch.setattr(masks, "_PIECES_PER_PASS", request.param)


def test_resize_many_equals_resizing_each_frame(pieces_per_pass):
    """One call for a frame's masks, each resized as alone: absent masks (b""), empty ones, masks full to
    their last pixel beside masks starting at their first (no run goes on from one mask into the next)."""
    rng = np.random.default_rng(11)
    for t in range(300):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        nh, nw = (int(v) for v in rng.integers(1, 70, 2))
        ms = []
        for i in range(int(rng.integers(0, 7))):
            kind = (t + i) % 4
            m = rng.random((h, w)) > 0.5 if kind == 0 else np.full((h, w), kind == 1)
            if kind == 3:
                m[int(rng.integers(0, h)) :, int(rng.integers(0, w)) :] = True
            ms.append(m)
        counts = [masks.encode(m[None])[0] if i % 5 != 4 else b"" for i, m in enumerate(ms)]
        rows, cols = masks.nearest_sources(h, nh), masks.nearest_sources(w, nw)
        want = [masks.encode(m[rows][:, cols][None])[0] if c else b"" for m, c in zip(ms, counts)]
        assert masks.resize_many(counts, h, w, nh, nw) == want, (t, h, w, nh, nw)
    assert masks.resize_many([], 4, 5, 8, 10) == [] and masks.resize_many([b""], 4, 5, 8, 10) == [b""]


def test_resize_windows_equals_resizing_the_window_encoding(pieces_per_pass):
    """From the windows, bit-identical to ``resize`` of ``encode_windows``: noisy, full, empty and 0-pixel
    windows, full-height / full-width ones, up and down, bool and uint8 masks."""
    rng = np.random.default_rng(7)
    for t in range(400):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        nh, nw = (int(v) for v in rng.integers(1, 70, 2))
        ws = _windows(rng, h, w)[:: 1 + t % 9][:6]
        ms = [
            rng.random((y1 - y0, x1 - x0)) > (0.5, 0.0, 1.0, 0.9)[(t + i) % 4] for i, (y0, y1, x0, x1) in enumerate(ws)
        ]
        if t % 3 == 0:
            ms = [m.astype(np.uint8) * 5 for m in ms]
        want = [masks.resize(c, h, w, nh, nw) for c in masks.encode_windows(ms, ws, h, w)]
        assert masks.resize_windows(ms, ws, h, w, nh, nw) == want, (t, h, w, nh, nw)
    assert masks.resize_windows([], [], 4, 5, 8, 10) == []
    with pytest.raises(ValueError, match=r"expected a \(2, 1\) mask inside a 4x5 frame for window \(0, 2, 0, 1\)"):
        masks.resize_windows([np.zeros((1, 2), bool)], [(0, 2, 0, 1)], 4, 5, 8, 10)
    with pytest.raises(ValueError, match="expected one window per mask, got 1 masks and 0 windows"):
        masks.resize_windows([np.zeros((1, 1), bool)], [], 4, 5, 8, 10)


def test_encode_padded_equals_encoding_the_padded_frame():
    rng = np.random.default_rng(8)
    for h, w, mh, mw in ((13, 7, 13, 7), (13, 7, 12, 6), (1, 1, 1, 1), (30, 40, 29, 40)):
        m = np.zeros((5, mh, mw), bool)
        m[1] = rng.random((mh, mw)) > 0.5
        m[2, mh // 2 :, : mw // 2 + 1] = True
        m[3, -1, -1] = m[3, 0, 0] = True
        m[4] = True
        full = np.zeros((5, h, w), bool)
        full[:, :mh, :mw] = m
        assert masks.encode_padded(m, h, w) == masks.encode(full)
        assert masks.encode_padded(m.astype(np.uint8) * 3, h, w) == masks.encode(full)
    assert masks.encode_padded(np.zeros((0, 4, 5), bool), 4, 5) == []
    with pytest.raises(ValueError, match=r"expected \(N, h <= 4, w <= 5\) masks, got shape \(1, 5, 5\)"):
        masks.encode_padded(np.zeros((1, 5, 5), bool), 4, 5)


def test_runs_round_trip_and_stay_about_a_byte_per_run():
    rng = np.random.default_rng(9)
    for t in range(300):
        h, w = (int(v) for v in rng.integers(0, 40, 2))
        m = rng.random((h, w)) > (0.5, 0.0, 1.0, 0.98, 0.02)[t % 5]
        if t % 4 == 0:
            m = np.asfortranarray(m)  # any layout
        if t % 6 == 0:
            m = m.astype(np.uint8) * 9  # non-zero is inside
        got = masks.from_runs(masks.to_runs(m), h, w)
        assert got.dtype == bool and got.flags.c_contiguous and np.array_equal(got, m != 0), t
    m = np.zeros((600, 1000), bool)  # long runs: a uint32 each
    m[5, 5:900] = m[300:, 7] = True
    data = masks.to_runs(m)
    assert np.array_equal(masks.from_runs(data, 600, 1000), m)
    noisy = rng.random((50, 60)) > 0.5
    assert len(masks.to_runs(noisy)) <= 4 + np.count_nonzero(noisy[:, 1:] != noisy[:, :-1]) + 50 + 1
    assert masks.to_runs(np.zeros((0, 3), bool)) == b"" and masks.from_runs(b"", 0, 3).shape == (0, 3)
    with pytest.raises(ValueError, match=r"from_runs: expected runs of 4x5 pixels, got 6 pixels in 1 runs"):
        masks.from_runs(masks.to_runs(np.zeros((2, 3), bool)), 4, 5)


@pytest.mark.parametrize("shape", [(6, 9), (6, 9, 1), (6, 9, 3), (6, 9, 4), (6, 9, 5)])
def test_paint_black_paints_the_mask_in_place_whatever_the_image(shape):
    rng = np.random.default_rng(10)
    mask = rng.random(shape[:2]) > 0.5
    for image in (
        rng.integers(1, 256, shape).astype(np.uint8),
        rng.random(shape).astype(np.float32) + 1,
        np.asfortranarray(rng.integers(1, 256, shape).astype(np.uint8)),
    ):
        want = image.copy()
        want[mask] = 0
        assert masks.paint_black(image, mask) is image
        np.testing.assert_array_equal(image, want)


def test_paint_black_refuses_a_read_only_image():
    image = np.ones((4, 5, 3), np.uint8)
    image.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        masks.paint_black(image, np.ones((4, 5), bool))
