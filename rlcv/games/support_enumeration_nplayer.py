"""Nash equilibria of a finite game of m ≥ 3 players by Porter–Nudelman–Shoham support enumeration.

Payoff tensors U[p]: shape (s_0, …, s_{m−1}), U[p][a_0, …, a_{m−1}] = payoff of p.

Order (PNS, m players): support-size profiles (k_0, …, k_{m−1}) by max k − min k first, then Σ k, then
lexicographically. Within a profile, supports are chosen player by player (lexicographic subsets) with
pruning by *conditional dominance*: after S_0, …, S_p are fixed, an action a of a later player q is
dropped from its domain D_q when some a' ∈ A_q has U_q[a', r] > U_q[a, r] for every r in the product
S_0 × … × S_p × D_{p+1} × … (q's own axis left out); the choice is abandoned when a chosen action is
itself conditionally dominated given that product, or a domain becomes smaller than its support size.

Feasibility of a full support profile S. With σ_p on S_p and values v_p,

    Σ_{a_{−p} ∈ S_{−p}} Π_{k≠p} σ_k(a_k) · U_p[a, a_{−p}] = v_p   (a ∈ S_p),   ≤ v_p (a ∉ S_p),   Σ σ_p = 1,

is polynomial (multilinear) for m ≥ 3, not linear. It is a square system in (σ, v) for the equalities;
it is solved by ``scipy.optimize.root`` (Powell hybrid) from the uniform profile and a few seeded random
starts, and a root is accepted only when it satisfies every equality to 1e-10 (relative), every
probability is > 1e-9 and no action outside the support does better (1e-9 relative). Each accepted
profile is therefore an equilibrium up to rounding; a support whose equilibria the root finder misses
is passed over (PNS then goes on to later supports), so this solver is exact in what it returns but
not complete. Pure profiles (all k_p = 1) are checked directly.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence

import numpy as np
from scipy.optimize import root

from rlcv.games.best_response import SolverTimeout
from rlcv.games.support_enumeration import MixedEquilibrium

_POSITIVE = 1e-9
_STARTS = 4  # the uniform start and three seeded random ones


def size_profiles_n(sizes: Sequence[int]) -> list[tuple[int, ...]]:
    """Support-size profiles in PNS order: (max − min, sum, lexicographic) increasing."""
    profiles = itertools.product(*(range(1, s + 1) for s in sizes))
    return sorted(profiles, key=lambda k: (max(k) - min(k), sum(k), k))


def _restrict(U: np.ndarray, q: int, sets: Sequence[Sequence[int]]) -> np.ndarray:
    """U with every axis k ≠ q restricted to sets[k], axis q moved first and the rest flattened:
    (s_q, Π_{k≠q} |sets[k]|)."""
    sub = U[np.ix_(*[range(U.shape[k]) if k == q else list(sets[k]) for k in range(U.ndim)])]
    return np.moveaxis(sub, q, 0).reshape(U.shape[q], -1)


def _dominated(U: np.ndarray, q: int, rows: Sequence[int], sets: Sequence[Sequence[int]]) -> np.ndarray:
    """(len(rows),) bool: row a of player q conditionally dominated given the product of ``sets``."""
    cols = _restrict(U, q, sets)
    beats = np.all(cols[:, None, :] > cols[None, list(rows), :], axis=2)
    return np.any(beats, axis=0)


def _expected_rows(
    U: np.ndarray, p: int, supports: Sequence[Sequence[int]], sig: Sequence[np.ndarray]
) -> np.ndarray:
    """(s_p,) expected payoff of each of p's actions against σ_{−p} on the supports."""
    t = U[np.ix_(*[range(U.shape[k]) if k == p else list(supports[k]) for k in range(U.ndim)])]
    for k in reversed(range(U.ndim)):  # contract the last axes first so the axis numbers stay valid
        if k != p:
            t = np.tensordot(t, sig[k], axes=([k], [0]))
    return t


def _check(U: Sequence[np.ndarray], supports: Sequence[Sequence[int]], sig: Sequence[np.ndarray]) -> bool:
    """Every σ_p > 0 on its support, support actions indifferent and none outside better (relative tol)."""
    for p in range(len(U)):
        if np.min(sig[p]) <= _POSITIVE:
            return False
        scale = max(1.0, float(np.max(np.abs(U[p]))))
        rows = _expected_rows(U[p], p, supports, sig)
        on = rows[list(supports[p])]
        if np.max(on) - np.min(on) > 1e-10 * scale or np.max(rows) > np.max(on) + 1e-9 * scale:
            return False
    return True


