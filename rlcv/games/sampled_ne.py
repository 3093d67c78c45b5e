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

:func:`ordered_pns` is a generator, so m-SGM backtracks by asking an older game's search for its next NE.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence

import numpy as np

from rlcv.games.best_response import SolverTimeout
from rlcv.games.lp import solve_lp
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
    """The m-player support LP of the module docstring (maximise min σ); None when infeasible."""
    m = poly.m
    ks = [len(s) for s in supports]
    offs = np.cumsum([0, *ks])
    nv = int(offs[-1]) + m + 1  # σ, v_0..v_{m−1}, t
    eq_rows, eq_rhs, ub_rows, ub_rhs = [], [], [], []
    for p in range(m):
        for a in range(poly.sizes[p]):
            row = np.zeros(nv)
            for k in range(m):
                if k != p:
                    row[offs[k] : offs[k + 1]] = poly.pair[p][k][a, list(supports[k])]
            row[offs[-1] + p] = -1.0
            if a in supports[p]:
                eq_rows.append(row)
                eq_rhs.append(-poly.own[p][a])
            else:
                ub_rows.append(row)
                ub_rhs.append(-poly.own[p][a])
        simplex = np.zeros(nv)
        simplex[offs[p] : offs[p + 1]] = 1.0
        eq_rows.append(simplex)
        eq_rhs.append(1.0)
    for j in range(int(offs[-1])):  # t − σ_j ≤ 0
        row = np.zeros(nv)
        row[j], row[-1] = -1.0, 1.0
        ub_rows.append(row)
        ub_rhs.append(0.0)
    cost = np.zeros(nv)
    cost[-1] = -1.0
    nsig = int(offs[-1])
    lower = np.array([0.0] * nsig + [-np.inf] * m + [-np.inf])
    upper = np.array([1.0] * nsig + [np.inf] * m + [1.0])
    a_ub, a_eq = np.array(ub_rows), np.array(eq_rows)
    sol = solve_lp(cost, a_ub, np.array(ub_rhs), a_eq, np.array(eq_rhs), lower, upper)
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


def _last_of_two(
    U1: np.ndarray,
    U2: np.ndarray,
    cand: np.ndarray,
    S1: tuple[int, ...],
    masks: np.ndarray,
    deadline: float | None,
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
        if deadline is not None and time.monotonic() > deadline:
            raise SolverTimeout
        part = cand[start : start + _CHUNK]
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


def ordered_pns(
    poly: Polymatrix,
    forced: tuple[int, int] | None = None,
    previous: Sequence[np.ndarray] | None = None,
    cap: Sequence[int] | None = None,
    deadline: float | None = None,
) -> Iterator[MixedEquilibrium]:
    """Equilibria of the sampled game in the paper's order (module docstring).

    ``forced = (p, i)``: only supports in which p plays i (m-SGM). ``previous[p]``: the previous sampled
    NE's probabilities over p's first strategies (shorter than s_p when p has new ones; None: none yet).
    ``cap[p]``: largest support size tried (the paper: n_I + n_C + 1). Past ``deadline``
    (``time.monotonic()``) raise :class:`SolverTimeout`.
    """
    m = poly.m
    sizes = poly.sizes
    prev = [np.zeros(0) for _ in range(m)] if previous is None else [np.asarray(q) for q in previous]
    prev_sizes = [int(np.sum(q > _PREV_POSITIVE)) for q in prev]
    orders = []
    for p in range(m):
        aux = np.zeros(sizes[p])
        aux[: len(prev[p])] = prev[p][: sizes[p]]
        idx = [i for i in range(sizes[p]) if not (forced is not None and forced == (p, i))]
        orders.append([idx[j] for j in np.argsort(aux[idx], kind="stable")])  # ties keep index order
    bimatrix = poly.bimatrix() if m == 2 else None

    def check(chosen: list[tuple[int, ...]]) -> MixedEquilibrium | None:
        if bimatrix is not None:
            return support_equilibrium(bimatrix[0], bimatrix[1], chosen[0], chosen[1], floor=_FLOOR)
        return _joint_lp(poly, chosen)

    def search(D: list[np.ndarray], chosen: list[tuple[int, ...]]) -> Iterator[MixedEquilibrium]:
        i = len(chosen)
        if i == m:
            ne = check(chosen)
            if ne is not None:
                yield ne
            return
        masks = _beat_masks(bimatrix[0], chosen[0]) if bimatrix is not None and i == 1 else None
        if bimatrix is not None and masks is not None:
            yield from _last_of_two(*bimatrix, D[1][::-1], chosen[0], masks, deadline)
            return
        for r in reversed(range(len(D[i]))):
            if deadline is not None and time.monotonic() > deadline:
                raise SolverTimeout
            d = tuple(int(a) for a in D[i][r])
            fixed = [np.array([c], dtype=np.int64) for c in (*chosen, d)]
            new = _rs(poly, [*fixed, *(x.copy() for x in D[i + 1 :])])
            if new is not None:
                yield from search(new, [*chosen, d])

    for ks in size_order(sizes, prev_sizes, cap):
        D = [
            _candidates(orders[p], ks[p], forced[1] if forced is not None and forced[0] == p else None)
            for p in range(m)
        ]
        if any(len(d) == 0 for d in D):
            continue
        yield from search(D, [])
