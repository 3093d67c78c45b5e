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
_MIP_SOLVER: list = []  # another for the MILPs, whose options (tolerances, time limit) differ
# MILP tolerances: a point is only a support guess checked by an exact LP afterwards, but a loose
# integrality tolerance times a regret bound M ~ 1e4 would admit regrets of 1e-2 and guesses that fail.
_MIP_TOL = 1e-9


def _highs(pool: list | None = None):  # noqa: ANN202 - highspy.Highs when highspy is installed
    pool = _SOLVER if pool is None else pool
    if not pool:
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
        if pool is _MIP_SOLVER:
            h.setOptionValue("presolve", "on")
            h.setOptionValue("mip_feasibility_tolerance", _MIP_TOL)
            h.setOptionValue("primal_feasibility_tolerance", _MIP_TOL)
            h.setOptionValue("mip_rel_gap", 0.0)
        pool.append(h)
    return pool[0]


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
    A = np.vstack([a_ub, a_eq])
    row_lo = np.concatenate([np.full(len(a_ub), -_INF), b_eq])
    row_hi = np.concatenate([b_ub, b_eq])
    _load(h, cost, A, row_lo, row_hi, lower, upper)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return np.array(h.getSolution().col_value)


def _load(h, cost, A, row_lo, row_hi, lower, upper) -> None:  # noqa: ANN001 - highspy.Highs, arrays
    """Replace ``h``'s model by min cost·x s.t. row_lo ≤ A x ≤ row_hi, lower ≤ x ≤ upper."""
    h.clearModel()
    n = len(cost)
    h.addVars(n, np.clip(lower, -_INF, _INF), np.clip(upper, -_INF, _INF))
    h.changeColsCost(n, np.arange(n, dtype=np.int32), np.asarray(cost, dtype=np.float64))
    # HiGHS's addRows wants the rows row-wise (CSR): starts, column indices, values
    nz = A != 0
    starts = np.concatenate([[0], np.cumsum(nz.sum(axis=1))[:-1]]).astype(np.int32)
    idx = np.nonzero(nz)[1].astype(np.int32)
    h.addRows(
        len(A), np.clip(row_lo, -_INF, _INF), np.clip(row_hi, -_INF, _INF), int(nz.sum()), starts, idx, A[nz]
    )


def solve_milp(
    cost: np.ndarray,
    A: np.ndarray,
    row_lo: np.ndarray,
    row_hi: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    integrality: np.ndarray,
    time_limit: float | None = None,
) -> tuple[str, np.ndarray | None]:
    """argmin cost·x s.t. row_lo ≤ A x ≤ row_hi, lower ≤ x ≤ upper, x_j integer where integrality_j
    = 1 (tolerances 1e-9), as (status, x): ("optimal", x), ("infeasible", None), or ("unknown", None)
    for anything else the solver reports. Raises :class:`SolverTimeout` at ``time_limit`` seconds
    without an optimum."""
    from rlcv.games.clock import SolverTimeout

    if highspy is None:
        from scipy.optimize import Bounds, LinearConstraint, milp

        options: dict[str, float] = {"mip_rel_gap": 0.0}
        if time_limit is not None:
            options["time_limit"] = max(float(time_limit), 1e-3)
        res = milp(
            cost,
            integrality=integrality,
            bounds=Bounds(lower, upper),
            constraints=LinearConstraint(A, row_lo, row_hi),
            options=options,
        )
        if res.status == 1:
            raise SolverTimeout
        return {0: ("optimal", res.x), 2: ("infeasible", None)}.get(res.status, ("unknown", None))
    h = _highs(_MIP_SOLVER)
    _load(h, cost, A, row_lo, row_hi, lower, upper)
    cols = np.flatnonzero(integrality).astype(np.int32)
    h.changeColsIntegrality(len(cols), cols, np.full(len(cols), highspy.HighsVarType.kInteger))
    h.setOptionValue("time_limit", float("inf") if time_limit is None else max(float(time_limit), 1e-3))
    h.run()
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kOptimal:
        return "optimal", np.array(h.getSolution().col_value)
    if status == highspy.HighsModelStatus.kTimeLimit:
        raise SolverTimeout
    return ("infeasible", None) if status == highspy.HighsModelStatus.kInfeasible else ("unknown", None)
