"""The state-value baseline with GAE — the k = 0 estimator every other one reduces to.

    ĝ = mean_t ∇_θ log π_θ(a_t|s_t) · Â_t,    Â_t = GAE(γ, λ) with a learned V(s)

(:func:`rlcv.rollout.compute_gae` gives the recursion). Advantages are optionally standardised
over the whole batch; there is no pathwise term.
"""

from __future__ import annotations

from typing import Any

import torch

from rlcv.estimators.base import EstimatorSetup, EstimatorTerms, GradientEstimator
from rlcv.policies import Policy
from rlcv.rollout import RolloutBatch, compute_gae
from rlcv.value import ValueFunction


def normalize(advantages: torch.Tensor, enabled: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Standardise over the batch; returns (normalised, scale) so other terms can share the scale."""
    if not enabled or advantages.numel() < 2:
        return advantages, torch.ones((), dtype=advantages.dtype)
    scale = advantages.std() + 1e-8
    return (advantages - advantages.mean()) / scale, scale


class StateValueBaseline(GradientEstimator):
    name = "gae"

    def __init__(self, *, gamma: float, gae_lambda: float, normalize_advantage: bool = True) -> None:
        self.gamma, self.gae_lambda, self.normalize_advantage = gamma, gae_lambda, normalize_advantage

    @classmethod
    def from_setup(cls, settings: Any, setup: EstimatorSetup) -> StateValueBaseline:
        return cls(
            gamma=setup.gamma, gae_lambda=setup.gae_lambda, normalize_advantage=setup.normalize_advantage
        )

    def gae(self, batch: RolloutBatch, value_fn: ValueFunction | None) -> tuple[torch.Tensor, ...]:
        """(advantages, returns, values), each [T, N]."""
        if value_fn is None:
            raise ValueError("the GAE estimator needs a value function (an actor-critic agent)")
        with torch.no_grad():
            values = value_fn(batch.obs)
            next_values = value_fn(batch.next_obs)
        advantages, returns = compute_gae(
            batch.rewards,
            values,
            next_values,
            batch.terminated,
            batch.truncated,
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
        )
        return advantages, returns, values

    def prepare(
        self, batch: RolloutBatch, *, policy: Policy, value_fn: ValueFunction | None
    ) -> EstimatorTerms:
        advantages, returns, values = self.gae(batch, value_fn)
        normed, _ = normalize(advantages.reshape(-1), self.normalize_advantage)
        return EstimatorTerms(advantages=normed, returns=returns.reshape(-1), values=values.reshape(-1))
