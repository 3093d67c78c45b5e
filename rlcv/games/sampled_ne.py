"""The sampled-game NE solver of SGM / m-SGM: support enumeration in the paper's orders.

The sampled game of a knapsack (or lot-sizing) game is a *polymatrix* game (:meth:`sampled_polymatrix`):
u^p(a) = own[p][a_p] + Σ_{k≠p} pair[p][k][a_p, a_k]. Two consequences drive this solver.

1. The NE test of a support profile (S_0, …, S_{m−1}) is an LP for every m, since p's expected payoff
   own[p][a] + Σ_k pair[p][k][a, S_k]·σ_k is linear in the opponents' mixes:

       pair-terms(a) − v_p = −own[p][a]  (a ∈ S_p),   ≤ −own[p][a]  (a ∉ S_p),   Σ σ_p = 1,  σ ≥ 0.

   (m = 2: it splits into one LP per player, :func:`support_equilibrium` with its square-system fast
   path; m ≥ 3: one joint LP; HiGHS, :mod:`rlcv.games.lp`.) As in the paper, σ ≥ 0 suffices;
   the LP maximises min σ so that a profile with every support action played is preferred.
2. Conditional dominance of a given opponents' action sets R_k (a' beats a against every profile of
   Π R_k) is separable: own[a'] − own[a] + Σ_k min_{j ∈ R_k} (pair[p][k][a', j] − pair[p][k][a, j]) > 0.

Orders (the paper's code, "Heuristic 6" and "Heuristic II"). Given the previous sampled NE with support
sizes z_p: support-size profiles x (1 ≤ x_p ≤ min(s_p, n + 1)) sorted, stably from the product order, by
(|x_0 − x_1|, max_p |z_p − x_p|, max_p |z_p + 1 − x_p|, Σx) for m = 2 and by (max_p |z_p − x_p|,
max_p |z_p + 1 − x_p|, Σx, max_{p,q} |x_p − x_q|) for m ≥ 3 — the search starts near the previous
equilibrium's sizes. Each player's strategies are sorted by their previous probability (new ones 0),
ascending, and candidate supports (the combinations of that list; with a forced strategy, combinations
of the others plus it) are tried from the last one: highest previous probabilities first. Players are
fixed one after another (recursive backtracking); after each choice the remaining candidate lists are
filtered by iterated removal of conditionally dominated strategies (the paper's ``RS``), and a choice
whose own strategies become dominated is dropped.

:func:`ordered_pns` yields the equilibria in that order; ``playable`` keeps strategies in the game (as
deviations that must not pay) without letting them into a support, and ``start`` resumes at a size
profile — how m-SGM re-solves an older game after a backtrack (:mod:`rlcv.games.sgm`).
:func:`first_equilibrium` is what SGM / m-SGM call: the enumeration up to a work budget, then one MILP
(:mod:`rlcv.games.sampled_milp`) — on a fresh m = 3, n = 20 game the enumeration alone spent 139,683
support LPs on one sampled game without reaching the equilibrium's supports.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from rlcv.games.clock import Deadline, as_deadline
from rlcv.games.lp import solve_lp
from rlcv.games.sampled_milp import milp_equilibrium
from rlcv.games.support_enumeration import (
    MixedEquilibrium,
    _beat_masks,
    _lp_mix,
    support_equilibrium,
    unique_mix_batch,
)

_FLOOR = -1e-9  # σ ≥ 0 (up to LP rounding) is enough, as in the paper's feasibility problem
_CHUNK = 64  # supports whose square systems are solved in one stacked call
_PREV_POSITIVE = 1e-5  # a previous probability above this counts in the previous support size (paper)
# Units of enumeration work per sampled game before the MILP is asked (:func:`first_equilibrium`): for
# m = 2 a unit is one stacked square-system test (~0.1 ms), for m ≥ 3 one joint LP or RS reduction
# (~1 ms). On the paper's instances the enumeration needs at most 35,001 units (m = 2, n = 40,
# instance 9; every other m = 2 file of n = 20, 40, 80 but n = 80 instance 4 ≤ 10,331) and 3,175
# (m = 3, n = 20, instance 6); where they exceed these budgets the MILP found the same equilibrium.
ENUMERATION_BUDGET = {2: 20_000, 3: 1_000}


def default_budget(m: int) -> int:
    return ENUMERATION_BUDGET[min(m, 3)]


class Polymatrix:
    """own[p]: (s_p,); pair[p][k]: (s_p, s_k) for k ≠ p (see the module docstring)."""

    def __init__(self, own: Sequence[np.ndarray], pair: Sequence[Sequence[np.ndarray]]) -> None:
        self.own = [np.asarray(o, dtype=np.float64) for o in own]
        self.pair = [[np.asarray(q, dtype=np.float64) for q in row] for row in pair]
        self.m = len(self.own)
        self.sizes = [len(o) for o in self.own]

    def bimatrix(self) -> tuple[np.ndarray, np.ndarray]:
        """(U1, U2), both (s_0, s_1), for m = 2."""
        U1 = self.own[0][:, None] + self.pair[0][1]
        U2 = self.own[1][None, :] + self.pair[1][0].T
        return U1, U2

    def dominated(self, p: int, sets: Sequence[np.ndarray]) -> np.ndarray:
        """(s_p,) bool: a is conditionally dominated given the opponents' action sets ``sets[k]``."""
        margin = self.own[p][None, :] - self.own[p][:, None]  # [a, a'] = own[a'] − own[a]
        for k in range(self.m):
            if k == p:
                continue
            P = self.pair[p][k][:, sets[k]]  # (s_p, r)
            margin = margin + np.min(P[None, :, :] - P[:, None, :], axis=2)
        return np.any(margin > 0, axis=1)


