import numpy as np

from bmp_ray.train.perturb import GROW, perturb_mask


def _person():
    m = np.zeros((120, 160), np.uint8)
    m[30:90, 60:100] = 1
    return m, np.array([60, 30, 100, 90], np.float32)


def test_every_mask_is_perturbed_only_near_its_box_and_the_seed_decides():
    m, box = _person()
    gx, gy = 40 * GROW / 2, 60 * GROW / 2
    inside = np.zeros_like(m, bool)
    inside[int(30 - gy) : int(np.ceil(90 + gy)), int(60 - gx) : int(np.ceil(100 + gx))] = True
    added = removed = 0
    for seed in range(60):
        out = perturb_mask(m, box, np.random.default_rng(seed))
        assert out.dtype == np.uint8 and out.shape == m.shape and set(np.unique(out)) <= {0, 1}
        assert (out != m).any(), seed  # always perturbed
        assert not (out != m)[~inside].any(), seed  # only the grown box window changes
        assert np.array_equal(out, perturb_mask(m, box, np.random.default_rng(seed)))
        added += int(((out == 1) & (m == 0)).any())
        removed += int(((out == 0) & (m == 1)).any())
    assert added > 10 and removed > 10  # both growing (dilate, add) and shrinking (erode, remove) happen
    assert m.sum() == 40 * 60  # the input is not modified


def test_a_box_at_the_border_and_an_empty_mask():
    m = np.zeros((50, 50), np.uint8)
    out = perturb_mask(m, np.array([40, 40, 60, 60], np.float32), np.random.default_rng(0))
    assert out.shape == (50, 50)
    out = perturb_mask(m, np.array([70, 70, 80, 80], np.float32), np.random.default_rng(0))
    assert not out.any()  # the box is outside the image: nothing to perturb
