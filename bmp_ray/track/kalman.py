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

_F = np.eye(8)
_F[:4, 4:] = np.eye(4)
_H = np.eye(4, 8)


def xyxy_to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy -> (N, 4) centre x, centre y, width, height (float64)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)


def cxcywh_to_xyxy(z: np.ndarray) -> np.ndarray:
    """(N, 4) centre x, centre y, width, height -> (N, 4) xyxy (float64)."""
    z = np.asarray(z, np.float64).reshape(-1, 4)
    half = z[:, 2:4] / 2
    return np.concatenate([z[:, :2] - half, z[:, :2] + half], 1)


def _scale(wh: np.ndarray) -> np.ndarray:
    """(M, 4) per-coordinate size (w, h, w, h), at least 1 pixel."""
    wh = np.maximum(wh, 1.0)
    return np.stack([wh[:, 0], wh[:, 1], wh[:, 0], wh[:, 1]], 1)


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
    """One frame ahead: (M, 8), (M, 8, 8) -> the predicted (M, 8), (M, 8, 8) (new arrays)."""
    if len(mean) == 0:
        return mean.copy(), cov.copy()
    s = _scale(mean[:, 2:4])
    q = np.concatenate([POS_STD * s, VEL_STD * s], 1) ** 2
    mean = mean @ _F.T
    cov = _F @ cov @ _F.T
    idx = np.arange(8)
    cov[:, idx, idx] += q
    return mean, cov


def project(mean: np.ndarray) -> np.ndarray:
    """(M, 8) states -> (M, 4) xyxy boxes."""
    return cxcywh_to_xyxy(mean[:, :4])


def update(mean: np.ndarray, cov: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correct (M, 8), (M, 8, 8) with (M, 4) xyxy measurements; the corrected (M, 8), (M, 8, 8)."""
    if len(mean) == 0:
        return mean.copy(), cov.copy()
    z = xyxy_to_cxcywh(boxes)
    r = (MEAS_STD * _scale(mean[:, 2:4])) ** 2
    s = cov[:, :4, :4].copy()  # H P H^T
    idx = np.arange(4)
    s[:, idx, idx] += r
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
    for k in range(1, int(g.max()) + 1):
        on = np.flatnonzero(g >= k)
        mi, ci = predict(m[on], c[on])
        w = (k / g[on])[:, None]
        m[on], c[on] = update(mi, ci, a[on] + (b[on] - a[on]) * w)
    return (m[0], c[0]) if one else (m, c)
