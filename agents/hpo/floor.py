r"""``hpo-floor``: steer the learning rate by where each step's valley floor lies ("A walk with SGD").

The env's landscape observation ``floor_alpha`` is α*, the position of the minimum of the training
loss along the last step(s) θ_t + α D_t, α ∈ {0, 0.1, …, 1} (:mod:`rlcv.hpo.landscape`). α* = 1: the loss
still falls at the end of the step — the step stopped short of the floor, so η can grow. α* well
inside the step: the step crossed the floor and climbed the far wall — η is too large. The rule::

    α* ≥ raise_at   →  η ← η · factor
    α* < lower_at   →  η ← η / factor
    otherwise        →  η unchanged

needs the env's ``landscape: true`` (set by this controller's ``env_kwargs``; it also measures every
env step, ``landscape_every: 1``, over the last ``landscape_steps: 4`` inner steps, so the decision
reads a mean α* of four steps, not one noisy one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import torch

from rlcv.agents.hpo.base import ControllerAgent, ControllerConfig, ControllerPolicy, has_landscape
from rlcv.config import check
from rlcv.envs.online_hpo import HPARAMS, OBS
from rlcv.errors import RlcvError
from rlcv.settings import setting

_ENV_DEFAULTS = {"landscape": True, "landscape_every": 1, "landscape_steps": 4}


@dataclass(kw_only=True)
class FloorConfig(ControllerConfig):
    raise_at: float = 0.95  # mean α* at or above this: steps stop short of the floor → raise η
    lower_at: float = 0.5  # mean α* below this: steps overshoot the floor by > 2× → lower η
    factor: float = 1.5  # multiplicative change of η per decision
    controlled: list[str] = setting(factory=lambda: ["lr"], help="hyper-parameters the controller sets")
    env_kwarg_defaults: ClassVar[dict[str, Any]] = dict(_ENV_DEFAULTS)
    env_kwargs: dict[str, Any] = setting(
        factory=lambda: dict(_ENV_DEFAULTS),
        help="keyword arguments passed to gymnasium.make (also --env-kwargs)",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.controlled == ["lr"], "hpo-floor controls the learning rate only (controlled: [lr])")
        check(0.0 < self.lower_at < self.raise_at <= 1.0, "need 0 < lower_at < raise_at <= 1")
        check(self.factor > 1.0, "factor must be > 1")
        check(self.env_kwargs.get("landscape") is True, "hpo-floor needs env_kwargs landscape: true")


class FloorPolicy(ControllerPolicy):
    """The α* rule of the module docstring, per env, on the raw observation."""

    def __init__(self, action_space: gym.spaces.Box, config: FloorConfig) -> None:
        super().__init__(action_space)
        self.raise_at, self.lower_at = config.raise_at, config.lower_at
        self.step = math.log2(config.factor)

    def decide(self, obs: torch.Tensor, *, explore: bool) -> torch.Tensor:
        alpha = obs[:, OBS["floor_alpha"]].double()
        out = torch.zeros(obs.shape[0], len(HPARAMS), dtype=torch.float64)
        # The observation is float32: compare with a tolerance so α* = 0.95 counts as 0.95.
        up, down = alpha >= self.raise_at - 1e-6, alpha < self.lower_at - 1e-6
        out[:, HPARAMS.index("lr")] = self.step * (up.double() - down.double())
        return out


class FloorAgent(ControllerAgent):
    config_cls = FloorConfig
    config: FloorConfig
    algo = "hpo-floor"

    def __init__(self, *, observation_space: gym.Space, action_space: gym.Space, config: FloorConfig) -> None:
        if not has_landscape(observation_space):
            raise RlcvError(
                "hpo-floor reads the env's landscape observations: keep env_kwargs landscape: true "
                "(--env-kwargs '{landscape: true}')."
            )
        super().__init__(observation_space=observation_space, action_space=action_space, config=config)

    def make_policy(self, action_space: gym.spaces.Box) -> ControllerPolicy:
        return FloorPolicy(action_space, self.config)
