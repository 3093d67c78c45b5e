"""The competitive uncapacitated lot-sizing game and its exact best response by dynamic programming.

Player p's strategy, in the paper's file layout (n = 4T + 1 entries): setups y_t ∈ {0,1}
(t = 0..T−1), production x_t ≥ 0, quantities put on the market q_t ≥ 0, inventories h_u ≥ 0
(u = 0..T). Constraints (rows of A^p x ≤ b^p): h_t + x_t = q_t + h_{t+1}, x_t ≤ M_t y_t, h_0 = h_T = 0.
Payoff, with the market price P_t = a_t − β_t Σ_k q^k_t:

    u^p = Σ_t [ P_t q^p_t − F^p_t y^p_t − C^p_t x^p_t − H^p_{t+1} h^p_{t+1} ]
        = c^p·x^p − ½ (x^p)ᵀ Q^p_p x^p + Σ_{k≠p} (x^k)ᵀ Q^p_k x^p,

i.e. c^p holds (−F, −C, a, −H), Q^p_p = diag(2β) on the q block and Q^p_k = diag(−β) there.

Best response against expected opponent quantities q̄^k: with g = c^p + Σ_k (Q^p_k)ᵀ x̄^k (so
g[q_t] = a_t − β_t Σ_{k≠p} q̄^k_t) and d_t = β_t, a period t served from a setup in period s ≤ t at
unit cost κ_{s,t} = C_s + Σ_{u=s+1}^{t} H_u earns max_{q ≥ 0} (g[q_t] − κ_{s,t}) q − d_t q² =
max(0, g[q_t] − κ_{s,t})² / (4 d_t), at q = max(0, g[q_t] − κ_{s,t}) / (2 d_t). For fixed quantities
the uncapacitated problem has an optimal plan with the zero-inventory-ordering property (every period
is served by the last setup before it), so

    W(s) = max( W(s+1),  max_{e > s} [ −F_s + Σ_{t=s}^{e−1} π_t(κ_{s,t}) + W(e) ] ),   W(T) = 0,

is the exact optimum, O(T²) per query. The capacities M_t of the file must not bind (they are big-M
constants in the paper's instances); a plan that would exceed one raises :class:`RlcvError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rlcv.errors import RlcvError
from rlcv.games.knapsack import KnapsackGame


@dataclass(frozen=True)
class LotSizingGame(KnapsackGame):
    """A lot-sizing game with T periods in the paper's layout (c, Q, A, b as :class:`KnapsackGame`)."""

    T: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        T = self.T
        if T < 1 or self.n != 4 * T + 1:
            raise RlcvError(
                f"lot-sizing game: n = {self.n} variables, expected 4T + 1 = {4 * T + 1} for T = {T}."
            )
        for p in range(self.m):
            Qpp = self.Q[p, p]
            q = self.q_index
            if np.any(np.diag(Qpp)[q] <= 0) or np.count_nonzero(Qpp) != T:
                raise RlcvError("lot-sizing game: Q^p_p must be a positive diagonal on the q block only.")
        self.capacity(0)  # validates the x_t ≤ M_t y_t rows

    @property
    def y_index(self) -> np.ndarray:
        return np.arange(self.T)

    @property
    def x_index(self) -> np.ndarray:
        return np.arange(self.T, 2 * self.T)

    @property
    def q_index(self) -> np.ndarray:
        return np.arange(2 * self.T, 3 * self.T)

    @property
    def h_index(self) -> np.ndarray:
        return np.arange(3 * self.T, 4 * self.T + 1)

    def capacity(self, p: int) -> np.ndarray:
        """(T,) M_t from the rows x_t − M_t y_t ≤ 0 of A^p."""
        out = np.full(self.T, np.nan)
        for row in self.A[p]:
            nz = np.flatnonzero(row)
            if (
                len(nz) == 2
                and nz[0] < self.T
                and nz[1] == nz[0] + self.T
                and row[nz[1]] == 1
                and row[nz[0]] < 0
            ):
                out[nz[0]] = -row[nz[0]]
        if np.any(np.isnan(out)):
            raise RlcvError("lot-sizing game: A^p lacks a row x_t − M_t y_t ≤ 0 for some period.")
        return out

    def feasible(self, p: int, x: np.ndarray) -> bool:
        """y binary, the rest ≥ 0, A^p x ≤ b^p (1e-6 tolerance: quantities are fractional)."""
        x = np.asarray(x, dtype=np.float64)
        y = x[: self.T]
        return bool(
            np.all((y == 0) | (y == 1))
            and np.all(x[self.T :] >= -1e-9)
            and np.all(self.A[p] @ x <= self.b[p] + 1e-6)
        )

    def best_response_dp(self, p: int, others: Sequence[np.ndarray | None]) -> tuple[np.ndarray, float]:
        """The exact best response (module docstring): (x (n,), u^p value)."""
        T = self.T
        g = self.linear_objective(p, others)
        setup, prod, price, hold = g[self.y_index], g[self.x_index], g[self.q_index], g[self.h_index]
        d = 0.5 * np.diag(self.Q[p, p])[self.q_index]
        # profit[s, t] of serving period t ≥ s from a setup in s, and its quantity.
        qty = np.zeros((T, T))
        profit = np.zeros((T, T))
        for s in range(T):
            kappa = -prod[s]
            for t in range(s, T):
                if t > s:
                    kappa -= hold[t]  # one more period in stock: H_t = −g[h_t]
                margin = max(0.0, price[t] - kappa)
                qty[s, t] = margin / (2 * d[t])
                profit[s, t] = margin * margin / (4 * d[t])
        cum = np.cumsum(profit, axis=1)  # cum[s, t] = Σ_{u≤t} profit[s, u] (zero for u < s)
        W = np.zeros(T + 1)
        choice = [(-1, -1)] * T  # (s, e) of the segment starting at s, or (-1, -1): no setup at s
        for s in reversed(range(T)):
            W[s], choice[s] = W[s + 1], (-1, -1)
            for e in range(s + 1, T + 1):
                val = setup[s] + cum[s, e - 1] - (cum[s, s - 1] if s > 0 else 0.0) + W[e]
                if val > W[s] + 1e-12:
                    W[s], choice[s] = val, (s, e)
        x = np.zeros(self.n)
        cap = self.capacity(p)
        s = 0
        while s < T:
            if choice[s][0] < 0:
                s += 1
                continue
            _, e = choice[s]
            x[self.y_index[s]] = 1.0
            amount = float(qty[s, s:e].sum())
            if amount > cap[s] + 1e-9:
                raise RlcvError(
                    f"lot-sizing best response needs {amount:g} > capacity M = {cap[s]:g} in period {s}."
                )
            x[self.x_index[s]] = amount
            x[self.q_index[s:e]] = qty[s, s:e]
            s = e
        stock = 0.0
        for t in range(T):
            x[self.h_index[t]] = stock
            stock = stock + x[self.x_index[t]] - x[self.q_index[t]]
        x[self.h_index[T]] = 0.0
        value = self.payoff(p, [x if k == p else others[k] for k in range(self.m)])
        return x, value
