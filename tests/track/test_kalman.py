import numpy as np
import pytest

from bmp_ray.track import kalman


def test_box_conversions_round_trip():
    b = np.array([[10.0, 20.0, 50.0, 100.0]])
    z = kalman.xyxy_to_cxcywh(b)
    np.testing.assert_allclose(z, [[30, 60, 40, 80]])
    np.testing.assert_allclose(kalman.cxcywh_to_xyxy(z), b)


def test_predict_moves_by_the_velocity_and_grows_the_uncertainty():
    mean, cov = kalman.initiate(np.array([[0.0, 0.0, 10.0, 20.0]]))
    mean[0, 4:6] = [3.0, -2.0]
    m2, c2 = kalman.predict(mean, cov)
    np.testing.assert_allclose(m2[0, :4], [8.0, 8.0, 10.0, 20.0])
    assert np.all(np.diag(kalman.matrix(c2)[0]) > np.diag(kalman.matrix(cov)[0]))
    assert mean[0, 0] == 5.0  # inputs untouched


def test_update_pulls_the_state_towards_the_measurement_and_shrinks_the_uncertainty():
    mean, cov = kalman.initiate(np.array([[0.0, 0.0, 10.0, 20.0]]))
    m, c = kalman.predict(mean, cov)
    m2, c2 = kalman.update(m, c, np.array([[4.0, 0.0, 14.0, 20.0]]))
    assert 5.0 < m2[0, 0] < 9.0  # between the prediction (5) and the measurement (9)
    assert m2[0, 4] > 0  # the velocity learns the motion
    assert np.all(np.diag(kalman.matrix(c2)[0])[:4] < np.diag(kalman.matrix(c)[0])[:4])


def test_a_steady_walker_is_predicted_at_its_speed():
    mean, cov = kalman.initiate(np.array([[0.0, 0.0, 10.0, 20.0]]))
    for t in range(1, 30):
        mean, cov = kalman.predict(mean, cov)
        mean, cov = kalman.update(mean, cov, np.array([[2.0 * t, 0.0, 2.0 * t + 10, 20.0]]))
    assert mean[0, 4] == pytest.approx(2.0, abs=0.05)
    m, _ = kalman.predict(mean, cov)
    np.testing.assert_allclose(kalman.project(m)[0], [60.0, 0.0, 70.0, 20.0], atol=0.3)


def test_reupdate_after_a_gap_leaves_with_the_observed_velocity():
    # at rest at x=0, then unseen for 10 frames, then seen at x=30: 3 px per frame
    mean, cov = kalman.initiate(np.array([[0.0, 0.0, 10.0, 20.0]]))
    for _ in range(5):
        mean, cov = kalman.update(*kalman.predict(mean, cov), np.array([[0.0, 0.0, 10.0, 20.0]]))
    last = np.array([0.0, 0.0, 10.0, 20.0])
    new = np.array([30.0, 0.0, 40.0, 20.0])
    m, c = kalman.reupdate(mean[0], cov[0], last, new, 10)
    assert m[4] == pytest.approx(3.0, abs=1.0)  # the filter lags a little behind the true 3 px
    assert m[0] == pytest.approx(35.0, abs=1.0)
    # without the re-update (predict through the gap, one update) the velocity is far off
    mm, cc = mean, cov
    for _ in range(10):
        mm, cc = kalman.predict(mm, cc)
    mm, _ = kalman.update(mm, cc, new[None])
    assert abs(mm[0, 4] - 3.0) > abs(m[4] - 3.0)
    with pytest.raises(ValueError, match="gap >= 1"):
        kalman.reupdate(mean[0], cov[0], last, new, 0)


def test_batched_calls_equal_one_by_one():
    boxes = np.array([[0.0, 0.0, 10.0, 20.0], [50.0, 40.0, 90.0, 120.0]])
    mean, cov = kalman.initiate(boxes)
    m, c = kalman.update(*kalman.predict(mean, cov), boxes + 3)
    for i in range(2):
        mi, ci = kalman.update(*kalman.predict(mean[i : i + 1], cov[i : i + 1]), boxes[i : i + 1] + 3)
        np.testing.assert_allclose(m[i], mi[0])
        np.testing.assert_allclose(c[i], ci[0])


def test_reupdate_of_many_tracks_at_once_equals_one_by_one():
    mean, cov = kalman.initiate(np.array([[0.0, 0.0, 10.0, 20.0], [100.0, 50.0, 130.0, 110.0]]))
    last = np.array([[0.0, 0.0, 10.0, 20.0], [100.0, 50.0, 130.0, 110.0]])
    new = last + [[12.0, 0, 12.0, 0], [-5.0, 4.0, -5.0, 4.0]]
    m, c = kalman.reupdate(mean, cov, last, new, np.array([4, 2]))
    for i, g in enumerate((4, 2)):
        mi, ci = kalman.reupdate(mean[i], cov[i], last[i], new[i], g)
        np.testing.assert_allclose(m[i], mi)
        np.testing.assert_allclose(c[i], ci)


