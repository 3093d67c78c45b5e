"""Small dense LPs (the sampled-game support tests), solved by HiGHS.

Thousands of tiny LPs are solved per sampled game, so the per-call overhead matters more than the solve:
``highspy`` (the optional ``ipg`` extra) takes the model directly and answers in a fraction of the time
``scipy.optimize.linprog`` spends checking its options; without it the same LP goes through linprog.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
from scipy.optimize import linprog

highspy: Any
try:  # optional: the fast path
    import highspy
except ImportError:  # pragma: no cover - exercised where highspy is not installed
    highspy = None

_INF = 1e30
_SOLVER: list = []  # one HiGHS instance, reused: creating one costs more than a tiny solve


def _highs():  # noqa: ANN202 - highspy.Highs when highspy is installed
    if not _SOLVER:
        # HiGHS prints a banner from C++ when constructed, before any option can silence it: send file
        # descriptor 1 to /dev/null for that one call so that JSON on stdout stays clean.
        sys.stdout.flush()
        saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 1)
            h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(null)
        h.setOptionValue("output_flag", False)
        h.setOptionValue("presolve", "off")
        _SOLVER.append(h)
    return _SOLVER[0]


def solve_lp(
    cost: np.ndarray,
    a_ub: np.ndarray,
    b_ub: np.ndarray,
    a_eq: np.ndarray,
    b_eq: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
) -> np.ndarray | None:
    """argmin cost·x s.t. a_ub x ≤ b_ub, a_eq x = b_eq, lower ≤ x ≤ upper (±inf allowed); None when
    the LP is infeasible or unbounded."""
    if highspy is None:
        res = linprog(
            cost,
            A_ub=a_ub,
            b_ub=b_ub,
            A_eq=a_eq,
            b_eq=b_eq,
            bounds=[
                (None if np.isinf(lo) else lo, None if np.isinf(hi) else hi)
                for lo, hi in zip(lower, upper, strict=True)
            ],
            method="highs",
        )
        return res.x if res.status == 0 else None
    h = _highs()
    h.clearModel()
    n = len(cost)
    A = np.vstack([a_ub, a_eq])
    row_lo = np.concatenate([np.full(len(a_ub), -_INF), b_eq])
    row_hi = np.concatenate([b_ub, b_eq])
    h.addVars(n, np.clip(lower, -_INF, _INF), np.clip(upper, -_INF, _INF))
    h.changeColsCost(n, np.arange(n, dtype=np.int32), np.asarray(cost, dtype=np.float64))
    # column-wise (CSC) matrix of the rows, as HiGHS's addRows wants row-wise (CSR): build it row-wise
    nz = A != 0
    starts = np.concatenate([[0], np.cumsum(nz.sum(axis=1))[:-1]]).astype(np.int32)
    idx = np.nonzero(nz)[1].astype(np.int32)
    h.addRows(len(A), row_lo, row_hi, int(nz.sum()), starts, idx, A[nz])
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return np.array(h.getSolution().col_value)
