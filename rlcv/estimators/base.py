"""The interface every policy-gradient estimator implements.

An estimator turns a rollout into the pieces a policy-gradient algorithm optimises:

    ĝ = mean_t ∇_θ log π_θ(a_t|s_t) · Â_t  +  ∇_θ P(θ)

- ``advantages`` Â_t [T·N] weight the score function (PPO clips the ratio around them; TRPO uses
  them in its surrogate);
- ``pathwise_loss`` is −P(θ) for a minibatch: a differentiable extra term (zero for the
  state-value baseline, the reparameterised control-variate correction for model-based ones).

Algorithms (PPO, TRPO) consume :class:`EstimatorTerms` and never know which estimator made them.
Any normalisation of advantages is done here, so that it is applied to both terms identically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from rlcv.models import ValueFunction
from rlcv.policies import Policy
from rlcv.rollout import RolloutBatch


@dataclass
class EstimatorTerms:
    """Per-sample learning signals for one rollout, flattened over (t, env) to [T·N]."""

    advantages: torch.Tensor  # weights of ∇ log π, after any normalisation
    returns: torch.Tensor  # value-function regression targets
    values: torch.Tensor  # V(s_t) at collection time
    # Minibatch indices → loss whose gradient is −(pathwise part of ĝ) on those samples.
    pathwise_loss: Callable[[torch.Tensor, Policy], torch.Tensor] | None = None
    stats: dict[str, float] = field(default_factory=dict)


class GradientEstimator:
    """Base class; see the module docstring for the contract."""

    name: str = "base"

    def prepare(self, batch: RolloutBatch, *, policy: Policy, value_fn: ValueFunction) -> EstimatorTerms:
        raise NotImplementedError
