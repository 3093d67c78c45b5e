"""What every on-policy agent shares: a policy, a value function and a gradient estimator.

The loop (:mod:`rlcv.loop`) only calls :meth:`OnPolicyAgent.update` with a rollout and reads
``n_steps`` / ``group_size``; everything algorithm-specific lives in the subclasses.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch

from rlcv.config import CommonConfig
from rlcv.errors import RlcvError
from rlcv.estimators.base import GradientEstimator
from rlcv.models import ValueFunction
from rlcv.normalize import ObsNormalizer, RewardScaler
from rlcv.policies import Policy, make_policy
from rlcv.rollout import RolloutBatch


class OnPolicyAgent:
    config_cls: ClassVar[type[CommonConfig]]
    algo: ClassVar[str]
    metric_names: ClassVar[tuple[str, ...]]

    def __init__(
        self,
        *,
        observation_space: gym.Space,
        action_space: gym.Space,
        config: Any,
        estimator: GradientEstimator | None = None,
    ) -> None:
        self.config = config
        self.policy: Policy = make_policy(
            observation_space,
            action_space,
            hidden_sizes=config.hidden_sizes,
            activation=config.activation,
            ortho_init=config.ortho_init,
            log_std_init=config.log_std_init,
            algo=self.algo,
        )
        obs_dim = int(np.prod(observation_space.shape))
        self.value_fn = ValueFunction(
            obs_dim,
            hidden_sizes=config.hidden_sizes,
            activation=config.activation,
            ortho_init=config.ortho_init,
        )
        self.estimator = estimator or self.default_estimator()
        self.updates = 0

    def bind(
        self,
        *,
        env_id: str,
        env_kwargs: dict[str, Any],
        obs_normalizer: ObsNormalizer,
        reward_scaler: RewardScaler,
        envs: gym.vector.VectorEnv | None = None,
    ) -> None:
        """Called by the loop once: what model-based agents need about the env and its normalisers.

        ``envs`` is the live training vector env, for agents that use an env's own hooks (e.g. a
        differentiable reward whose parameters the env trains as the loop runs).
        """
        self.env_id, self.env_kwargs = env_id, env_kwargs
        self.obs_normalizer, self.reward_scaler = obs_normalizer, reward_scaler
        self.envs = envs

    # -- pieces subclasses provide ------------------------------------------------------------------
    def default_estimator(self) -> GradientEstimator:
        raise NotImplementedError

    def update(self, batch: RolloutBatch) -> dict[str, float]:
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------
    @property
    def n_steps(self) -> int:
        return int(self.config.n_steps)

    group_size: int = 1

    def state_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.state_dict(),
            "value_fn": self.value_fn.state_dict(),
            "optimizers": {k: opt.state_dict() for k, opt in self.optimizers().items()},
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.value_fn.load_state_dict(state["value_fn"])
        for key, opt in self.optimizers().items():
            opt.load_state_dict(state["optimizers"][key])
        self.updates = int(state["updates"])

    def check_finite(self, name: str, value: torch.Tensor) -> None:
        """A non-finite loss is a user-facing error: the run stops before corrupting any checkpoint."""
        if not torch.isfinite(value).all():
            raise RlcvError(
                f"{name} became {value.item() if value.numel() == 1 else 'non-finite'} at update "
                f"{self.updates + 1}; lower learning_rate (--set learning_rate=...), enable normalize_obs/"
                f"normalize_reward, or resume from the last checkpoint with other settings."
            )


def explained_variance(pred: torch.Tensor, target: torch.Tensor) -> float:
    var = target.var().item()
    return math.nan if var == 0 else 1.0 - (target - pred).var().item() / var