def size_order(
    sizes: Sequence[int], prev: Sequence[int], cap: Sequence[int] | None = None
) -> list[tuple[int, ...]]:
    """Support-size profiles in the paper's order (module docstring); ``prev`` = previous NE sizes."""
    cap = cap if cap is not None else sizes
    ranges = [range(1, min(s, c) + 1) for s, c in zip(sizes, cap, strict=True)]
    profiles = list(itertools.product(*ranges))
    m = len(sizes)

    def near(x: tuple[int, ...], shift: int) -> int:
        return max(abs(prev[p] + shift - x[p]) for p in range(m))

    if m == 2:
        return sorted(profiles, key=lambda x: (abs(x[0] - x[1]), near(x, 0), near(x, 1), x[0] + x[1]))
    return sorted(
        profiles,
        key=lambda x: (near(x, 0), near(x, 1), sum(x), max(abs(a - b) for a in x for b in x)),
    )


def _rs(poly: Polymatrix, D: list[np.ndarray]) -> list[np.ndarray] | None:
    """Iterated removal of candidate supports holding a conditionally dominated strategy (the paper's
    ``RS``); D[p]: (count, k_p) candidate supports. None when a player has none left."""
    changed = True
    while changed:
        changed = False
        for p in range(poly.m):
            unions = [np.unique(d) for d in D]
            dom = poly.dominated(p, unions)
            if np.any(dom[unions[p]]):
                D[p] = D[p][~np.any(dom[D[p]], axis=1)]
                changed = True
                if len(D[p]) == 0:
                    return None
    return D


