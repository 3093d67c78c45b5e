"""The sampled generation method (SGM) and its modified version (m-SGM) for knapsack games.

SGM. Each player p keeps a finite list S^p of pure strategies, started with its best response to every
opponent playing 0. Repeat: σ ← a NE of the finite game on S = S^1 × … × S^m (:mod:`rlcv.games.sampled_ne`,
searched in the paper's orders from the previous sampled NE); ask the players, least recently improved
first (the paper's order), for an exact best response to σ^{-p}; the first whose gain
max_x u^p(x, σ^{-p}) − E_σ[u^p] exceeds ``tol`` appends it to S^p and the loop repeats; when nobody gains,
σ is a NE of the integer programming game (its NashConv is ≤ m·tol).

m-SGM. A NE of the game after p added x is one of the previous game unless x is in its support, so the
next sampled NE is searched only among supports that hold the newly added strategy (the *forced* one).
Each sampled game is a frame on a stack: its forced strategy, the strategies it may play (those listed
when it was made), the previous NE that orders its search, and the size profile where its NE was found.
When a sampled game has no NE with its forced strategy, m-SGM backtracks as the paper's code does: the
frame is dropped and its parent is solved again — but the forced strategy x stays in the sampled game
as a *constraint*: the parent may not play it, and x must not pay against the parent's new NE
(v_p ≥ u_p(x, σ^{-p})). The parent's search resumes at the size profile of its previous NE (which x
now rules out, since x was p's profitable deviation from it), so the NE it finds next is an
equilibrium of the whole sampled game. Sampled strategies are never removed.

Each sampled game is searched by support enumeration in the paper's orders up to a work budget, then
by one MILP (:func:`rlcv.games.sampled_ne.first_equilibrium`); either answer passes the same exact support
LP, and the final σ is graded by exact best responses.

Budgets: ``time_limit`` seconds on ``clock`` ("wall": time.monotonic; "cpu": this process's CPU time).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from rlcv.errors import RlcvError
from rlcv.games.best_response import best_response
from rlcv.games.clock import CLOCKS, Deadline, SolverTimeout
from rlcv.games.knapsack import KnapsackGame
from rlcv.games.nash_conv import expected_strategies
from rlcv.games.sampled_ne import Found, Polymatrix, first_equilibrium
from rlcv.games.support_enumeration import MixedEquilibrium

METHODS = ("sgm", "m-sgm")


@dataclass
class SGMResult:
    """Outcome of :func:`solve`. strategies[p]: (s_p, n) sampled strategies; probs[p]: (s_p,).
    ``seconds``: wall-clock; ``cpu_seconds``: CPU time of this process; ``milp_solves``: sampled games
    whose NE search went past the enumeration budget to the MILP."""

    solved: bool
    method: str
    seconds: float
    iterations: int
    backtracks: int
    strategies: list[np.ndarray] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)
    payoffs: list[float] = field(default_factory=list)
    reason: str = ""
    cpu_seconds: float = 0.0
    milp_solves: int = 0

    @property
    def support_sizes(self) -> list[int]:
        return [int(np.sum(pi > 0)) for pi in self.probs]

    @property
    def pure(self) -> bool:
        return bool(self.probs) and all(s == 1 for s in self.support_sizes)


@dataclass
class _Frame:
    """One sampled game of m-SGM (module docstring): supports hold ``forced`` and only the first
    ``playable[p]`` strategies of p; ``previous`` (the NE before it) orders the search, which starts at
    size profile ``start``."""

    forced: tuple[int, int] | None
    previous: list[np.ndarray] | None
    playable: list[int]
    start: int = 0


def _search(
    game: KnapsackGame, S: list[list[np.ndarray]], frame: _Frame, deadline: Deadline, budget: int | None
) -> Found | None:
    """The frame's first NE on the current sampled strategies (all of them in the game)."""
    own, pair = game.sampled_polymatrix([np.array(s) for s in S])
    cap = [game.n + 1] * game.m  # the paper's n_I + n_C + 1 (lot-sizing: n counts every variable)
    return first_equilibrium(
        Polymatrix(own, pair),
        forced=frame.forced,
        previous=frame.previous,
        cap=cap,
        deadline=deadline,
        playable=frame.playable,
        start=frame.start,
        budget=budget,
    )


def _gain(
    game: KnapsackGame, p: int, strategies: list[np.ndarray], probs: list[np.ndarray], deadline: Deadline
) -> tuple[float, np.ndarray]:
    xbar = expected_strategies(strategies, probs)
    br = best_response(game, p, xbar, time_limit=deadline.left())
    return br.value - game.expected_payoff(p, strategies, probs), br.x


def _contains(rows: list[np.ndarray], x: np.ndarray) -> bool:
    return any(np.array_equal(r, x) for r in rows)


