"""Nash equilibria of a finite two-player game by Porter–Nudelman–Shoham (PNS) support enumeration.

Payoff matrices U1, U2: (s1, s2), U_p[i, j] = payoff of p when player 1 plays i and player 2 plays j.

Order (PNS, 2 players): support-size profiles (k1, k2) by balance |k1 − k2| first, then total size
k1 + k2; within a profile, supports of player 1 in lexicographic order, each followed by the supports of
player 2. Pruning by *conditional dominance*: a ∈ A_p is conditionally dominated given a set R of the
opponent's actions when some a' ∈ A_p has U_p[a', r] > U_p[a, r] for every r ∈ R. With S1 fixed, player
2's actions that are conditionally dominated given S1 are dropped (A2'); S1 is skipped when one of its
actions is conditionally dominated given A2'; S2 ⊂ A2' is skipped when an action of S1 is conditionally
dominated given S2. Each surviving (S1, S2) is checked by two LPs (HiGHS, :mod:`rlcv.games.lp`):
for player 2's mix y over S2 (and symmetrically x over S1)

    max t  s.t.  U1[S1, S2] y = v·1,  U1[i, S2] y ≤ v (i ∉ S1),  Σ y = 1,  y ≥ t,

and (S1, S2) is a NE support when both LPs are feasible with t > 0 (every support action is played).
Fast path: when the equalities (indifference and Σ y = 1) have full column rank, their unique solution
decides the LP (feasible iff it satisfies the inequalities), so it is tested by least squares first;
the LP runs only for rank-deficient (degenerate or under-determined) systems.

m-SGM (see :mod:`rlcv.games.sgm`) asks for equilibria whose support holds one given action (``forced``);
supports without it are not enumerated. :func:`pns` is a generator: asking it again continues the
enumeration where it stopped, which is how m-SGM backtracks to "the next equilibrium" of an older game.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from rlcv.games.best_response import SolverTimeout
from rlcv.games.lp import solve_lp

_POSITIVE = 1e-9  # smallest probability that counts as "in the support"
_FAST = True  # the square-system fast path (off only to compare it with the LP)


@dataclass(frozen=True)
class MixedEquilibrium:
    """probs[p]: (s_p,) probabilities over player p's sampled strategies (zeros off the support)."""

    probs: tuple[np.ndarray, ...]
    supports: tuple[tuple[int, ...], ...]


def size_profiles(s1: int, s2: int) -> list[tuple[int, int]]:
    """Support-size profiles in PNS order: (|k1 − k2|, k1 + k2) increasing, then k1."""
    profiles = [(k1, k2) for k1 in range(1, s1 + 1) for k2 in range(1, s2 + 1)]
    return sorted(profiles, key=lambda k: (abs(k[0] - k[1]), k[0] + k[1], k[0]))


def _dominated(
    U: np.ndarray, rows: list[int] | tuple[int, ...], given: list[int] | tuple[int, ...]
) -> np.ndarray:
    """(len(rows),) bool: whether each row a of U (own action × opponent action) is conditionally
    dominated given the columns ``given`` (some row beats it strictly on every one of them)."""
    cols = U[:, list(given)]  # (s_own, |given|)
    beats = np.all(cols[:, None, :] > cols[None, list(rows), :], axis=2)  # (s_own, len(rows))
    return np.any(beats, axis=0)


