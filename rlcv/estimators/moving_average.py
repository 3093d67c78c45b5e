r"""REINFORCE with a moving-average baseline — the score-function baseline for BGAN generators.

With the same groups of M actions and rewards r_m = log w(x_m) as the self-normalised estimator
(:mod:`rlcv.estimators.self_normalized`), but no self-normalisation:

    ĝ = mean_z (1/M) Σ_m (r_m − b) ∇_θ log g_θ(x_m|z),      b ← β b + (1 − β) mean(r)

b is an exponential moving average of the mean reward of *previous* batches (β = ``decay``; the
first batch uses its own mean), so ĝ is an unbiased estimate of ∇_θ E_g[log w(x)] given b.
Advantages are group-shaped [T·N, M] and already carry the 1/M.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from rlcv.estimators.base import EstimatorSetup, EstimatorTerms, GradientEstimator
from rlcv.estimators.self_normalized import WEIGHT_METRICS, group_log_weights, log_weight_stats
from rlcv.policies import Policy
from rlcv.rollout import RolloutBatch
from rlcv.settings import check, setting
from rlcv.value import ValueFunction


@dataclass(kw_only=True)
class MovingAverageSettings:
    baseline_decay: float = setting(0.9, resumable=True)  # β of the moving-average baseline

    def __post_init__(self) -> None:
        check(0 <= self.baseline_decay < 1, "baseline_decay must be in [0, 1)")


class MovingAverageBaseline(GradientEstimator):
    name = "moving_average"
    settings_cls = MovingAverageSettings
    metric_names = (*WEIGHT_METRICS, "baseline")

    def __init__(self, *, decay: float) -> None:
        self.decay = decay
        self.baseline: float | None = None

    @classmethod
    def from_setup(cls, settings: Any, setup: EstimatorSetup) -> MovingAverageBaseline:
        return cls(decay=settings.baseline_decay)

    def prepare(
        self, batch: RolloutBatch, *, policy: Policy | None, value_fn: ValueFunction | None
    ) -> EstimatorTerms:
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
