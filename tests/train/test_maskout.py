"""The mask-out augmentation pinned: black pixels, removed and kept people, the covered rule, seeds."""

import numpy as np
import pytest

from bmp_ray.train.maskout import choose, mask_out


def _scene():
    img = np.full((60, 80, 3), 200, np.uint8)
    m = np.zeros((4, 60, 80), bool)
    m[0, 10:30, 10:20] = True  # A: 200 px
    m[1, 10:30, 15:25] = True  # B: overlaps A on 10:30 x 15:20 = 100 px (50 percent of B)
    m[2, 10:30, 17:27] = True  # C: overlaps A on 10:30 x 17:20 = 60 px (30 percent of C)
    m[3, 40:50, 50:70] = True  # D: apart
    return img, m


def _rng_painting(want, masks, **kw):
    """A seed whose choice is exactly ``want`` (the choice is random; the test searches for it)."""
    for seed in range(5000):
        if np.array_equal(choose(len(masks), np.random.default_rng(seed), **kw), want):
            return np.random.default_rng(seed)
    raise AssertionError(f"no seed paints {want}")


def test_painted_pixels_are_exactly_black_and_only_there():
    img, m = _scene()
    r = mask_out(img, m, _rng_painting(np.array([1, 0, 0, 0], bool), m))
    assert (r.image[m[0]] == 0).all()
    assert np.array_equal(r.image[~m[0]], img[~m[0]])
    assert img.min() == 200  # the input is untouched


@pytest.mark.parametrize(
    "covered, keep_b, keep_c", [(0.7, True, True), (0.5, False, True), (0.3, False, False), (0.31, False, True)]
)
def test_the_covered_rule_at_its_threshold(covered, keep_b, keep_c):
    img, m = _scene()
    r = mask_out(img, m, _rng_painting(np.array([1, 0, 0, 0], bool), m), covered=covered)
    assert r.painted.tolist() == [True, False, False, False]
    assert np.allclose(r.covered, [1.0, 0.5, 0.3, 0.0])
    assert r.keep.tolist() == [False, keep_b, keep_c, True]  # A removed (painted); D always kept


def test_none_and_all_happen_and_subsets_in_between():
    img, m = _scene()
    seen = {"none": 0, "all": 0, "some": 0}
    for seed in range(400):
        r = mask_out(img, m, np.random.default_rng(seed))
        k = int(r.painted.sum())
        seen["none" if k == 0 else "all" if k == 4 else "some"] += 1
        assert not (r.keep & r.painted).any()
        assert np.array_equal(r.image, mask_out(img, m, np.random.default_rng(seed)).image)  # same seed
    assert 60 < seen["none"] < 140 and 5 < seen["all"] < 40 and seen["some"] > 200


def test_empty_masks_are_never_painted_or_covered_and_bad_shapes_are_named():
    img, m = _scene()
    m[3] = False
    r = mask_out(img, m, _rng_painting(np.ones(4, bool), m))
    assert r.keep.tolist() == [False, False, False, True] and not r.painted[3]
    with pytest.raises(ValueError, match=r"masks: expected \(N, 60, 80\), got \(2, 10, 10\)"):
        mask_out(img, np.zeros((2, 10, 10), bool), np.random.default_rng(0))
    assert mask_out(img, np.zeros((0, 60, 80), bool), np.random.default_rng(0)).keep.shape == (0,)
