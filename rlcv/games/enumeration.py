"""Full enumeration + PNS: the paper's baseline for SGM / m-SGM on small knapsack games.

Every feasible pure strategy of every player is listed,

    X^p = { x ∈ {0,1}^n : A^p x ≤ b^p },   X^p as an (s_p, n) 0/1 array, s_p ≤ 2^n,

the payoff tensors of the finite game on X^1 × … × X^m are built
(:meth:`KnapsackGame.sampled_payoffs`, U[p]: (s_1, …, s_m)), and the first equilibrium of the
Porter–Nudelman–Shoham enumeration (the same sampled-game solver SGM uses,
:mod:`rlcv.games.support_enumeration`) is returned. Because every pure strategy is in the finite game, a
NE of it is a NE of the integer programming game (NashConv 0 up to LP rounding). The cost is the point:
s_p grows as 2^n and PNS over supports of X^1 × X^2 grows combinatorially, which is what the paper's
table 08 (m = 2, n = 10: 98 s mean vs m-SGM 0.02 s) measures.
"""

from __future__ import annotations

import itertools
import time

import numpy as np

from rlcv.errors import RlcvError
from rlcv.games.best_response import SolverTimeout
from rlcv.games.knapsack import KnapsackGame
from rlcv.games.lot_sizing import LotSizingGame
from rlcv.games.sgm import SGMResult
from rlcv.games.support_enumeration import pns
from rlcv.games.support_enumeration_nplayer import pns_n

MAX_ITEMS = 16  # 2^16 candidate rows per player; beyond that the bimatrix alone does not fit the memory


def feasible_strategies(game: KnapsackGame, p: int) -> np.ndarray:
    """(s_p, n) float64: every x ∈ {0,1}^n with A^p x ≤ b^p, in lexicographic order (item 0 most
    significant). Raises :class:`RlcvError` for n > MAX_ITEMS or a player without a feasible x."""
    if isinstance(game, LotSizingGame):
        raise RlcvError("full enumeration needs a knapsack game (binary strategies), not a lot-sizing game.")
    if game.n > MAX_ITEMS:
        raise RlcvError(
            f"full enumeration lists 2^n strategies per player; n = {game.n} > {MAX_ITEMS}: "
            "use m-sgm instead."
        )
    X = np.array(list(itertools.product((0.0, 1.0), repeat=game.n)))  # (2^n, n)
    ok = np.all(X @ game.A[p].T <= game.b[p] + 1e-9, axis=1)  # (2^n,)
    if not ok.any():
        raise RlcvError(f"player {p} has no feasible strategy (A^p x <= b^p has no 0/1 solution).")
    return X[ok]


def solve_enumeration(game: KnapsackGame, time_limit: float = 3600.0) -> tuple[SGMResult, list[int]]:
    """First PNS equilibrium of the fully enumerated game, within ``time_limit`` seconds (enumeration,
    payoff tensors and PNS all counted).

    Returns (result, feasible_sizes): ``result.strategies[p]`` holds only the support of the NE (the full
    lists are 2^n long) and ``result.probs[p]`` its probabilities; ``feasible_sizes[p] = s_p``. A time-out
    is ``solved=False`` with no profile; ``iterations`` is 1 (one finite game), ``backtracks`` 0.
    """
    start, cpu0 = time.monotonic(), time.process_time()
    deadline = start + time_limit
    X = [feasible_strategies(game, p) for p in range(game.m)]
    sizes = [len(x) for x in X]

    def stop(reason: str) -> tuple[SGMResult, list[int]]:
        empty = [np.zeros((0, game.n)) for _ in range(game.m)]
        seconds, cpu = time.monotonic() - start, time.process_time() - cpu0
        return SGMResult(False, "enum", seconds, 1, 0, empty, [], [], reason, cpu), sizes

    if float(np.prod(sizes, dtype=np.float64)) * game.m > 2e8:  # > 1.6 GB of float64 payoff tensors
        return stop(f"the enumerated game has {' x '.join(map(str, sizes))} profiles: too large to build")
    U = game.sampled_payoffs(X)
    solver = pns(U[0], U[1], deadline=deadline) if game.m == 2 else pns_n(U, deadline=deadline)
    try:
        ne = next(solver, None)
    except SolverTimeout:
        return stop(f"time limit of {time_limit:g} s reached")
    if ne is None:  # a finite game always has a NE; this guards against LP tolerance trouble
        return stop("PNS found no equilibrium of the enumerated game")
    supports = [np.flatnonzero(q > 0) for q in ne.probs]
    strategies = [x[s] for x, s in zip(X, supports, strict=True)]
    probs = [q[s] / q[s].sum() for q, s in zip(ne.probs, supports, strict=True)]
    seconds = time.monotonic() - start
    payoffs = [game.expected_payoff(p, strategies, probs) for p in range(game.m)]
    cpu = time.process_time() - cpu0
    return SGMResult(True, "enum", seconds, 1, 0, strategies, probs, payoffs, "", cpu), sizes
