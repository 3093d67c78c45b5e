"""The agent protocol the loop drives, and the bases of the policy-gradient agents.

The loop (:mod:`rlcv.loop`) only builds an agent from (spaces, config), calls :meth:`Agent.bind`
once with a :class:`~rlcv.env_hooks.BindContext`, then :meth:`Agent.update` with every rollout, and
reads ``policy``, ``n_steps``, ``group_size``, ``metric_names`` and the state dict. Any class with
those members is an agent (:class:`Agent`); two bases share the common parts:

- :class:`PolicyGradientAgent`: a policy and a gradient estimator (``config.estimator``) that is
  built first, bound, checkpointed and logged for every subclass (BGAN generators);
- :class:`ActorCriticAgent`: the same plus a value function V(s) (PPO, TRPO).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np
import torch

from rlcv.config import CommonConfig, EstimatorConfig
from rlcv.env_hooks import BindContext
from rlcv.errors import RlcvError
from rlcv.estimators import build_estimator
from rlcv.estimators.base import EstimatorSetup, EstimatorTerms, GradientEstimator
from rlcv.policies import Policy, make_policy
from rlcv.rollout import RolloutBatch
from rlcv.value import ValueFunction


@runtime_checkable
class Agent(Protocol):
    """What the loop needs of an agent, built as ``cls(observation_space=, action_space=, config=)``."""

    config_cls: ClassVar[type[CommonConfig]]
    algo: ClassVar[str]
    policy: Policy
    metric_names: tuple[str, ...]  # metrics.csv columns after the loop's own, in order
    updates: int

    @property
    def config(self) -> CommonConfig: ...  # an instance of config_cls

    @property
    def n_steps(self) -> int: ...  # env steps per env per update

    @property
    def group_size(self) -> int: ...  # actions drawn per observation (1 but for generators)

    def bind(self, context: BindContext) -> None: ...

    def update(self, batch: RolloutBatch) -> dict[str, float]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class PolicyGradientConfig(Protocol):
    """What :class:`PolicyGradientAgent` reads of its config: an :class:`~rlcv.config.EstimatorConfig`
    with a rollout length (each agent's own dataclass: ``PPOConfig``, ``BGANConfig``, ...)."""

    n_steps: int
    estimator: str
    estimator_settings: Any
    hidden_sizes: list[int]
    activation: str
    ortho_init: bool
    log_std_init: float


class ActorCriticConfig(PolicyGradientConfig, Protocol):
    """What :class:`ActorCriticAgent` reads besides (``PPOConfig``, ``TRPOConfig``)."""

    gamma: float
    gae_lambda: float
    normalize_advantage: bool


class PolicyGradientAgent:
    """A policy trained with the gradient terms of a pluggable estimator (``config.estimator``)."""

    config_cls: ClassVar[type[EstimatorConfig]]
    algo: ClassVar[str]
    config: PolicyGradientConfig  # subclasses name their dataclass
    # The agent's own columns; instances log these, then the estimator's, then env_metric_names.
    own_metrics: ClassVar[tuple[str, ...]] = ()
    env_metric_names: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, *, observation_space: gym.Space, action_space: gym.Space, config: PolicyGradientConfig
    ) -> None:
        self.config = config
        self.updates = 0
        self.context: BindContext | None = None
        # The estimator first: one with parameters (MBMF's dynamics model) draws its initial weights before
        # the policy's, an order seeded runs depend on.
        self.estimator: GradientEstimator = build_estimator(
            config.estimator, config.estimator_settings, self.estimator_setup(observation_space, action_space)
        )
        self.policy: Policy = make_policy(
            observation_space,
            action_space,
            hidden_sizes=config.hidden_sizes,
            activation=config.activation,
            ortho_init=config.ortho_init,
            log_std_init=config.log_std_init,
            squash_output=getattr(config, "squash_output", False),  # a key of the generator configs only
            algo=self.algo,
        )
        self.metric_names: tuple[str, ...] = (
            *self.own_metrics,
            *self.estimator.metric_names,
            *self.env_metric_names,
        )

    def estimator_setup(self, observation_space: gym.Space, action_space: gym.Space) -> EstimatorSetup:
        return EstimatorSetup(observation_space=observation_space, action_space=action_space, algo=self.algo)

    def bind(self, context: BindContext) -> None:
        """Called by the loop once; the estimator gets the same context (normalisers, env hooks)."""
        self.context = context
        self.estimator.bind(context)

    # -- the update: the estimator's terms, the algorithm's step, then what the estimator learns ----
    def update(self, batch: RolloutBatch) -> dict[str, float]:
        terms = self.estimator.prepare(batch, policy=self.policy, value_fn=self.critic)
        out = self.learn(batch, terms)
        self.updates += 1
        out.update(terms.stats)
        out.update(self.estimator.after_update(batch))
        return out

    @property
    def critic(self) -> ValueFunction | None:
        return None

    # -- pieces subclasses provide ------------------------------------------------------------------
    def learn(self, batch: RolloutBatch, terms: EstimatorTerms) -> dict[str, float]:
        """One algorithm step on the estimator's ``terms``; returns the agent's own metrics."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------
    @property
    def n_steps(self) -> int:
        return int(self.config.n_steps)

    @property
    def group_size(self) -> int:
        return 1

    def state_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.state_dict(),
            "optimizers": {k: opt.state_dict() for k, opt in self.optimizers().items()},
            "estimator": self.estimator.state_dict(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        for key, opt in self.optimizers().items():
            opt.load_state_dict(state["optimizers"][key])
        self.estimator.load_state_dict(state["estimator"])
        self.updates = int(state["updates"])

    def check_finite(self, name: str, value: torch.Tensor) -> None:
        """A non-finite loss is a user-facing error: the run stops before corrupting any checkpoint."""
        if not torch.isfinite(value).all():
            raise RlcvError(
                f"{name} became {value.item() if value.numel() == 1 else 'non-finite'} at update "
                f"{self.updates + 1}; lower learning_rate (--set learning_rate=...), enable normalize_obs/"
                f"normalize_reward, or resume from the last checkpoint with other settings."
            )


class ActorCriticAgent(PolicyGradientAgent):
    """A policy-gradient agent with a learned state-value function V(s) (PPO, TRPO)."""

    config: ActorCriticConfig

    def __init__(
        self, *, observation_space: gym.Space, action_space: gym.Space, config: ActorCriticConfig
    ) -> None:
        super().__init__(observation_space=observation_space, action_space=action_space, config=config)
        assert observation_space.shape is not None  # the policy network was built for this shape
        self.value_fn = ValueFunction(
            int(np.prod(observation_space.shape)),
            hidden_sizes=config.hidden_sizes,
            activation=config.activation,
            ortho_init=config.ortho_init,
        )

    def estimator_setup(self, observation_space: gym.Space, action_space: gym.Space) -> EstimatorSetup:
        cfg = self.config
        return EstimatorSetup(
            observation_space=observation_space,
            action_space=action_space,
            algo=self.algo,
            gamma=cfg.gamma,
            gae_lambda=cfg.gae_lambda,
            normalize_advantage=cfg.normalize_advantage,
        )

    @property
    def critic(self) -> ValueFunction | None:
        return self.value_fn

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "value_fn": self.value_fn.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.value_fn.load_state_dict(state["value_fn"])


def explained_variance(pred: torch.Tensor, target: torch.Tensor) -> float:
    var = target.var().item()
    return math.nan if var == 0 else 1.0 - (target - pred).var().item() / var