class _Run:
    """The state of one :func:`solve`: sampled strategies, counters, clocks, the last sampled NE."""

    def __init__(self, game: KnapsackGame, method: str, time_limit: float, clock: str) -> None:
        self.game, self.method = game, method
        self.wall0, self.cpu0 = time.monotonic(), time.process_time()
        self.deadline = Deadline.after(time_limit, clock)
        self.S: list[list[np.ndarray]] = [[] for _ in range(game.m)]
        self.it = self.back = self.milp = 0
        self.ne: MixedEquilibrium | None = None

    def result(self, solved: bool, reason: str = "") -> SGMResult:
        game = self.game
        strategies = [np.array(s).reshape(len(s), game.n) for s in self.S]
        out = SGMResult(
            False, self.method, time.monotonic() - self.wall0, self.it, self.back, strategies, [], [], reason,
            time.process_time() - self.cpu0, self.milp,
        )  # fmt: skip
        if any(len(s) == 0 for s in self.S):  # stopped before every player had a strategy: no profile
            return out
        # Without a sampled NE yet (time-out inside the first search), report the uniform profile; after
        # a strategy was added, the last sampled NE puts 0 on the newer ones.
        if self.ne is None:
            out.probs = [np.full(len(s), 1.0 / len(s)) for s in self.S]
        else:
            out.probs = [np.pad(q, (0, len(s) - len(q))) for q, s in zip(self.ne.probs, self.S, strict=True)]
        out.solved = solved
        out.payoffs = [game.expected_payoff(p, strategies, out.probs) for p in range(game.m)]
        return out


def solve(
    game: KnapsackGame,
    method: str = "m-sgm",
    time_limit: float = 3600.0,
    tol: float = 1e-6,
    max_iter: int = 10_000,
    clock: str = "wall",
    budget: int | None = -1,
) -> SGMResult:
    """Run SGM or m-SGM; a time-out or iteration cap returns ``solved=False`` with the last sampled state.
    ``budget``: enumeration work per sampled game before the MILP (None: enumeration only; −1: the
    default of :func:`rlcv.games.sampled_ne.default_budget`).
    Iterations count sampled games solved, a failed one (before a backtrack) included, as the paper does.

    Raises :class:`RlcvError` for an unknown method or clock, or a player without feasible strategies.
    """
    if method not in METHODS:
        raise RlcvError(f"unknown method '{method}'; choose one of {', '.join(METHODS)}.")
    if clock not in CLOCKS:
        raise RlcvError(f"unknown clock '{clock}'; choose one of {', '.join(CLOCKS)}.")
    run = _Run(game, method, time_limit, clock)
    try:
        return _iterate(run, tol, max_iter, budget)
    except SolverTimeout:
        return run.result(False, f"time limit of {time_limit:g} s ({clock}) reached")


def _iterate(run: _Run, tol: float, max_iter: int, budget: int | None) -> SGMResult:
    game, S, deadline = run.game, run.S, run.deadline
    zeros = [np.zeros(game.n) for _ in range(game.m)]
    for p in range(game.m):
        S[p].append(best_response(game, p, zeros, time_limit=deadline.left()).x)
    order = list(range(game.m))  # players asked for a best response, least recently improved first
    # the paper's first node: player m − 1's only strategy forced (a trivial constraint)
    frame = _Frame((game.m - 1, 0) if run.method == "m-sgm" else None, None, [1] * game.m)
    parents: list[_Frame] = []  # m-SGM's stack below ``frame``
    while run.it < max_iter:
        run.it += 1
        found = _search(game, S, frame, deadline, budget)
        if found is None:
            if run.method == "sgm":  # a finite game has a NE; this guards against LP tolerance trouble
                return run.result(False, "the search found no equilibrium of the sampled game")
            if not parents:
                return run.result(False, "m-SGM backtracked past the first sampled game")
            frame = parents.pop()  # its child's forced strategy stays in S as a constraint
            run.back += 1
            continue
        run.milp += found.by == "milp"
        frame.start = found.profile
        run.ne = found.ne
        sampled, probs = [np.array(s) for s in S], list(found.ne.probs)
        for p in list(order):
            gain, x = _gain(game, p, sampled, probs, deadline)
            if gain > tol and not _contains(S[p], x):
                S[p].append(x)
                order.remove(p)  # the paper's order: the player who just added is asked last
                order.append(p)
                playable = [len(s) for s in S]
                if run.method == "m-sgm":
                    parents.append(frame)
                    frame = _Frame((p, len(S[p]) - 1), probs, playable)
                else:
                    frame = _Frame(None, probs, playable)
                break
        else:
            return run.result(True)
    return run.result(False, f"no equilibrium within {max_iter} iterations")