def support_equilibrium_n(
    U: Sequence[np.ndarray], supports: Sequence[tuple[int, ...]], seed: int = 0
) -> MixedEquilibrium | None:
    """An equilibrium with exactly these supports (module docstring), or None when none was found."""
    m = len(U)
    ks = [len(s) for s in supports]
    cuts = np.cumsum([0, *ks])

    def split(z: np.ndarray) -> list[np.ndarray]:
        return [z[cuts[p] : cuts[p + 1]] for p in range(m)]

    def residual(z: np.ndarray) -> np.ndarray:
        sig = split(z[: cuts[-1]])
        v = z[cuts[-1] :]
        out = []
        for p in range(m):
            rows = _expected_rows(U[p], p, supports, sig)
            out.append(rows[list(supports[p])] - v[p])
            out.append(np.array([sig[p].sum() - 1.0]))
        return np.concatenate(out)[: cuts[-1] + m]

    def finish(sig: list[np.ndarray]) -> MixedEquilibrium | None:
        if not _check(U, supports, sig):
            return None
        probs = []
        for p in range(m):
            full = np.zeros(U[p].shape[p])
            full[list(supports[p])] = sig[p] / sig[p].sum()
            probs.append(full)
        return MixedEquilibrium(probs=tuple(probs), supports=tuple(tuple(s) for s in supports))

    if all(k == 1 for k in ks):
        return finish([np.ones(1) for _ in range(m)])
    # Σ_p (k_p + 1) equations (indifference + simplex) in Σ_p k_p + m unknowns: square.
    rng = np.random.default_rng(seed)
    for start in range(_STARTS):
        sig0 = [np.full(k, 1.0 / k) if start == 0 else rng.dirichlet(np.ones(k)) for k in ks]
        v0 = [float(np.mean(_expected_rows(U[p], p, supports, sig0)[list(supports[p])])) for p in range(m)]
        sol = root(residual, np.concatenate([*sig0, v0]), method="hybr", options={"xtol": 1e-13})
        scale = max(1.0, max(float(np.max(np.abs(u))) for u in U))
        if np.max(np.abs(residual(sol.x))) > 1e-10 * scale:
            continue
        ne = finish(split(sol.x[: cuts[-1]]))
        if ne is not None:
            return ne
    return None


def _domains(
    U: Sequence[np.ndarray], p: int, chosen: list[tuple[int, ...]], domains: list[list[int]]
) -> list[list[int]] | None:
    """Domains of players after p once S_0..S_p are chosen; None when the choice is pruned."""
    m = len(U)
    sets: list[Sequence[int]] = [*chosen, *domains[p + 1 :]]
    new = [list(d) for d in domains]
    for q in range(p + 1, m):
        dom = _dominated(U[q], q, new[q], sets)
        new[q] = [a for a, d in zip(new[q], dom, strict=True) if not d]
        sets[q] = new[q]
        if not new[q]:
            return None
    for q in range(p + 1):
        if np.any(_dominated(U[q], q, chosen[q], sets)):
            return None
    return new


def pns_n(
    U: Sequence[np.ndarray], forced: tuple[int, int] | None = None, deadline: float | None = None
) -> Iterator[MixedEquilibrium]:
    """Every NE found by m-player PNS, in its order (module docstring); ``forced = (p, i)``: only supports
    in which player p plays i; past ``deadline`` (``time.monotonic()``) raise :class:`SolverTimeout`."""
    m = len(U)
    sizes = U[0].shape

    def choose(p: int, ks: tuple[int, ...], chosen: list[tuple[int, ...]], domains: list[list[int]]):
        if deadline is not None and time.monotonic() > deadline:
            raise SolverTimeout
        if p == m:
            ne = support_equilibrium_n(U, chosen, seed=hash(tuple(chosen)) & 0xFFFF)
            if ne is not None:
                yield ne
            return
        for S in itertools.combinations(domains[p], ks[p]):
            if forced is not None and forced[0] == p and forced[1] not in S:
                continue
            picked = [*chosen, S]
            new = _domains(U, p, picked, domains)
            if new is None or any(len(new[q]) < ks[q] for q in range(p + 1, m)):
                continue
            yield from choose(p + 1, ks, picked, new)

    for ks in size_profiles_n(sizes):
        yield from choose(0, ks, [], [list(range(s)) for s in sizes])