def _joint_lp(poly: Polymatrix, supports: Sequence[tuple[int, ...]]) -> MixedEquilibrium | None:
    """The m-player support LP of the module docstring (maximise min σ); None when infeasible.
    Rows: per player its support rows (equalities) and simplex row, its other rows (≤), then t ≤ σ_j."""
    m = poly.m
    ks = [len(s) for s in supports]
    offs = np.cumsum([0, *ks])
    nsig = int(offs[-1])
    nv = nsig + m + 1  # σ, v_0..v_{m−1}, t
    eq_rows, eq_rhs, ub_rows, ub_rhs = [], [], [], []
    for p in range(m):
        block = np.zeros((poly.sizes[p], nv))
        for k in range(m):
            if k != p:
                block[:, offs[k] : offs[k + 1]] = poly.pair[p][k][:, list(supports[k])]
        block[:, nsig + p] = -1.0
        played = np.zeros(poly.sizes[p], dtype=bool)
        played[list(supports[p])] = True
        simplex = np.zeros((1, nv))
        simplex[0, offs[p] : offs[p + 1]] = 1.0
        eq_rows += [block[played], simplex]
        eq_rhs += [-poly.own[p][played], np.ones(1)]
        ub_rows.append(block[~played])
        ub_rhs.append(-poly.own[p][~played])
    floor_rows = np.zeros((nsig, nv))  # t − σ_j ≤ 0
    floor_rows[np.arange(nsig), np.arange(nsig)] = -1.0
    floor_rows[:, -1] = 1.0
    ub_rows.append(floor_rows)
    ub_rhs.append(np.zeros(nsig))
    cost = np.zeros(nv)
    cost[-1] = -1.0
    lower = np.array([0.0] * nsig + [-np.inf] * m + [-np.inf])
    upper = np.array([1.0] * nsig + [np.inf] * m + [1.0])
    sol = solve_lp(
        cost,
        np.vstack(ub_rows),
        np.concatenate(ub_rhs),
        np.vstack(eq_rows),
        np.concatenate(eq_rhs),
        lower,
        upper,
    )
    if sol is None or sol[-1] <= _FLOOR:
        return None
    probs = []
    for p in range(m):
        full = np.zeros(poly.sizes[p])
        sig = np.clip(sol[offs[p] : offs[p + 1]], 0.0, None)
        full[list(supports[p])] = sig / sig.sum()
        probs.append(full)
    return MixedEquilibrium(probs=tuple(probs), supports=tuple(tuple(s) for s in supports))


def _candidates(order: list[int], k: int, forced: int | None) -> np.ndarray:
    """(count, k) candidate supports in the paper's list order (combinations of ``order``, + forced)."""
    if forced is None:
        combos = list(itertools.combinations(order, k))
    else:
        combos = [(*c, forced) for c in itertools.combinations(order, k - 1)]
    return np.array(combos, dtype=np.int64).reshape(len(combos), k)


class _BudgetSpent(Exception):
    """The enumeration used its work budget (:func:`first_equilibrium` then asks the MILP)."""


class _Work:
    """The search's meter: support tests and RS reductions counted against ``budget`` (None: no
    limit), the deadline checked as they are spent."""

    def __init__(self, deadline: Deadline | None, budget: int | None = None) -> None:
        self.deadline, self.budget, self.used = deadline, budget, 0

    def spend(self, n: int = 1) -> None:
        self.used += n
        if self.deadline is not None:
            self.deadline.check()
        if self.budget is not None and self.used > self.budget:
            raise _BudgetSpent


def _last_of_two(
    U1: np.ndarray,
    U2: np.ndarray,
    cand: np.ndarray,
    S1: tuple[int, ...],
    masks: np.ndarray,
    work: _Work,
) -> Iterator[MixedEquilibrium]:
    """m = 2, player 1's candidates (in trial order) for a fixed S_0: RS reduces to "is an action of
    S_0 dominated given S_1?" (S_1's actions were filtered given S_0 one level up), a bit-mask test;
    the survivors' square-system tests run stacked (:func:`unique_mix_batch`), in chunks, and the
    supports are then taken in order — the same answers as one :func:`support_equilibrium` each."""
    bits = np.asarray(np.sum(np.left_shift(np.uint64(1), cand.astype(np.uint64)), axis=1, dtype=np.uint64))
    beaten = (np.asarray(masks)[None, :] & bits[:, None]) == bits[:, None]
    cand = cand[~np.any(beaten, axis=1)]
    own = np.array(S1, dtype=np.int64)
    for start in range(0, len(cand), _CHUNK):
        part = cand[start : start + _CHUNK]
        work.spend(len(part))
        fixed = np.broadcast_to(own, (len(part), len(own)))
        ys = unique_mix_batch(U1, fixed, part, _FLOOR)
        xs = unique_mix_batch(U2.T, part, fixed, _FLOOR)
        for S2_arr, y, x in zip(part, ys, xs, strict=True):
            if y is None or x is None:
                continue
            S2 = tuple(int(a) for a in S2_arr)
            if y is False:
                y = _lp_mix(U1, S1, S2, _FLOOR)
                if y is None:
                    continue
            if x is False:
                x = _lp_mix(U2.T, S2, S1, _FLOOR)
                if x is None:
                    continue
            p1, p2 = np.zeros(U1.shape[0]), np.zeros(U1.shape[1])
            p1[list(S1)], p2[list(S2)] = x, y
            yield MixedEquilibrium(probs=(p1, p2), supports=(S1, S2))


