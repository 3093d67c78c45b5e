r"""REINFORCE with a moving-average baseline — the score-function baseline for BGAN generators.

With the same groups of M actions and rewards r_m = log w(x_m) as the self-normalised estimator
(:mod:`rlcv.estimators.self_normalized`), but no self-normalisation:

    ĝ = mean_z (1/M) Σ_m (r_m − b) ∇_θ log g_θ(x_m|z),      b ← β b + (1 − β) mean(r)

b is an exponential moving average of the mean reward of *previous* batches (β = ``decay``; the
first batch uses its own mean), so ĝ is an unbiased estimate of ∇_θ E_g[log w(x)] given b.
Advantages are group-shaped [T·N, M] and already carry the 1/M.
"""

from __future__ import annotations

from typing import Any

import torch

from rlcv.estimators.base import EstimatorTerms, GradientEstimator
from rlcv.estimators.self_normalized import group_log_weights, log_weight_stats
from rlcv.models import ValueFunction
from rlcv.policies import Policy
from rlcv.rollout import RolloutBatch


class MovingAverageBaseline(GradientEstimator):
    name = "moving_average"

    def __init__(self, *, decay: float) -> None:
        self.decay = decay
        self.baseline: float | None = None

    def prepare(self, batch: RolloutBatch, *, policy: Policy, value_fn: ValueFunction) -> EstimatorTerms:
        rewards = group_log_weights(batch)
        mean = rewards.mean().item()
        b = mean if self.baseline is None else self.baseline
        advantages = (rewards - b) / rewards.shape[-1]
        self.baseline = self.decay * b + (1.0 - self.decay) * mean
        zeros = torch.zeros(rewards.shape[0], dtype=rewards.dtype)
        stats = {**log_weight_stats(rewards), "baseline": b}
        return EstimatorTerms(advantages=advantages, returns=zeros, values=zeros, stats=stats)

    def state_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.baseline = state["baseline"]
