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
    if m and n and ok.any():
        # Rows and columns may stay unassigned at (1 - least) / 2 each, so a pair is taken only when its
        # cost 1 - sim beats leaving both ends alone; forbidden pairs cost more than any alternative.
        big, u = 1e6, (1.0 - least) / 2
        cost = np.full((m + n, n + m), big)
        cost[:m, :n] = np.where(ok, np.minimum(1.0 - sim, 2 * u), big)  # an allowed pair never loses to slack
        cost[np.arange(m), n + np.arange(m)] = u
        cost[m + np.arange(n), np.arange(n)] = u
        cost[m:, n:] = 0.0
        r, c = linear_sum_assignment(cost)
        keep = (r < m) & (c < n)
        r, c = r[keep], c[keep]
        keep = ok[r, c]
        pairs = np.stack([r[keep], c[keep]], 1).astype(np.int64)
    rows = np.setdiff1d(np.arange(m), pairs[:, 0]).astype(np.int64)
    cols = np.setdiff1d(np.arange(n), pairs[:, 1]).astype(np.int64)
    return pairs, rows, cols