def support_test(poly: Polymatrix) -> Callable[[Sequence[tuple[int, ...]]], MixedEquilibrium | None]:
    """The exact NE test of one support profile (module docstring): two small LPs or square systems for
    m = 2, one joint LP for m ≥ 3."""
    if poly.m == 2:
        U1, U2 = poly.bimatrix()
        return lambda chosen: support_equilibrium(U1, U2, chosen[0], chosen[1], floor=_FLOOR)
    return lambda chosen: _joint_lp(poly, chosen)


def _orders(
    poly: Polymatrix, prev: list[np.ndarray], forced: tuple[int, int] | None, playable: Sequence[int]
) -> list[list[int]]:
    """Each player's playable strategies by previous probability, ascending (ties in index order)."""
    orders = []
    for p in range(poly.m):
        aux = np.zeros(playable[p])
        aux[: min(len(prev[p]), playable[p])] = prev[p][: playable[p]]
        idx = [i for i in range(playable[p]) if not (forced is not None and forced == (p, i))]
        orders.append([idx[j] for j in np.argsort(aux[idx], kind="stable")])
    return orders


def _previous(m: int, previous: Sequence[np.ndarray] | None) -> list[np.ndarray]:
    return [np.zeros(0) for _ in range(m)] if previous is None else [np.asarray(q) for q in previous]


def _profiles(
    prev: list[np.ndarray], cap: Sequence[int] | None, playable: Sequence[int]
) -> list[tuple[int, ...]]:
    """The support-size profiles in the paper's order around the previous NE's sizes."""
    return size_order(playable, [int(np.sum(q > _PREV_POSITIVE)) for q in prev], cap)


def _indexed_pns(
    poly: Polymatrix,
    forced: tuple[int, int] | None,
    previous: Sequence[np.ndarray] | None,
    cap: Sequence[int] | None,
    playable: Sequence[int],
    start: int,
    work: _Work,
) -> Iterator[tuple[int, MixedEquilibrium]]:
    """(size-profile index, NE) in the paper's order from profile ``start`` on (:func:`ordered_pns`)."""
    m = poly.m
    prev = _previous(m, previous)
    orders = _orders(poly, prev, forced, playable)
    bimatrix = poly.bimatrix() if m == 2 else None
    check = support_test(poly)

    def search(D: list[np.ndarray], chosen: list[tuple[int, ...]]) -> Iterator[MixedEquilibrium]:
        i = len(chosen)
        if i == m:
            work.spend()
            ne = check(chosen)
            if ne is not None:
                yield ne
            return
        masks = _beat_masks(bimatrix[0], chosen[0]) if bimatrix is not None and i == 1 else None
        if bimatrix is not None and masks is not None:
            yield from _last_of_two(*bimatrix, D[1][::-1], chosen[0], masks, work)
            return
        for r in reversed(range(len(D[i]))):
            work.spend()
            d = tuple(int(a) for a in D[i][r])
            fixed = [np.array([c], dtype=np.int64) for c in (*chosen, d)]
            new = _rs(poly, [*fixed, *(x.copy() for x in D[i + 1 :])])
            if new is not None:
                yield from search(new, [*chosen, d])

    profiles = _profiles(prev, cap, playable)
    for j in range(start, len(profiles)):
        ks = profiles[j]
        D = [
            _candidates(orders[p], ks[p], forced[1] if forced is not None and forced[0] == p else None)
            for p in range(m)
        ]
        if any(len(d) == 0 for d in D):
            continue
        for ne in search(D, []):
            yield j, ne


