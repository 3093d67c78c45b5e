"""The contract every policy-gradient estimator implements.

An estimator turns a rollout into the pieces a policy-gradient algorithm optimises:

    ĝ = mean_t ∇_θ log π_θ(a_t|s_t) · Â_t  +  ∇_θ P(θ)

- ``advantages`` Â_t [T·N] weight the score function (PPO clips the ratio around them; TRPO uses
  them in its surrogate);
- ``pathwise_loss(idx, policy, weights)`` is −P(θ) for the minibatch ``idx``: a differentiable extra
  term (zero for the state-value baseline, the reparameterised control-variate correction for
  model-based ones). ``weights`` [len(idx)] (detached, or None = all ones) are per-sample trust-region
  weights the *agent* supplies: PPO passes ρ_t · 1[|ρ_t − 1| ≤ ε], the ratio of its clipped surrogate
  and whether the sample is still inside the clip range, so an estimator can keep its pathwise term
  under the same trust region as the score term (all ones at θ = θ_old); agents without a per-sample
  trust region (TRPO, whose line search bounds the whole step) pass None.

Algorithms (PPO, TRPO, BGAN) consume :class:`EstimatorTerms` and never know which estimator made
them. Any normalisation of advantages is done here, so that it is applied to both terms identically.

Life cycle, driven by the agent: built once from its settings and an :class:`EstimatorSetup`
(spaces and return settings: estimators with parameters create them here, before the policy, so
a seeded run draws its initial weights in a fixed order); :meth:`GradientEstimator.bind` once with
the loop's :class:`~rlcv.env_hooks.BindContext` (normalisers, env hooks); per update
:meth:`~GradientEstimator.prepare` *before* the agent's update and
:meth:`~GradientEstimator.after_update` after it (what the estimator learns from the batch, e.g.
MBMF's dynamics model, is learned only there, so it never sees the batch it is applied to). Its
state is always checkpointed and its ``metric_names`` are always logged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import gymnasium as gym
import torch

from rlcv.policies import Policy
from rlcv.rollout import RolloutBatch
from rlcv.value import ValueFunction

if TYPE_CHECKING:
    from rlcv.env_hooks import BindContext


@dataclass
class EstimatorTerms:
    """Per-sample learning signals for one rollout, flattened over (t, env) to [T·N]."""

    advantages: torch.Tensor  # weights of ∇ log π, after any normalisation
    returns: torch.Tensor  # value-function regression targets
    values: torch.Tensor  # V(s_t) at collection time
    # (minibatch indices, policy, per-sample trust-region weights or None) → loss whose gradient is
    # −(pathwise part of ĝ) on those samples (see the module docstring).
    pathwise_loss: Callable[[torch.Tensor, Policy, torch.Tensor | None], torch.Tensor] | None = None
    stats: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class EstimatorSetup:
    """What the agent tells an estimator when building it: spaces and how returns are formed."""

    observation_space: gym.Space
    action_space: gym.Space
    algo: str = "this agent"  # for error messages
    gamma: float = 0.99
    gae_lambda: float = 1.0
    normalize_advantage: bool = True


@dataclass(kw_only=True)
class NoSettings:
    """Settings of an estimator that has none (its config keys are the agent's alone)."""


class GradientEstimator:
    """Base class; see the module docstring for the contract."""

    name: ClassVar[str] = "base"
    settings_cls: ClassVar[type] = NoSettings
    metric_names: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_setup(cls, settings: Any, setup: EstimatorSetup) -> GradientEstimator:
        """Build from the estimator's settings dataclass; estimators without settings ignore it."""
        return cls()

    def bind(self, context: BindContext) -> None:
        """Called once by the agent's ``bind`` with what the loop offers (normalisers, env hooks)."""

    def prepare(
        self, batch: RolloutBatch, *, policy: Policy, value_fn: ValueFunction | None
    ) -> EstimatorTerms:
        raise NotImplementedError

    def learn_from_batch(self) -> None:
        """Turn what :meth:`prepare` measured on the last batch into the state the next batch uses
        (e.g. MBMF's η fitted on the previous batch). Called by :meth:`after_update`; harnesses that
        prepare batch after batch without an update call it between batches. Default: nothing."""

    def after_update(self, batch: RolloutBatch) -> dict[str, float]:
        """Learn from ``batch`` once the agent's update has used it; returns metrics."""
        self.learn_from_batch()
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
