"""Exact best responses: one binary programme per query, solved by HiGHS (``scipy.optimize.milp``).

Against opponents' mixed strategies σ^{-p} (expected strategies x̄^k), player p solves

    max_x  g·x   s.t.  A^p x ≤ b^p,  x ∈ {0,1}^n,     g = c^p + Σ_{k≠p} (Q^p_k)ᵀ x̄^k

(:meth:`KnapsackGame.linear_objective`). HiGHS runs with a zero relative and absolute MIP gap so that the
answer is optimal, not within the default 0.01 %; the value is recomputed from the rounded binary x.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from rlcv.errors import RlcvError
from rlcv.games.clock import SolverTimeout
from rlcv.games.knapsack import KnapsackGame

__all__ = ["BestResponse", "SolverTimeout", "best_response"]


@dataclass(frozen=True)
class BestResponse:
    x: np.ndarray  # (n,) float64 of 0/1
    value: float  # g·x


def best_response(
    game: KnapsackGame, p: int, others: Sequence[np.ndarray | None], time_limit: float | None = None
) -> BestResponse:
    """An optimal x^p against expected opponent strategies ``others`` (``others[p]`` ignored).

    Raises :class:`RlcvError` when player p has no feasible strategy, :class:`SolverTimeout` when HiGHS
    stops at ``time_limit`` seconds without proving optimality.
    """
    from rlcv.games.lot_sizing import LotSizingGame  # the lot-sizing game's oracle is a DP, not a MILP

    if isinstance(game, LotSizingGame):
        x, value = game.best_response_dp(p, others)
        return BestResponse(x=x, value=value)
    g = game.linear_objective(p, others)
    options: dict[str, float | bool] = {"mip_rel_gap": 0.0}
    if time_limit is not None:
        if time_limit <= 0:
            raise SolverTimeout
        options["time_limit"] = float(time_limit)
    res = milp(
        -g,
        integrality=np.ones(game.n),
        bounds=Bounds(0, 1),
        constraints=LinearConstraint(game.A[p], -np.inf, game.b[p]),
        options=options,
    )
    if res.status == 2:
        raise RlcvError(f"player {p} has no feasible strategy (A^p x ≤ b^p has no binary solution).")
    if res.status == 1:
        raise SolverTimeout
    if res.status != 0 or res.x is None:
        raise RlcvError(f"HiGHS failed on player {p}'s best response: {res.message}")
    x = np.round(res.x)
    return BestResponse(x=x, value=float(g @ x))
