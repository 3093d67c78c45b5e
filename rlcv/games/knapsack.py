"""The knapsack game: m players, n binary items each, bilinear payoffs.

Player p chooses x^p ∈ {0,1}^n subject to A^p x^p ≤ b^p (A^p: (r, n), b^p: (r,); the paper uses r = 1,
with weights that may be negative) and maximises

    u^p(x) = c^p·x^p + Σ_{k≠p} (x^k)ᵀ Q^p_k x^p.

Q^p_p is zero for the knapsack game (the field is kept: the file layout has it). Because u^p is linear
in each player's strategy separately, the expected payoff under independent mixed strategies σ only
depends on the expected strategies x̄^k = E_σ[x^k]:

    E_σ[u^p] = c^p·x̄^p + Σ_{k≠p} (x̄^k)ᵀ Q^p_k x̄^p,

and a best response of p to σ^{-p} maximises the linear objective (c^p + Σ_{k≠p} (Q^p_k)ᵀ x̄^k)·x^p.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rlcv.errors import RlcvError


@dataclass(frozen=True)
class KnapsackGame:
    """Data of a knapsack game; arrays are float64 (the file's integers are exact in float64).

    c: (m, n) linear profits; Q: (m, m, n, n) interaction matrices, Q[p, k] = Q^p_k;
    A: (m, r, n) constraint rows; b: (m, r) right-hand sides. ``ins`` / ``numb_ins`` identify the
    paper's instance (b^p = int(ins / (numb_ins + 1) · ΣA^p)).
    """

    c: np.ndarray
    Q: np.ndarray
    A: np.ndarray
    b: np.ndarray
    ins: int = 0
    numb_ins: int = 10

    def __post_init__(self) -> None:
        m, n = self.c.shape if self.c.ndim == 2 else (0, 0)
        if self.c.ndim != 2 or m < 1 or n < 1:
            raise RlcvError(
                f"knapsack game: c must have shape (m, n), got {self.c.shape}; check the instance."
            )
        if self.Q.shape != (m, m, n, n):
            raise RlcvError(f"knapsack game: Q has shape {self.Q.shape}, expected {(m, m, n, n)}.")
        if self.A.ndim != 3 or self.A.shape[0] != m or self.A.shape[2] != n:
            raise RlcvError(f"knapsack game: A has shape {self.A.shape}, expected ({m}, r, {n}).")
        if self.b.shape != self.A.shape[:2]:
            raise RlcvError(f"knapsack game: b has shape {self.b.shape}, expected {self.A.shape[:2]}.")
        for name in ("c", "Q", "A", "b"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise RlcvError(f"knapsack game: {name} holds NaN or infinite entries; check the instance.")

    @property
    def m(self) -> int:
        """Number of players."""
        return int(self.c.shape[0])

    @property
    def n(self) -> int:
        """Number of items (binary variables) per player."""
        return int(self.c.shape[1])

    def feasible(self, p: int, x: np.ndarray) -> bool:
        """Whether x (n,) is binary and satisfies A^p x ≤ b^p."""
        x = np.asarray(x, dtype=np.float64)
        return bool(np.all((x == 0) | (x == 1)) and np.all(self.A[p] @ x <= self.b[p] + 1e-9))

    def linear_objective(self, p: int, others: Sequence[np.ndarray | None]) -> np.ndarray:
        """(n,) vector g with u^p = g·x^p when opponents play (expected) strategies ``others[k]``
        (``others[p]`` is ignored): g = c^p + Σ_{k≠p} (Q^p_k)ᵀ x̄^k."""
        g = self.c[p].copy()
        for k in range(self.m):
            if k != p and others[k] is not None:
                g += self.Q[p, k].T @ np.asarray(others[k], dtype=np.float64)
        return g

    def own_terms(self, p: int, X: np.ndarray) -> np.ndarray:
        """(s,) the part of u^p that depends on p's strategy alone, c^p·x − ½ xᵀQ^p_p x, for each row of
        X (s, n). (Q^p_p = 0 in the knapsack game; the lot-sizing game's is its price slope.)"""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        return X @ self.c[p] - 0.5 * np.einsum("si,ij,sj->s", X, self.Q[p, p], X)

    def payoff(self, p: int, x: Sequence[np.ndarray | None]) -> float:
        """u^p(x) for a profile of strategies x[k] (n,) each; x[p] pure, the others pure or expected."""
        xp = np.asarray(x[p], dtype=np.float64)
        return float((self.linear_objective(p, x) - self.c[p]) @ xp + self.own_terms(p, xp)[0])

    def expected_payoff(self, p: int, strategies: Sequence[np.ndarray], probs: Sequence[np.ndarray]) -> float:
        """E_σ[u^p] = Σ_i π^p_i (c^p·S^p_i − ½ S^p_iᵀQ^p_p S^p_i) + Σ_{k≠p} (x̄^k)ᵀ Q^p_k x̄^p
        with x̄^k = Σ_i π^k_i S^k_i (the cross terms are bilinear, the own term is not)."""
        xbar = [
            np.asarray(q, dtype=np.float64) @ np.asarray(S, dtype=np.float64)
            for S, q in zip(strategies, probs, strict=True)
        ]
        own = float(np.asarray(probs[p], dtype=np.float64) @ self.own_terms(p, strategies[p]))
        return float((self.linear_objective(p, xbar) - self.c[p]) @ xbar[p]) + own

    def sampled_polymatrix(
        self, strategies: Sequence[np.ndarray]
    ) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
        """The sampled game in polymatrix form: (own, pair) with own[p] (s_p,) the terms of u^p that
        depend on p's strategy alone and pair[p][k] (s_p, s_k) = (S_k[j])ᵀ Q^p_k S_p[i] (an empty array
        for k = p), so u^p(i_0, …, i_{m−1}) = own[p][i_p] + Σ_{k≠p} pair[p][k][i_p, i_k]. Payoffs of
        these games are pairwise, which is what keeps the sampled NE check an LP for any m."""
        S = [np.asarray(s, dtype=np.float64) for s in strategies]
        own = [self.own_terms(p, S[p]) for p in range(self.m)]
        pair = [
            [np.zeros((0, 0)) if k == p else S[p] @ self.Q[p, k].T @ S[k].T for k in range(self.m)]
            for p in range(self.m)
        ]
        return own, pair

    def sampled_payoffs(self, strategies: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Payoff tensors of the finite game on sampled strategies (strategies[k]: (s_k, n) binary).

        Returns U with U[p][i_0, …, i_{m-1}] = u^p(S_0[i_0], …, S_{m-1}[i_{m-1}]), shape (s_0, …, s_{m-1}).
        Built term by term: c^p·x^p depends on i_p only, (x^k)ᵀQ^p_k x^p on (i_k, i_p) only.
        """
        m = self.m
        shape = tuple(len(s) for s in strategies)
        out = []
        for p in range(m):
            u = np.zeros(shape)
            lin = self.own_terms(p, strategies[p])
            u += lin.reshape([-1 if a == p else 1 for a in range(m)])
            for k in range(m):
                if k == p:
                    continue
                pair = strategies[k] @ self.Q[p, k] @ strategies[p].T  # (s_k, s_p)
                if k < p:
                    u += pair.reshape([shape[a] if a in (k, p) else 1 for a in range(m)])
                else:
                    u += pair.T.reshape([shape[a] if a in (k, p) else 1 for a in range(m)])
            out.append(u)
        return out