def _unique_mix(
    U: np.ndarray, own: tuple[int, ...], other: tuple[int, ...], floor: float = _POSITIVE
) -> np.ndarray | None | bool:
    """Fast path of :func:`_indifference_mix`, exact without an LP when the equalities
    U[own, other] y = v·1, Σ y = 1 leave at most one degree of freedom:

    - full column rank: the solution is unique and the LP is feasible iff it is;
    - a one-dimensional solution line z0 + w·d (rank one short — a degenerate square system, or one
      own action fewer than ``other``): the LP max_w min_j y_j(w) over the interval of w that keeps
      every other action ≤ v is a concave piecewise-linear maximisation in one variable, whose optimum
      lies at an end of that interval or where two of the lines y_j(w) cross.

    Returns y, or None when infeasible (or min y ≤ ``floor``), or False when the LP must decide."""
    k = len(other)
    if len(own) < k - 1:
        return False
    sub = U[list(own)][:, list(other)]
    M = np.zeros((len(own) + 1, k + 1))
    M[:-1, :k] = sub
    M[:-1, k] = -1.0
    M[-1, :k] = 1.0
    rhs = np.zeros(len(own) + 1)
    rhs[-1] = 1.0
    scale = max(1.0, float(np.max(np.abs(sub))))
    u, sv, vt = np.linalg.svd(M)
    rank = int(np.sum(sv > 1e-9 * sv[0]))
    if rank < k:
        return False
    z = vt[:rank].T @ ((u[:, :rank].T @ rhs) / sv[:rank])  # the least-norm solution
    if np.max(np.abs(M @ z - rhs)) > 1e-9 * scale:
        return None  # inconsistent: no mix equalises ``own``
    cols = U[:, list(other)]
    if rank == k + 1:
        y, v = z[:k], z[k]
        if np.min(y) <= floor or np.any(cols @ y > v + 1e-9 * scale):
            return None
    else:
        y = _best_on_line(cols, z, vt[k], k, 1e-9 * scale)
        if y is None or np.min(y) <= floor:
            return None
    y = np.clip(y, 0.0, None)
    return y / y.sum()


def unique_mix_batch(
    U: np.ndarray, own: np.ndarray, other: np.ndarray, floor: float = _POSITIVE
) -> list[np.ndarray | None | bool]:
    """:func:`_unique_mix` for B supports at once (own: (B, r), other: (B, k) index arrays): the same
    answers, with the small SVDs stacked so that numpy runs them in one call."""
    B, r = own.shape
    k = other.shape[1]
    if r < k - 1:
        return [False] * B
    sub = U[own[:, :, None], other[:, None, :]]  # (B, r, k)
    M = np.zeros((B, r + 1, k + 1))
    M[:, :-1, :k] = sub
    M[:, :-1, k] = -1.0
    M[:, -1, :k] = 1.0
    rhs = np.zeros(r + 1)
    rhs[-1] = 1.0
    scale = np.maximum(1.0, np.max(np.abs(sub), axis=(1, 2)))
    u, sv, vt = np.linalg.svd(M)
    q = sv.shape[1]
    big = sv > 1e-9 * sv[:, :1]
    rank = big.sum(axis=1)
    inv = np.where(big, 1.0 / np.where(big, sv, 1.0), 0.0)
    coef = inv * (u[:, :, :q].transpose(0, 2, 1) @ rhs)  # (B, q)
    z = np.einsum("bqj,bq->bj", vt[:, :q, :], coef)  # least-norm solutions (B, k + 1)
    resid = np.max(np.abs(np.einsum("bij,bj->bi", M, z) - rhs), axis=1)
    cols = np.moveaxis(U[:, other], 1, 0)  # (B, s, k): every row of U on each ``other``
    out: list[np.ndarray | None | bool] = []
    for b in range(B):
        if rank[b] < k:
            out.append(False)
            continue
        if resid[b] > 1e-9 * scale[b]:
            out.append(None)
            continue
        if rank[b] == k + 1:
            y, v = z[b, :k], z[b, k]
            if np.min(y) <= floor or np.any(cols[b] @ y > v + 1e-9 * scale[b]):
                out.append(None)
                continue
        else:
            line = _best_on_line(cols[b], z[b], vt[b, k], k, 1e-9 * scale[b])
            if line is None or np.min(line) <= floor:
                out.append(None)
                continue
            y = line
        y = np.clip(y, 0.0, None)
        out.append(y / y.sum())
    return out


