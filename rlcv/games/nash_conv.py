"""Exact NashConv of a mixed profile of a knapsack game.

σ assigns player p the probabilities π^p over its listed pure strategies S^p (rows). With
x̄^p = Σ_i π^p_i S^p_i,

    NashConv(σ) = Σ_p [ max_{x ∈ X^p} u^p(x, σ^{-p}) − E_σ[u^p] ] ≥ 0,

each max an exact binary programme (:func:`best_response`), each expectation exact by bilinearity
(:mod:`rlcv.games.knapsack`). σ is a Nash equilibrium iff NashConv(σ) = 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rlcv.games.best_response import best_response
from rlcv.games.knapsack import KnapsackGame


def expected_strategies(strategies: Sequence[np.ndarray], probs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """x̄^p = Σ_i π^p_i S^p_i for every p (strategies[p]: (s_p, n), probs[p]: (s_p,))."""
    return [
        np.asarray(pi, dtype=np.float64) @ np.asarray(s, dtype=np.float64)
        for s, pi in zip(strategies, probs, strict=True)
    ]


def regrets(
    game: KnapsackGame,
    strategies: Sequence[np.ndarray],
    probs: Sequence[np.ndarray],
    time_limit: float | None = None,
) -> list[float]:
    """Per-player regret max_x u^p(x, σ^{-p}) − E_σ[u^p] (≥ 0 up to rounding)."""
    xbar = expected_strategies(strategies, probs)
    return [
        best_response(game, p, xbar, time_limit).value - game.expected_payoff(p, strategies, probs)
        for p in range(game.m)
    ]


def nash_conv(
    game: KnapsackGame,
    strategies: Sequence[np.ndarray],
    probs: Sequence[np.ndarray],
    time_limit: float | None = None,
) -> float:
    """Σ_p regret_p (see the module docstring)."""
    return float(sum(regrets(game, strategies, probs, time_limit)))
