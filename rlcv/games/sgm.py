"""The sampled generation method (SGM) and its modified version (m-SGM) for knapsack games.

SGM. Each player p keeps a finite list S^p of pure strategies, started with its best response to every
opponent playing 0. Repeat: σ ← a NE of the finite game on S = S^1 × … × S^m (PNS,
:mod:`rlcv.games.sampled_ne`, searched in the paper's orders from the previous sampled NE); ask the
players, least recently improved first (the paper's order), for an exact best response to σ^{-p}; the
first whose gain
max_x u^p(x, σ^{-p}) − E_σ[u^p] exceeds ``tol`` appends it to S^p and the loop repeats; when nobody gains,
σ is a NE of the integer programming game (its NashConv is ≤ m·tol).

m-SGM. A NE of the game after p added x is one of the previous game unless x is in its support, so the
next sampled NE is searched only among supports that hold the newly added strategy. When the sampled
game has no such NE, m-SGM backtracks: it drops that strategy and asks the previous game's PNS for its
next equilibrium (the enumeration continues where it stopped), counting a backtrack.

The sampled game is polymatrix, so its per-support NE test is an LP for every m
(:mod:`rlcv.games.sampled_ne`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from rlcv.errors import RlcvError
from rlcv.games.best_response import SolverTimeout, best_response
from rlcv.games.knapsack import KnapsackGame
from rlcv.games.nash_conv import expected_strategies
from rlcv.games.sampled_ne import Polymatrix, ordered_pns
from rlcv.games.support_enumeration import MixedEquilibrium

METHODS = ("sgm", "m-sgm")


@dataclass
class SGMResult:
    """Outcome of :func:`solve`. strategies[p]: (s_p, n) sampled strategies; probs[p]: (s_p,)."""

    solved: bool
    method: str
    seconds: float
    iterations: int
    backtracks: int
    strategies: list[np.ndarray] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)
    payoffs: list[float] = field(default_factory=list)
    reason: str = ""

    @property
    def support_sizes(self) -> list[int]:
        return [int(np.sum(pi > 0)) for pi in self.probs]

    @property
    def pure(self) -> bool:
        return bool(self.probs) and all(s == 1 for s in self.support_sizes)


def _pns(
    game: KnapsackGame,
    S: list[list[np.ndarray]],
    forced: tuple[int, int] | None,
    previous: list[np.ndarray] | None,
    deadline: float,
) -> Iterator[MixedEquilibrium]:
    """The sampled-game solver on the current sampled strategies, in the paper's orders from the
    previous sampled NE (:mod:`rlcv.games.sampled_ne`)."""
    own, pair = game.sampled_polymatrix([np.array(s) for s in S])
    cap = [game.n + 1] * game.m  # the paper's n_I + n_C + 1 (lot-sizing: n counts every variable)
    return ordered_pns(Polymatrix(own, pair), forced=forced, previous=previous, cap=cap, deadline=deadline)


def _gain(
    game: KnapsackGame, p: int, strategies: list[np.ndarray], probs: list[np.ndarray], deadline: float
) -> tuple[float, np.ndarray]:
    xbar = expected_strategies(strategies, probs)
    br = best_response(game, p, xbar, time_limit=deadline - time.monotonic())
    return br.value - game.expected_payoff(p, strategies, probs), br.x


def _contains(rows: list[np.ndarray], x: np.ndarray) -> bool:
    return any(np.array_equal(r, x) for r in rows)


def solve(
    game: KnapsackGame,
    method: str = "m-sgm",
    time_limit: float = 3600.0,
    tol: float = 1e-6,
    max_iter: int = 10_000,
) -> SGMResult:
    """Run SGM or m-SGM; a time-out or iteration cap returns ``solved=False`` with the last sampled state.

    Raises :class:`RlcvError` for an unknown method or a player without feasible strategies.
    """
    if method not in METHODS:
        raise RlcvError(f"unknown method '{method}'; choose one of {', '.join(METHODS)}.")
    start = time.monotonic()
    deadline = start + time_limit
    S: list[list[np.ndarray]] = [[] for _ in range(game.m)]
    it = 0
    back = 0
    ne: MixedEquilibrium | None = None
    order = list(range(game.m))  # players asked for a best response, least recently improved first
    # m-SGM stack: one PNS generator per sampled game, with the player who added that game's last strategy.
    stack: list[tuple[Iterator[MixedEquilibrium], int]] = []

    def result(solved: bool, reason: str = "") -> SGMResult:
        strategies = [np.array(s).reshape(len(s), game.n) for s in S]
        if any(len(s) == 0 for s in S):  # stopped before every player had a strategy: no profile
            return SGMResult(False, method, time.monotonic() - start, it, back, strategies, [], [], reason)
        # Without a sampled NE yet (time-out inside the first PNS), report the uniform profile.
        if ne is None:
            probs = [np.full(len(s), 1.0 / len(s)) for s in S]
        else:  # stopped after a strategy was added: the last sampled NE puts 0 on the newer ones
            probs = [np.pad(q, (0, len(s) - len(q))) for q, s in zip(ne.probs, S, strict=True)]
        return SGMResult(
            solved=solved,
            method=method,
            seconds=time.monotonic() - start,
            iterations=it,
            backtracks=back,
            strategies=strategies,
            probs=probs,
            payoffs=[game.expected_payoff(p, strategies, probs) for p in range(game.m)],
            reason=reason,
        )

    try:
        zeros = [np.zeros(game.n) for _ in range(game.m)]
        for p in range(game.m):
            S[p].append(best_response(game, p, zeros, time_limit=deadline - time.monotonic()).x)
        forced: tuple[int, int] | None = (game.m - 1, 0)  # the paper's first node: a trivial constraint
        previous: list[np.ndarray] | None = None  # the last sampled NE's probabilities (search order)
        while it < max_iter:
            it += 1
            if method == "sgm":
                ne = next(_pns(game, S, None, previous, deadline), None)
                if ne is None:  # cannot happen for a finite game (Nash); guards against LP tolerance trouble
                    return result(False, "PNS found no equilibrium of the sampled game")
            else:
                stack.append((_pns(game, S, forced, previous, deadline), forced[0] if forced else 0))
                ne = next(stack[-1][0], None)
                while ne is None:
                    # Backtrack: drop the game's newest strategy, take the previous game's next NE.
                    _, who = stack.pop()
                    if not stack:
                        return result(False, "m-SGM backtracked past the first sampled game")
                    S[who].pop()
                    back += 1
                    ne = next(stack[-1][0], None)
            sampled, probs = [np.array(s) for s in S], list(ne.probs)
            previous = probs
            added = False
            for p in list(order):
                gain, x = _gain(game, p, sampled, probs, deadline)
                if gain > tol and not _contains(S[p], x):
                    S[p].append(x)
                    forced = (p, len(S[p]) - 1)
                    order.remove(p)  # the paper's order: the player who just added is asked last
                    order.append(p)
                    added = True
                    break
            if not added:
                return result(True)
        return result(False, f"no equilibrium within {max_iter} iterations")
    except SolverTimeout:
        return result(False, f"time limit of {time_limit:g} s reached")