def ordered_pns(
    poly: Polymatrix,
    forced: tuple[int, int] | None = None,
    previous: Sequence[np.ndarray] | None = None,
    cap: Sequence[int] | None = None,
    deadline: Deadline | float | None = None,
    playable: Sequence[int] | None = None,
    start: int = 0,
) -> Iterator[MixedEquilibrium]:
    """Equilibria of the sampled game in the paper's order (module docstring).

    ``forced = (p, i)``: only supports in which p plays i (m-SGM). ``previous[p]``: the previous sampled
    NE's probabilities over p's first strategies (shorter than s_p when p has new ones; None: none yet).
    ``cap[p]``: largest support size tried (the paper: n_I + n_C + 1). ``playable[p]``: only p's first
    playable[p] strategies may be in a support; the others stay in the game as deviations that must not
    pay (m-SGM's backtracking; default: all). ``start``: the first size profile tried (an index into the
    order). Past ``deadline`` (a :class:`Deadline`, or a ``time.monotonic()`` reading) raise
    :class:`SolverTimeout`.
    """
    play = list(poly.sizes) if playable is None else list(playable)
    work = _Work(as_deadline(deadline))
    for _, ne in _indexed_pns(poly, forced, previous, cap, play, start, work):
        yield ne


@dataclass(frozen=True)
class Found:
    """:func:`first_equilibrium`'s answer: the NE, the index of its size profile in the paper's order
    (where a later search of the same game resumes), and which search found it."""

    ne: MixedEquilibrium
    profile: int
    by: str  # "enumeration" or "milp"
    work: int  # enumeration work spent (support tests + RS reductions)


def first_equilibrium(
    poly: Polymatrix,
    forced: tuple[int, int] | None = None,
    previous: Sequence[np.ndarray] | None = None,
    cap: Sequence[int] | None = None,
    deadline: Deadline | None = None,
    playable: Sequence[int] | None = None,
    start: int = 0,
    budget: int | None = -1,
) -> Found | None:
    """The first equilibrium of :func:`ordered_pns` when the enumeration finds it within ``budget`` units
    of work (support tests and RS reductions; None: no limit); past the budget, one MILP
    (:mod:`rlcv.games.sampled_milp`) finds an equilibrium or shows there is none, and only where the
    MILP cannot decide does the enumeration go on to the end. None: no equilibrium with these
    constraints (m-SGM then backtracks). ``budget = -1``: :func:`default_budget`."""
    play = list(poly.sizes) if playable is None else list(playable)
    budget = default_budget(poly.m) if budget == -1 else budget
    try:
        work = _Work(deadline, budget)
        for j, ne in _indexed_pns(poly, forced, previous, cap, play, start, work):
            return Found(ne, j, "enumeration", work.used)
        return None
    except _BudgetSpent:
        pass
    found = milp_equilibrium(poly.own, poly.pair, play, forced, support_test(poly), deadline)
    if found is None:
        return None
    if isinstance(found, MixedEquilibrium):
        sizes = tuple(len(s) for s in found.supports)
        profiles = _profiles(_previous(poly.m, previous), cap, play)
        return Found(found, profiles.index(sizes) if sizes in profiles else start, "milp", work.used)
    spent = work.used
    work = _Work(deadline)
    for j, ne in _indexed_pns(poly, forced, previous, cap, play, start, work):
        return Found(ne, j, "enumeration", spent + work.used)
    return None
