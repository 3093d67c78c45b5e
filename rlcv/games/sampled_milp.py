"""A NE of the sampled (polymatrix) game in which a given strategy is a best response, by one MILP.

The support enumeration of :mod:`rlcv.games.sampled_ne` can only show that *no* equilibrium of the
sampled game plays m-SGM's forced strategy by trying every support profile: on a fresh m = 3, n = 20
game (seed 7774, instance 5) one sampled game of sizes (9, 8, 8) took 139,683 support LPs and minutes
of CPU before m-SGM could move on. Because the sampled game is polymatrix, player p's payoff of pure
strategy a is linear in the opponents' mixes,

    u_{p,a}(σ) = own_p[a] + Σ_{k≠p} pair_{pk}[a, :] · σ_k,

and the MIP-Nash formulation (Sandholm, Gilpin, Conitzer, AAAI 2005) asks the same question in one
mixed-integer programme: with binaries z_{p,a} (1: a is not played),

    Σ_a σ_{p,a} = 1,   v_p ≥ u_{p,a}(σ),   v_p − u_{p,a}(σ) ≤ M_p z_{p,a},   σ_{p,a} ≤ 1 − z_{p,a},
    σ_{p,a} = 0, z_{p,a} = 1 for strategies outside ``playable`` (still deviations: v_p ≥ u_{p,a}),
    forced (q, i): z_{q,i} = 0, maximise σ_{q,i},

where M_p = max_a max_σ u_{p,a} − min_a min_σ u_{p,a} bounds every regret. Every feasible point is an
equilibrium in which the forced strategy is a best response — the enumeration's own test (it accepts a
support that holds i with σ_{q,i} ≥ 0, as the paper's feasibility problem does).

Exactness. A MILP answers within its tolerances, so its point is only a support guess: the supports
{a : σ_{p,a} > 1e-7} (plus the forced strategy) go through the enumeration's exact support test
(``check``), and only a profile that passes it is returned. "Infeasible" is taken as "no such
equilibrium" (tolerances only ever admit more points, never fewer); m-SGM then backtracks, and the
answer it ends with is graded by exact best responses either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from rlcv.games.clock import Deadline, SolverTimeout
from rlcv.games.lp import solve_milp
from rlcv.games.support_enumeration import MixedEquilibrium

_PLAYED = 1e-7  # σ above this in the MILP's point counts in the support guess


def _regret_bound(own: np.ndarray, pair_rows: list[np.ndarray]) -> np.ndarray:
    """(s_p,) M_{p,a}: a's regret cannot exceed it — the best payoff of any strategy against any
    opponents' mix less a's worst (a per-row bound keeps the MILP's relaxation tighter)."""
    hi = own + sum((q.max(axis=1) for q in pair_rows), np.zeros_like(own))
    lo = own + sum((q.min(axis=1) for q in pair_rows), np.zeros_like(own))
    return np.maximum(hi.max() - lo, 1.0)


def _model(
    own: Sequence[np.ndarray],
    pair: Sequence[Sequence[np.ndarray]],
    playable: Sequence[int],
    forced: tuple[int, int] | None,
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The MILP's columns (σ, z per player, then v) and rows: (offsets, cost, A, row_lo, row_hi,
    lower, upper); integrality is 1 on the z block."""
    m = len(own)
    sizes = [len(o) for o in own]
    sig = np.cumsum([0, *sizes])[:-1]  # σ_{p,·} starts
    z0 = int(sum(sizes))
    zs = z0 + sig  # z_{p,·} starts
    v0 = 2 * z0
    nv = v0 + m
    rows, lo, hi = [], [], []
    for p in range(m):
        s = sizes[p]
        big = _regret_bound(own[p], [pair[p][k] for k in range(m) if k != p])
        gain = np.zeros((s, nv))  # v_p − Σ_k pair σ_k: the regret without own_p
        gain[:, v0 + p] = 1.0
        for k in range(m):
            if k != p:
                gain[:, sig[k] : sig[k] + sizes[k]] = -pair[p][k]
        rows.append(gain)  # regret ≥ 0
        lo.append(own[p])
        hi.append(np.full(s, np.inf))
        bounded = gain.copy()
        bounded[np.arange(s), zs[p] + np.arange(s)] = -big  # regret − M z ≤ 0
        rows.append(bounded)
        lo.append(np.full(s, -np.inf))
        hi.append(own[p])
        link = np.zeros((s, nv))  # σ + z ≤ 1
        link[np.arange(s), sig[p] + np.arange(s)] = 1.0
        link[np.arange(s), zs[p] + np.arange(s)] = 1.0
        rows.append(link)
        lo.append(np.full(s, -np.inf))
        hi.append(np.ones(s))
        simplex = np.zeros((1, nv))
        simplex[0, sig[p] : sig[p] + s] = 1.0
        rows.append(simplex)
        lo.append(np.ones(1))
        hi.append(np.ones(1))
    lower = np.concatenate([np.zeros(2 * z0), np.full(m, -np.inf)])
    upper = np.concatenate([np.ones(2 * z0), np.full(m, np.inf)])
    for p in range(m):
        upper[sig[p] + playable[p] : sig[p] + sizes[p]] = 0.0  # not playable: σ = 0, z = 1
        lower[zs[p] + playable[p] : zs[p] + sizes[p]] = 1.0
    cost = np.zeros(nv)
    if forced is not None:
        q, i = forced
        upper[zs[q] + i] = 0.0  # z = 0: i is a best response
        cost[sig[q] + i] = -1.0  # and as much of it played as an equilibrium allows
    offsets = [np.arange(sig[p], sig[p] + sizes[p]) for p in range(m)]
    return offsets, cost, np.vstack(rows), np.concatenate(lo), np.concatenate(hi), lower, upper


def milp_equilibrium(
    own: Sequence[np.ndarray],
    pair: Sequence[Sequence[np.ndarray]],
    playable: Sequence[int],
    forced: tuple[int, int] | None,
    check: Callable[[list[tuple[int, ...]]], MixedEquilibrium | None],
    deadline: Deadline | None = None,
) -> MixedEquilibrium | None | bool:
    """An exact equilibrium (passed by ``check``, the enumeration's support test) in which ``forced`` is
    a best response and only the first ``playable[p]`` strategies are played; None when the MILP shows
    there is none; False when the MILP's support guess fails the exact test or the solver cannot decide
    (the caller then enumerates). Raises :class:`SolverTimeout` past ``deadline``."""
    offsets, cost, A, row_lo, row_hi, lower, upper = _model(own, pair, playable, forced)
    integrality = np.zeros(len(cost))
    z0 = int(sum(len(o) for o in own))
    integrality[z0 : 2 * z0] = 1.0
    limit = None if deadline is None else deadline.left()
    if limit is not None and limit <= 0:
        raise SolverTimeout
    status, x = solve_milp(cost, A, row_lo, row_hi, lower, upper, integrality, time_limit=limit)
    if status == "infeasible":
        return None
    if x is None:  # the solver could not decide: the enumeration does
        return False
    supports = []
    for p, cols in enumerate(offsets):
        chosen = set(np.flatnonzero(x[cols] > _PLAYED).tolist())
        if forced is not None and forced[0] == p:
            chosen.add(forced[1])
        supports.append(tuple(sorted(chosen)))
    ne = check(supports)
    return False if ne is None else ne
