import numpy as np
import pytest

from bmp_ray.track.assign import assign


def test_takes_the_best_total_and_leaves_the_rest():
    sim = np.array([[0.9, 0.8, 0.0], [0.85, 0.1, 0.0]])
    pairs, rows, cols = assign(sim, 0.3)
    assert pairs.tolist() == [[0, 1], [1, 0]]  # 0.8 + 0.85 beats 0.9 + nothing
    assert rows.tolist() == [] and cols.tolist() == [2]


def test_pairs_below_the_floor_are_never_taken_and_never_displace_others():
    sim = np.array([[0.5, 0.45], [0.29, 0.0]])
    pairs, rows, cols = assign(sim, 0.3)
    assert pairs.tolist() == [[0, 0]]  # 0.45 + 0.29 is a larger total, but 0.29 is below the floor
    assert rows.tolist() == [1] and cols.tolist() == [1]


def test_empty_and_bad_input():
    pairs, rows, cols = assign(np.zeros((0, 3)), 0.3)
    assert pairs.shape == (0, 2) and rows.tolist() == [] and cols.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match=r"\(M, N\) similarity matrix"):
        assign(np.zeros(3), 0.3)
