"""A constant-velocity Kalman filter on boxes, batched over tracks, with OC-SORT's re-update after gaps.

The state of a track is ``(cx, cy, w, h, vcx, vcy, vw, vh)``: the box centre and size in pixels and
their velocities in pixels per frame; the measurement is ``(cx, cy, w, h)``. The noise of each
coordinate scales with the box (``POS_STD * w`` for x and width, ``POS_STD * h`` for y and height,
the velocities with ``VEL_STD``), as in ByteTrack and BoT-SORT.

Every function takes and returns arrays of many tracks at once: ``mean`` (M, 8), ``cov`` (M, 8, 8).
"""

from __future__ import annotations

import numpy as np

POS_STD = 1.0 / 20  # std of the position noise, as a fraction of the box size
VEL_STD = 1.0 / 160  # std of the velocity noise, fraction of the box size per frame
MEAS_STD = 1.0 / 20  # std of the measurement noise, fraction of the box size

# process noise std of each state coordinate, a fraction of the box size (w, h, w, h, w, h, w, h) it scales with
_NOISE = np.array([POS_STD] * 4 + [VEL_STD] * 4)


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


def _scale(wh: np.ndarray) -> np.ndarray:
    """(M, 4) per-coordinate size (w, h, w, h), at least 1 pixel."""
    wh = np.maximum(wh, 1.0)
    return np.concatenate((wh, wh), 1)


def initiate(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New tracks at rest on (M, 4) xyxy boxes: ``mean`` (M, 8), ``cov`` (M, 8, 8)."""
    z = xyxy_to_cxcywh(boxes)
    mean = np.concatenate([z, np.zeros_like(z)], 1)
    s = _scale(z[:, 2:4])
    std = np.concatenate([2 * POS_STD * s, 10 * VEL_STD * s], 1)
    cov = np.zeros((len(z), 8, 8))
    idx = np.arange(8)
    cov[:, idx, idx] = std**2
    return mean, cov


def predict(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One frame ahead: (M, 8), (M, 8, 8) -> the predicted (M, 8), (M, 8, 8) (new arrays).

    ``F x`` and ``F P F^T`` are written out as the sums they are (each entry adds at most two terms
    per product, so the result is the matrix products' to the bit, without their overhead)."""
    if len(mean) == 0:
        return mean.copy(), cov.copy()
    wh = np.maximum(mean[:, 2:4], 1.0)
    q = _NOISE * np.concatenate((wh, wh, wh, wh), 1)
    out = mean.copy()
    out[:, :4] += mean[:, 4:]  # F x
    p = cov.copy()
    p[:, :4] += cov[:, 4:]  # F P
    p[:, :, :4] += p[:, :, 4:]  # (F P) F^T
    p.reshape(-1, 64)[:, ::9] += q * q  # the diagonal
    return out, p


def project(mean: np.ndarray) -> np.ndarray:
    """(M, 8) states -> (M, 4) xyxy boxes."""
    return cxcywh_to_xyxy(mean[:, :4])


def update(mean: np.ndarray, cov: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correct (M, 8), (M, 8, 8) with (M, 4) xyxy measurements; the corrected (M, 8), (M, 8, 8)."""
    if len(mean) == 0:
        return mean.copy(), cov.copy()
    return _correct(mean, cov, xyxy_to_cxcywh(boxes))


def _correct(mean: np.ndarray, cov: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``update`` with the measurements as (M, 4) centre and size (M >= 1)."""
    s = cov[:, :4, :4].copy()  # H P H^T
    r = MEAS_STD * _scale(mean[:, 2:4])
    s.reshape(-1, 16)[:, ::5] += r * r  # the diagonal
    pht = cov[:, :, :4]  # P H^T, (M, 8, 4)
    gain = np.linalg.solve(s, pht.transpose(0, 2, 1)).transpose(0, 2, 1)  # P H^T S^-1 (S symmetric)
    mean = mean + np.einsum("mij,mj->mi", gain, z - mean[:, :4])
    cov = cov - gain @ cov[:, :4, :]
    return mean, cov


def reupdate(
    mean: np.ndarray, cov: np.ndarray, last_box: np.ndarray, new_box: np.ndarray, gap
) -> tuple[np.ndarray, np.ndarray]:
    """OC-SORT's observation-centric re-update of tracks seen again after a gap.

    Starting from each track's filter state right after its last observation (``mean`` (M, 8), ``cov``
    (M, 8, 8), or one track: (8,), (8, 8)), the filter steps ``gap`` frames along a virtual trajectory
    linearly interpolated from ``last_box`` to ``new_box`` ((M, 4) or (4,) xyxy), so the velocity a
    track leaves its gap with is the observed one rather than the drift accumulated while it was
    unseen. Tracks are stepped together (the ones with shorter gaps stop earlier).

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
    order = np.argsort(-g, kind="stable")  # longest gaps first: the tracks still stepping are a prefix
    m, c, a, g = m[order], c[order], a[order], g[order]
    # the virtual observations, every step at once: (M, K, 4) centre and size
    steps = np.arange(1, int(g[0]) + 1)
    w = steps[None, :] / g[:, None]
    z = xyxy_to_cxcywh(a[:, None] + (b[order] - a)[:, None] * w[:, :, None]).reshape(len(g), -1, 4)
    for k, n in zip(steps.tolist(), (g[None, :] >= steps[:, None]).sum(1).tolist()):  # n: the tracks with g >= k
        if n == len(g):
            m, c = _correct(*predict(m, c), z[:, k - 1])
        else:
            m[:n], c[:n] = _correct(*predict(m[:n], c[:n]), z[:n, k - 1])
    back = np.argsort(order)
    m, c = m[back], c[back]
    return (m[0], c[0]) if one else (m, c)