def _best_on_line(cols: np.ndarray, z0: np.ndarray, d: np.ndarray, k: int, tol: float) -> np.ndarray | None:
    """argmax_w min_j y_j(w) on the line (y, v)(w) = z0 + w·d subject to cols @ y(w) ≤ v(w) + tol
    (every row of U; the own rows hold with equality on the line); None when no w is feasible."""
    y0, dy, v0, dv = z0[:k], d[:k], z0[k], d[k]
    a = cols @ y0 - v0  # row i: a_i + b_i w ≤ tol
    b = cols @ dy - dv
    flat = np.abs(b) <= 1e-12 * max(1.0, float(np.max(np.abs(b))))
    if np.any(a[flat] > tol):
        return None
    # The interval is taken without the slack ``tol`` (which would let min y creep above 0 on supports
    # whose exact optimum is 0); rounding is forgiven only where its ends meet.
    lo, hi = -np.inf, np.inf
    up, down = ~flat & (b > 0), ~flat & (b < 0)
    if np.any(up):
        hi = float(np.min(-a[up] / b[up]))
    if np.any(down):
        lo = float(np.max(-a[down] / b[down]))
    if lo > hi + 1e-12 * (1.0 + abs(lo) + abs(hi)):
        return None
    hi = max(hi, lo)
    # Candidates: the finite interval ends and the crossings of two lines y_j(w) = y_k(w).
    diff = dy[:, None] - dy[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = (y0[None, :] - y0[:, None]) / diff
    cands = cross[np.isfinite(cross) & (np.abs(diff) > 1e-12)]
    cands = np.concatenate([cands, [w for w in (lo, hi) if np.isfinite(w)]])
    cands = cands[(cands >= lo) & (cands <= hi)]
    if len(cands) == 0:  # every y_j(w) parallel (so constant, as Σ_j dy_j = 0): any feasible w
        cands = np.array([min(max(0.0, lo), hi)])
    values = np.min(y0[None, :] + cands[:, None] * dy[None, :], axis=1)
    w = float(cands[int(np.argmax(values))])
    return y0 + w * dy


def _indifference_mix(
    U: np.ndarray, own: tuple[int, ...], other: tuple[int, ...], floor: float = _POSITIVE
) -> np.ndarray | None:
    """The opponent's mix y over ``other`` that makes every action of ``own`` a best response in U
    (own action × opponent action), maximising min y; None when infeasible or min y ≤ ``floor`` (a tiny
    positive number: every support action played; slightly negative: y ≥ 0 suffices, the paper's test)."""
    fast = _unique_mix(U, own, other, floor) if _FAST else False
    if fast is not False:
        return fast  # type: ignore[return-value]
    return _lp_mix(U, own, other, floor)


def _lp_mix(U: np.ndarray, own: tuple[int, ...], other: tuple[int, ...], floor: float) -> np.ndarray | None:
    """The LP of :func:`_indifference_mix` (module docstring)."""
    k = len(other)
    # variables: y (k), v, t; minimise −t
    cost = np.zeros(k + 2)
    cost[-1] = -1.0
    sub = U[:, list(other)]
    own_rows = np.zeros(len(U), dtype=bool)
    own_rows[list(own)] = True
    a_eq = np.zeros((len(own) + 1, k + 2))
    a_eq[: len(own), :k] = sub[own_rows]
    a_eq[: len(own), k] = -1.0
    a_eq[-1, :k] = 1.0
    b_eq = np.zeros(len(own) + 1)
    b_eq[-1] = 1.0
    rest = sub[~own_rows]
    a_ub = np.zeros((len(rest) + k, k + 2))
    a_ub[: len(rest), :k] = rest
    a_ub[: len(rest), k] = -1.0
    a_ub[len(rest) :, :k] = -np.eye(k)  # t − y_j ≤ 0
    a_ub[len(rest) :, -1] = 1.0
    lower = np.array([0.0] * k + [-np.inf, -np.inf])
    upper = np.array([1.0] * k + [np.inf, 1.0])
    sol = solve_lp(cost, a_ub, np.zeros(len(a_ub)), a_eq, b_eq, lower, upper)
    if sol is None or sol[-1] <= floor:
        return None
    y = np.clip(sol[:k], 0.0, None)
    return y / y.sum()


def support_equilibrium(
    U1: np.ndarray,
    U2: np.ndarray,
    S1: tuple[int, ...],
    S2: tuple[int, ...],
    floor: float = _POSITIVE,
) -> MixedEquilibrium | None:
    """The NE with supports exactly (S1, S2), or None (the LP test of the module docstring).

    Both sides get the cheap square-system test (:func:`_unique_mix`) first — the (over-)determined side
    first, as it usually fails — and an LP runs only when neither side was rejected that way."""
    sides = [(U1, S1, S2), (U2.T, S2, S1)]  # y: player 2's mix over S2; x: player 1's over S1
    order = (0, 1) if len(S1) >= len(S2) else (1, 0)
    mixes: list[np.ndarray | None | bool] = [False, False]
    for i in order:
        mixes[i] = _unique_mix(*sides[i], floor) if _FAST else False
        if mixes[i] is None:
            return None
    for i in order:
        if mixes[i] is False:
            mixes[i] = _lp_mix(*sides[i], floor)
            if mixes[i] is None:
                return None
    y, x = mixes
    p1 = np.zeros(U1.shape[0])
    p1[list(S1)] = x
    p2 = np.zeros(U1.shape[1])
    p2[list(S2)] = y
    return MixedEquilibrium(probs=(p1, p2), supports=(S1, S2))


def _supports(actions: list[int], size: int, forced: int | None) -> Iterator[tuple[int, ...]]:
    """Subsets of ``actions`` of ``size`` in lexicographic order; with ``forced``, those holding it."""
    if forced is None:
        yield from itertools.combinations(actions, size)
    elif forced in actions:
        rest = [a for a in actions if a != forced]
        for combo in itertools.combinations(rest, size - 1):
            yield tuple(sorted((*combo, forced)))


def _beat_masks(U: np.ndarray, rows: tuple[int, ...]) -> np.ndarray | None:
    """(s_own · len(rows),) uint64 bit masks: bit j of entry (a', i) says U[a', j] > U[rows[i], j].
    Row i is conditionally dominated given a column set with mask M iff some entry e has e & M == M.
    None when there are more than 63 columns (the caller then uses :func:`_dominated`)."""
    if U.shape[1] > 63:
        return None
    beats = U[:, None, :] > U[None, list(rows), :]  # (s_own, len(rows), s_other)
    weights = np.left_shift(np.uint64(1), np.arange(U.shape[1], dtype=np.uint64))
    return (beats.astype(np.uint64) * weights).sum(axis=2, dtype=np.uint64).ravel()


def pns(
    U1: np.ndarray,
    U2: np.ndarray,
    forced: tuple[int, int] | None = None,
    deadline: float | None = None,
) -> Iterator[MixedEquilibrium]:
    """Every NE found by PNS, in its order (module docstring). ``forced = (p, i)``: only supports in
    which player p plays action i. ``deadline`` (``time.monotonic()`` value): raise :class:`SolverTimeout`
    when passed."""
    s1, s2 = U1.shape
    f1 = forced[1] if forced is not None and forced[0] == 0 else None
    f2 = forced[1] if forced is not None and forced[0] == 1 else None
    all1 = list(range(s1))
    all2 = list(range(s2))
    for k1, k2 in size_profiles(s1, s2):
        for S1 in _supports(all1, k1, f1):
            if deadline is not None and time.monotonic() > deadline:
                raise SolverTimeout
            A2 = [j for j, dom in zip(all2, _dominated(U2.T, all2, S1), strict=True) if not dom]
            if len(A2) < k2 or np.any(_dominated(U1, S1, A2)):
                continue
            masks = _beat_masks(U1, S1)
            for count, S2 in enumerate(_supports(A2, k2, f2)):
                if count % 512 == 511 and deadline is not None and time.monotonic() > deadline:
                    raise SolverTimeout
                if masks is None:
                    if np.any(_dominated(U1, S1, S2)):
                        continue
                else:
                    m2 = np.uint64(sum(1 << j for j in S2))
                    if np.any((masks & m2) == m2):
                        continue
                ne = support_equilibrium(U1, U2, S1, S2)
                if ne is not None:
                    yield ne
