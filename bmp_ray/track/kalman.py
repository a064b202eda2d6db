"""A constant-velocity Kalman filter on boxes, batched over tracks, with OC-SORT's re-update after gaps.

The state of a track is ``(cx, cy, w, h, vcx, vcy, vw, vh)``: the box centre and size in pixels and
their velocities in pixels per frame; the measurement is ``(cx, cy, w, h)``. The noise of each
coordinate scales with the box (``POS_STD * w`` for x and width, ``POS_STD * h`` for y and height,
the velocities with ``VEL_STD``), as in ByteTrack and BoT-SORT.

The motion model moves each coordinate by its own velocity, the measurement reads the coordinates,
and every noise is diagonal: the 8 x 8 covariance of a state started diagonal is four independent
2 x 2 blocks (a coordinate and its velocity) forever. It is kept as those blocks, ``cov`` (M, 3, 4):
``cov[:, 0]`` the variance of each coordinate, ``cov[:, 1]`` its covariance with its velocity,
``cov[:, 2]`` the velocity's variance (``matrix`` gives the 8 x 8 form). Predict and update are then
elementwise arithmetic, the matrix form's to rounding (tested), at a fraction of its cost.

Every function takes and returns arrays of many tracks at once: ``mean`` (M, 8), ``cov`` (M, 3, 4).
"""

from __future__ import annotations

import numpy as np

POS_STD = 1.0 / 20  # std of the position noise, as a fraction of the box size
VEL_STD = 1.0 / 160  # std of the velocity noise, fraction of the box size per frame
MEAS_STD = 1.0 / 20  # std of the measurement noise, fraction of the box size
COV_SHAPE = (3, 4)  # one track's covariance: coordinate variances, coordinate-velocity covariances, velocity variances


def xyxy_to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy -> (N, 4) centre x, centre y, width, height (float64)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    z = np.empty((len(b), 4))
    z[:, :2] = (b[:, :2] + b[:, 2:]) / 2
    z[:, 2:] = b[:, 2:] - b[:, :2]
    return z


def cxcywh_to_xyxy(z: np.ndarray) -> np.ndarray:
    """(N, 4) centre x, centre y, width, height -> (N, 4) xyxy (float64)."""
    z = np.asarray(z, np.float64).reshape(-1, 4)
    half = z[:, 2:4] / 2
    return np.concatenate([z[:, :2] - half, z[:, :2] + half], 1)


def _scale(mean: np.ndarray) -> np.ndarray:
    """(M, 4) per-coordinate size (w, h, w, h) of (M, 8) states, at least 1 pixel."""
    wh = np.maximum(mean[:, 2:4], 1.0)
    return np.concatenate((wh, wh), 1)


def matrix(cov: np.ndarray) -> np.ndarray:
    """(M, 3, 4) block covariances -> the (M, 8, 8) covariance matrices of the states."""
    c = np.asarray(cov, np.float64)
    out = np.zeros((len(c), 8, 8))
    i = np.arange(4)
    out[:, i, i], out[:, i + 4, i + 4] = c[:, 0], c[:, 2]
    out[:, i, i + 4] = out[:, i + 4, i] = c[:, 1]
    return out