def _random_states(m, seed=0):
    rng = np.random.default_rng(seed)
    b = rng.uniform(0, 500, (m, 4))
    b[:, 2:] = b[:, :2] + rng.uniform(1, 200, (m, 2))
    mean, cov = kalman.initiate(b)
    for _ in range(3):
        mean, cov = kalman.update(*kalman.predict(mean, cov), b + rng.normal(0, 4, b.shape))
    return b, mean, cov


def _f():
    f = np.eye(8)
    f[:4, 4:] = np.eye(4)
    return f


def test_predict_is_the_matrix_form_to_the_bit():
    _, mean, cov = _random_states(7)
    f = _f()
    wh = np.maximum(mean[:, 2:4], 1.0)
    std = np.c_[kalman.POS_STD * wh, kalman.POS_STD * wh, kalman.VEL_STD * wh, kalman.VEL_STD * wh]
    m2, c2 = kalman.predict(mean, cov)
    want = f @ kalman.matrix(cov) @ f.T
    want[:, np.arange(8), np.arange(8)] += std**2
    assert np.array_equal(m2, mean @ f.T) and np.array_equal(kalman.matrix(c2), want)


def test_update_is_the_textbook_matrix_form():
    # K = P H^T (H P H^T + R)^-1, x + K (z - H x), (I - K H) P on the 8 x 8 matrices
    b, mean, cov = _random_states(6, seed=3)
    z = kalman.xyxy_to_cxcywh(b + np.random.default_rng(4).normal(0, 6, b.shape))
    h = np.eye(8)[:4]
    p = kalman.matrix(cov)
    wh = np.maximum(mean[:, 2:4], 1.0)
    r = np.stack([np.diag((kalman.MEAS_STD * np.r_[w, w]) ** 2) for w in wh])
    gain = p @ h.T @ np.linalg.inv(h @ p @ h.T + r)
    want_mean = mean + np.einsum("mij,mj->mi", gain, z - mean @ h.T)
    want_cov = (np.eye(8) - gain @ h) @ p
    m2, c2 = kalman.update(mean, cov, kalman.cxcywh_to_xyxy(z))
    np.testing.assert_allclose(m2, want_mean, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(kalman.matrix(c2), want_cov, rtol=1e-10, atol=1e-9)


def test_the_covariance_blocks_stay_the_whole_matrix():
    # a diagonal start, the motion, the measurement and the noises never couple two coordinates: the
    # 8 x 8 filter run on the same inputs keeps zeros outside the four (coordinate, velocity) blocks
    b, mean, cov = _random_states(4, seed=2)
    full = kalman.matrix(cov)
    f = _f()
    h = np.eye(8)[:4]
    rng = np.random.default_rng(5)
    for _ in range(6):
        wh = np.maximum(mean[:, 2:4], 1.0)
        q = np.c_[kalman.POS_STD * wh, kalman.POS_STD * wh, kalman.VEL_STD * wh, kalman.VEL_STD * wh]
        full = f @ full @ f.T
        full[:, np.arange(8), np.arange(8)] += q**2
        mean, cov = kalman.predict(mean, cov)
        wh = np.maximum(mean[:, 2:4], 1.0)
        r = np.stack([np.diag((kalman.MEAS_STD * np.r_[w, w]) ** 2) for w in wh])
        full = (np.eye(8) - full @ h.T @ np.linalg.inv(h @ full @ h.T + r) @ h) @ full
        mean, cov = kalman.update(mean, cov, b + rng.normal(0, 3, b.shape))
    np.testing.assert_allclose(kalman.matrix(cov), full, rtol=1e-9, atol=1e-9)  # zeros where the blocks are not


def test_reupdate_of_many_tracks_equals_each_alone():
    b, mean, cov = _random_states(5, seed=1)
    new = b + [[30.0, 5.0, 31.0, 6.0]]
    gaps = np.array([3, 1, 7, 3, 2])
    m, c = kalman.reupdate(mean, cov, b, new, gaps)
    for k in range(5):
        mk, ck = kalman.reupdate(mean[k], cov[k], b[k], new[k], int(gaps[k]))
        assert np.array_equal(m[k], mk) and np.array_equal(c[k], ck)


def test_reupdate_is_predict_and_update_along_the_line_to_the_bit():
    # the re-update's scalar steps do the arithmetic of the batched ``predict`` and ``update``
    b, mean, cov = _random_states(3, seed=4)
    new = b + [[24.0, -9.0, 30.0, -5.0]]
    gaps = [5, 1, 3]
    m, c = kalman.reupdate(mean, cov, b, new, np.array(gaps))
    for k, g in enumerate(gaps):
        mk, ck = mean[k : k + 1], cov[k : k + 1]
        for step in range(1, g + 1):
            virtual = b[k] + (new[k] - b[k]) * (step / g)
            mk, ck = kalman.update(*kalman.predict(mk, ck), virtual[None])
        assert np.array_equal(m[k], mk[0]) and np.array_equal(c[k], ck[0])
