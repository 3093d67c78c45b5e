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
    """Fast path of :func:`_indifference_mix`: when the equalities U[own, other] y = v·1, Σ y = 1 have a
    unique solution (full column rank), the LP is feasible iff that solution is; returns y, or None
    when it fails the inequalities, or False when the system is not of full rank (the LP decides)."""
    k = len(other)
    if len(own) < k:
        return False
    sub = U[list(own)][:, list(other)]
    M = np.zeros((len(own) + 1, k + 1))
    M[:-1, :k] = sub
    M[:-1, k] = -1.0
    M[-1, :k] = 1.0
    rhs = np.zeros(len(own) + 1)
    rhs[-1] = 1.0
    z, _, rank, sv = np.linalg.lstsq(M, rhs, rcond=None)
    if rank < k + 1 or sv[-1] < 1e-9 * sv[0]:
        return False
    scale = max(1.0, float(np.max(np.abs(sub))))
    if np.max(np.abs(M @ z - rhs)) > 1e-9 * scale:
        return None  # over-determined and inconsistent: no mix equalises ``own``
    y, v = z[:k], z[k]
    if np.min(y) <= floor or np.any(U[:, list(other)] @ y > v + 1e-9 * scale):
        return None
    y = np.clip(y, 0.0, None)
    return y / y.sum()


def _indifference_mix(
    U: np.ndarray, own: tuple[int, ...], other: tuple[int, ...], floor: float = _POSITIVE
) -> np.ndarray | None:
    """The opponent's mix y over ``other`` that makes every action of ``own`` a best response in U
    (own action × opponent action), maximising min y; None when infeasible or min y ≤ ``floor`` (a tiny
    positive number: every support action played; slightly negative: y ≥ 0 suffices, the paper's test)."""
    fast = _unique_mix(U, own, other, floor) if _FAST else False
    if fast is not False:
        return fast  # type: ignore[return-value]
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

    The side whose equalities are (over-)determined is checked first: it usually fails, and cheaply
    (:func:`_unique_mix`), before the other side would need an LP."""
    if len(S1) >= len(S2):
        y = _indifference_mix(U1, S1, S2, floor)
        x = None if y is None else _indifference_mix(U2.T, S2, S1, floor)
    else:
        x = _indifference_mix(U2.T, S2, S1, floor)
        y = None if x is None else _indifference_mix(U1, S1, S2, floor)
    if x is None or y is None:
        return None
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
