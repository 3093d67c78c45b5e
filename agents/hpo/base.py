r"""Hyper-parameter controllers for ``rlcv/OnlineHPO-v0`` that run through the agent loop.

Each controller is an agent like PPO: the collector asks its *policy* for an action every env step
(log2-multipliers of learning rate η, batch size S and L2 weight λ_wd, see :mod:`rlcv.envs.online_hpo`)
and the loop hands every rollout to :meth:`update`, which adapts the controller's statistics. The
loop does not know it runs a controller; nothing here touches the loop.

========================  ==========  ============================================================
algo (``--algo``)         n_steps     what it does
========================  ==========  ============================================================
``hpo-ucb1``              1           UCB1 over discrete multipliers, one bandit per hyper-parameter
``hpo-dts``               1           discounted Thompson sampling over the same arms
``hpo-hd``                any         hypergradient descent: η ← η + β Σ_k g_k·g_{k−1}
``hpo-forward``           any         forward-mode hypergradient: log λ ← log λ − β Zᵀ∇L_val
``hpo-pbt``               ready       synchronous PBT: the ``n_envs`` envs are the population
``hpo-floor``             any         η up while steps stop short of the valley floor, down when
                                      they overshoot it (the env's landscape observations)
``hpo-schedule``          any         step schedule at budget milestones: η decay or the equivalent
                                      batch-size growth (same η/S)
========================  ==========  ============================================================

Rewards are the env's raw rewards (decrease of validation loss); bandit statistics restart with
every episode (``reset_each_episode``), because a new inner run is a new non-stationary problem.
A meta-trained RL controller needs no code here: ``rlcv train --algo ppo --env rlcv/OnlineHPO-v0``.

This module holds what all controllers share; the families live in :mod:`.bandits`,
:mod:`.hypergradient` and :mod:`.pbt`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch

from rlcv.config import CommonConfig, check
from rlcv.env_hooks import BindContext, EnvHooks
from rlcv.envs.online_hpo import DUAL_ALPHA, HPARAMS, LANDSCAPE_FIELDS, OBS, OBS_FIELDS
from rlcv.errors import RlcvError
from rlcv.policies import Policy, PolicySample
from rlcv.rollout import RolloutBatch
from rlcv.settings import setting

# The action's components in order: HPARAMS, then DualCutout's α where the env tunes it (a 4th component).
ACTION_NAMES: tuple[str, ...] = (*HPARAMS, DUAL_ALPHA)
HPO_METRICS = ("hp_lr", "hp_batch_size", "hp_weight_decay", "val_loss", "val_accuracy", "reward_mean")
_LOG2_OBS = {
    "lr": ("log10_lr", math.log2(10.0)),
    "batch_size": ("log2_batch_size", 1.0),
    "weight_decay": ("log10_weight_decay", math.log2(10.0)),
}


@dataclass(kw_only=True)
class ControllerConfig(CommonConfig):
    """Shared by all controllers. ``controlled`` lists the hyper-parameters a controller may change."""

    n_steps: int = 1  # env steps per update (the loop's rollout length)
    controlled: list[str] = setting(
        factory=lambda: list(HPARAMS), help="hyper-parameters the controller sets"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.n_steps >= 1, "n_steps must be >= 1")
        check(not self.normalize_obs, "controllers read the raw observation: normalize_obs must be false")
        check(
            len(self.controlled) > 0 and set(self.controlled) <= set(ACTION_NAMES),
            f"controlled must be a non-empty subset of {list(ACTION_NAMES)}",
        )


class ControllerPolicy(Policy):
    """A controller as a policy: ``decide(obs) -> [B, 3]`` log2-multipliers, no learned parameters.

    Controllers are deterministic given their statistics (Thompson sampling draws from torch's RNG,
    so a seeded run is reproducible); ``log_prob`` is 0 and the stored noise is zeros.
    """

    def __init__(self, action_space: gym.spaces.Box) -> None:
        super().__init__()
        assert action_space.shape is not None
        self.action_dim = int(action_space.shape[0])  # 3, or 4 with DualCutout's α
        self.action_shape = (self.action_dim,)
        self.noise_shape = (self.action_dim,)
        self.bound = float(action_space.high[0])

    def decide(self, obs: torch.Tensor, *, explore: bool) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, obs: torch.Tensor, group_size: int = 1) -> PolicySample:
        action = self.decide(obs, explore=True).to(torch.float32).clamp(-self.bound, self.bound)
        action = action[:, None, :].expand(-1, group_size, -1).contiguous()
        zeros = torch.zeros(action.shape[:2])
        return PolicySample(action=action, log_prob=zeros, noise=torch.zeros_like(action))

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        return self.decide(obs, explore=False).to(torch.float32).clamp(-self.bound, self.bound)

    def log_prob(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return torch.zeros(action.shape[:-1])

    def entropy(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.zeros(obs.shape[0])

    def env_action(self, action: np.ndarray) -> np.ndarray:
        return np.clip(action, -self.bound, self.bound)


def action_index(name: str) -> int:
    """The action component of a hyper-parameter."""
    return ACTION_NAMES.index(name)


def log2_hparam(obs: torch.Tensor, name: str) -> torch.Tensor:
    """log2 of a hyper-parameter from its observation field, [B] (float64 for exact ratios)."""
    field_name, scale = _LOG2_OBS[name]
    return obs[:, OBS[field_name]].double() * scale


def check_hpo_spaces(observation_space: gym.Space, action_space: gym.Space, algo: str) -> None:
    ok = (
        isinstance(observation_space, gym.spaces.Box)
        and observation_space.shape in ((len(OBS_FIELDS),), (len(OBS_FIELDS) + len(LANDSCAPE_FIELDS),))
        and isinstance(action_space, gym.spaces.Box)
        and action_space.shape in ((len(HPARAMS),), (len(ACTION_NAMES),))
    )
    if not ok:
        raise RlcvError(
            f"{algo} is a hyper-parameter controller for rlcv/OnlineHPO-v0 (observation "
            f"[{len(OBS_FIELDS)}] or [{len(OBS_FIELDS) + len(LANDSCAPE_FIELDS)}] with landscape fields, "
            f"log2-multiplier action [{len(HPARAMS)}] or [{len(ACTION_NAMES)}] with α); got observation "
            f"{observation_space} and action {action_space}. Use --env rlcv/OnlineHPO-v0."
        )


def has_landscape(observation_space: gym.Space) -> bool:
    """Whether the env appends :data:`~rlcv.envs.online_hpo.LANDSCAPE_FIELDS` (``landscape=True``)."""
    return observation_space.shape == (len(OBS_FIELDS) + len(LANDSCAPE_FIELDS),)


def hpo_metrics(batch: RolloutBatch) -> dict[str, float]:
    """The hyper-parameters and validation numbers at the end of a rollout (mean over envs), and the
    landscape observations when the env has them."""
    last = batch.raw_next_obs[-1].double()
    landscape = {}
    if last.shape[-1] == len(OBS_FIELDS) + len(LANDSCAPE_FIELDS):
        landscape = {k: float(last[:, OBS[k]].mean()) for k in LANDSCAPE_FIELDS}
    return {
        **landscape,
        "hp_lr": float(torch.exp2(log2_hparam(last, "lr")).mean()),
        "hp_batch_size": float(torch.exp2(log2_hparam(last, "batch_size")).mean()),
        "hp_weight_decay": float(torch.exp2(log2_hparam(last, "weight_decay")).mean()),
        "val_loss": float(last[:, OBS["val_loss"]].mean()),
        "val_accuracy": float(last[:, OBS["val_accuracy"]].mean()),
        "reward_mean": float(batch.raw_rewards.double().mean()),
    }


class ControllerAgent:
    """Base of the controllers (an :class:`~rlcv.agents.base.Agent`): a :class:`ControllerPolicy`,
    no estimator, no value function, no optimiser."""

    config_cls: ClassVar[type[ControllerConfig]] = ControllerConfig
    config: ControllerConfig
    algo: ClassVar[str]
    metric_names: tuple[str, ...] = HPO_METRICS

    def __init__(
        self, *, observation_space: gym.Space, action_space: gym.Space, config: ControllerConfig
    ) -> None:
        check_hpo_spaces(observation_space, action_space, self.algo)
        if has_landscape(observation_space):  # logged as metrics too
            self.metric_names = (*self.metric_names, *LANDSCAPE_FIELDS)
        assert isinstance(action_space, gym.spaces.Box)  # check_hpo_spaces raised otherwise
        if DUAL_ALPHA in config.controlled and action_space.shape[0] < len(ACTION_NAMES):
            raise RlcvError(
                f"{self.algo}: controlled includes {DUAL_ALPHA} but the env has no α action; pass "
                "--env-kwargs '{regularizer: dualcutout, tune_dual_alpha: true}' or drop it from controlled."
            )
        self.config = config
        self.policy: ControllerPolicy = self.make_policy(action_space)
        self.updates = 0
        self.hooks: EnvHooks | None = None

    @property
    def n_steps(self) -> int:
        return int(self.config.n_steps)

    @property
    def group_size(self) -> int:
        return 1

    def bind(self, context: BindContext) -> None:
        self.hooks = context.hooks

    def make_policy(self, action_space: gym.spaces.Box) -> ControllerPolicy:
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.updates = int(state["updates"])

    def adapt(self, batch: RolloutBatch) -> dict[str, float]:
        """Controller-specific learning from a rollout; returns extra metrics."""
        return {}

    def update(self, batch: RolloutBatch) -> dict[str, float]:
        extra = self.adapt(batch)
        self.updates += 1
        return {**hpo_metrics(batch), **extra}