def initiate(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New tracks at rest on (M, 4) xyxy boxes: ``mean`` (M, 8), ``cov`` (M, 3, 4)."""
    z = xyxy_to_cxcywh(boxes)
    mean = np.concatenate([z, np.zeros_like(z)], 1)
    s = _scale(mean)
    cov = np.zeros((len(z), *COV_SHAPE))
    cov[:, 0], cov[:, 2] = (2 * POS_STD * s) ** 2, (10 * VEL_STD * s) ** 2
    return mean, cov


def _predicted(x, v, xx, xv, vv, s):
    """One coordinate block one frame ahead (``F P F^T + Q``, the matrix product's sums in its order):
    position ``x``, velocity ``v``, the block ``xx``, ``xv``, ``vv`` and the box size ``s`` the noise
    scales with. Plain arithmetic: the same on float arrays (every track) and on Python floats (one)."""
    qp, qv = POS_STD * s, VEL_STD * s
    return x + v, v, (xx + xv) + (xv + vv) + qp * qp, xv + vv, vv + qv * qv


def _corrected(x, v, xx, xv, vv, s, z):
    """One coordinate block corrected by its measurement ``z``: the gain ``(xx, xv) / (xx + R)``."""
    r = MEAS_STD * s
    total = xx + r * r
    kx, kv = xx / total, xv / total
    y = z - x
    return x + kx * y, v + kv * y, xx - kx * xx, xv - kx * xv, vv - kv * xv


def _blocks(mean: np.ndarray, cov: np.ndarray) -> tuple:
    return mean[:, :4], mean[:, 4:], cov[:, 0], cov[:, 1], cov[:, 2]


def _state(x, v, xx, xv, vv) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate((x, v), 1), np.stack((xx, xv, vv), 1)


def predict(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One frame ahead: (M, 8), (M, 3, 4) -> the predicted (M, 8), (M, 3, 4) (new arrays), the 8 x 8
    form's to the bit (tested)."""
    if len(mean) == 0:
        return mean.copy(), cov.copy()
    return _state(*_predicted(*_blocks(mean, cov), _scale(mean)))


def project(mean: np.ndarray) -> np.ndarray:
    """(M, 8) states -> (M, 4) xyxy boxes."""
    return cxcywh_to_xyxy(mean[:, :4])


def update(mean: np.ndarray, cov: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correct (M, 8), (M, 3, 4) with (M, 4) xyxy measurements; the corrected (M, 8), (M, 3, 4)."""
    if len(mean) == 0:
        return mean.copy(), cov.copy()
    return _correct(mean, cov, xyxy_to_cxcywh(boxes))


def _correct(mean: np.ndarray, cov: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``update`` with the measurements as (M, 4) centre and size (M >= 1)."""
    return _state(*_corrected(*_blocks(mean, cov), _scale(mean), z))


def reupdate(
    mean: np.ndarray, cov: np.ndarray, last_box: np.ndarray, new_box: np.ndarray, gap
) -> tuple[np.ndarray, np.ndarray]:
    """OC-SORT's observation-centric re-update of tracks seen again after a gap.

    Starting from each track's filter state right after its last observation (``mean`` (M, 8), ``cov``
    (M, 3, 4), or one track: (8,), (3, 4)), the filter steps ``gap`` frames along a virtual trajectory
    linearly interpolated from ``last_box`` to ``new_box`` ((M, 4) or (4,) xyxy), so the velocity a
    track leaves its gap with is the observed one rather than the drift accumulated while it was
    unseen.

    Args:
        gap: (M,) or one int, frames since the last observation, each >= 1.

    Returns:
        The states at the new observations, shaped as ``mean`` and ``cov``.
    """
    one = np.ndim(mean) == 1
    m = np.array(mean, np.float64, ndmin=2)
    c = np.array(cov, np.float64, ndmin=3)
    a = np.array(last_box, np.float64, ndmin=2)
    b = np.array(new_box, np.float64, ndmin=2)
    g = np.array(gap, np.int64, ndmin=1)
    if len(g) != len(m) or (g < 1).any():
        raise ValueError(f"reupdate: expected a gap >= 1 frame per track, got {g.tolist()}")
    # the virtual observations, every step of every track at once: (M, K, 4) centre and size
    w = np.arange(1, int(g.max()) + 1)[None, :] / g[:, None]
    z = xyxy_to_cxcywh(a[:, None] + (b - a)[:, None] * w[:, :, None]).reshape(len(g), -1, 4).tolist()
    # the steps of one track are sequential and its arrays tiny: Python floats, the same arithmetic as
    # ``predict`` and ``_correct`` (to the bit, tested) at a tenth of numpy's per-call cost
    blocks = np.stack((m[:, :4], m[:, 4:], c[:, 0], c[:, 1], c[:, 2]), 1).tolist()  # (M, 5, 4)
    for i, steps in enumerate(g.tolist()):
        x, v, xx, xv, vv = blocks[i]
        for k in range(steps):
            s = [max(x[2], 1.0), max(x[3], 1.0)] * 2  # (w, h, w, h): the size each coordinate's noise scales with
            x, v, xx, xv, vv = map(list, zip(*map(_predicted, x, v, xx, xv, vv, s)))
            s = [max(x[2], 1.0), max(x[3], 1.0)] * 2
            x, v, xx, xv, vv = map(list, zip(*map(_corrected, x, v, xx, xv, vv, s, z[i][k])))
        blocks[i] = x, v, xx, xv, vv
    out = np.array(blocks, np.float64).reshape(len(g), 5, 4)
    m, c = out[:, :2].reshape(len(g), 8), out[:, 2:]
    return (m[0], c[0]) if one else (m, c)
