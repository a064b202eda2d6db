"""One-to-one assignment on a similarity matrix with a floor (``scipy.optimize.linear_sum_assignment``)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def assign(
    sim: np.ndarray, least: float, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The assignment of rows to columns that maximises the total similarity over pairs >= ``least``.

    Pairs below ``least`` are never assigned, and they are left out of the problem rather than dropped
    from its answer: a forbidden pair never displaces an allowed one (the problem is solved with a
    slack row and column per track and detection, as ``lap``'s ``cost_limit`` does).

    Args:
        sim: (M, N) similarities (tracks x detections).
        least: the smallest similarity a pair may have.
        allowed: (M, N) bool, the pairs that may be assigned instead of ``sim >= least`` (None: those);
            the total maximised is still that of ``sim``, each assigned pair counting ``sim - least``.

    Returns:
        ``pairs`` (P, 2) int64 (row, column), sorted by row; ``rows`` and ``cols``: the unassigned ones, (·,) int64.
    """
    sim = np.asarray(sim, np.float64)
    if sim.ndim != 2:
        raise ValueError(f"assign: expected an (M, N) similarity matrix, got shape {sim.shape}")
    m, n = sim.shape
    pairs = np.zeros((0, 2), np.int64)
    ok = sim >= least if allowed is None else np.asarray(allowed, bool)
    if ok.shape != sim.shape:
        raise ValueError(f"assign: expected allowed of the shape of sim {sim.shape}, got {ok.shape}")
    if not m or not n:
        return pairs, np.arange(m, dtype=np.int64), np.arange(n, dtype=np.int64)
    if ok.any():
        # Rows and columns may stay unassigned at (1 - least) / 2 each, so a pair is taken only when its
        # cost 1 - sim beats leaving both ends alone; forbidden pairs cost more than any alternative.
        big, u = 1e6, (1.0 - least) / 2
        k = m + n
        cost = np.full((k, k), big)
        cost[:m, :n] = np.where(ok, np.minimum(1.0 - sim, 2 * u), big)  # an allowed pair never loses to slack
        flat = cost.reshape(-1)
        flat[n : m * (k + 1) : k + 1] = u  # row i's slack: column n + i
        flat[m * k : m * k + n * (k + 1) : k + 1] = u  # column j's slack: row m + j
        cost[m:, n:] = 0.0
        r, c = linear_sum_assignment(cost)
        keep = (r < m) & (c < n)
        r, c = r[keep], c[keep]
        keep = ok[r, c]
        pairs = np.stack([r[keep], c[keep]], 1).astype(np.int64)
    free_r = np.ones(m, bool)
    free_r[pairs[:, 0]] = False
    free_c = np.ones(n, bool)
    free_c[pairs[:, 1]] = False
    return pairs, np.flatnonzero(free_r), np.flatnonzero(free_c)
