"""Hypergradient controllers: ``hpo-hd`` (SGD-HD on the learning rate) and ``hpo-forward``
(forward-mode hypergradients of log lr / log weight decay, computed by the env)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import torch

from rlcv.agents.hpo.base import (
    HPO_METRICS,
    ControllerAgent,
    ControllerConfig,
    ControllerPolicy,
    action_index,
    log2_hparam,
)
from rlcv.config import check
from rlcv.envs.online_hpo import OBS
from rlcv.rollout import RolloutBatch
from rlcv.settings import setting


@dataclass(kw_only=True)
class HDConfig(ControllerConfig):
    beta: float = 1e-3  # hyper-learning-rate of SGD-HD (Baydin et al., 2018)
    controlled: list[str] = setting(factory=lambda: ["lr"], help="hyper-parameters the controller sets")

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.controlled == ["lr"], "hpo-hd controls the learning rate only (controlled: [lr])")


@dataclass(kw_only=True)
class ForwardConfig(ControllerConfig):
    beta: float = 1.0  # step on log λ per unit of d L_val / d log λ
    controlled: list[str] = setting(
        factory=lambda: ["lr", "weight_decay"], help="hyper-parameters the controller sets"
    )
    # The env computes Z only when asked: this controller cannot work without it.
    env_kwarg_defaults: ClassVar[dict[str, Any]] = {"hypergradient": "forward"}
    env_kwargs: dict[str, Any] = setting(
        factory=lambda: {"hypergradient": "forward"},
        help="keyword arguments passed to gymnasium.make (also --env-kwargs)",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(
            self.env_kwargs.get("hypergradient") == "forward",
            "hpo-forward needs env_kwargs hypergradient: forward",
        )
        check(
            set(self.controlled) <= {"lr", "weight_decay"},
            "hpo-forward controls lr and/or weight_decay (batch size has no gradient)",
        )


class HDPolicy(ControllerPolicy):
    r"""Hypergradient descent (Baydin et al., 2018) on the learning rate.

    SGD-HD updates η_t = η_{t−1} + β g_t·g_{t−1} after every inner step; the env reports
    ``hd_signal`` = Σ_k g_k·g_{k−1} over the K steps of an env step, so one env step applies the K
    updates at once (η frozen inside the step): η ← η + β · hd_signal, as a multiplier (clipped to
    the env's max_factor; a non-positive η becomes the smallest allowed multiplier)."""

    def __init__(self, action_space: gym.spaces.Box, config: HDConfig) -> None:
        super().__init__(action_space)
        self.beta = config.beta

    def decide(self, obs: torch.Tensor, *, explore: bool) -> torch.Tensor:
        lr = torch.exp2(log2_hparam(obs, "lr"))
        new_lr = lr + self.beta * obs[:, OBS["hd_signal"]].double()
        ratio = torch.where(new_lr > 0, new_lr / lr, torch.full_like(lr, 2.0**-self.bound))
        out = torch.zeros(obs.shape[0], self.action_dim, dtype=torch.float64)
        out[:, action_index("lr")] = torch.log2(ratio)
        return out


class ForwardPolicy(ControllerPolicy):
    r"""Online forward-mode hypergradient descent (Franceschi et al., 2017, RTHO) in log space:

        log λ ← log λ − β · Zᵀ∇L_val(θ)

    with Zᵀ∇L_val from the env's ``hypergrad_log_lr`` / ``hypergrad_log_weight_decay`` fields."""

    FIELDS: ClassVar[dict[str, str]] = {
        "lr": "hypergrad_log_lr",
        "weight_decay": "hypergrad_log_weight_decay",
    }

    def __init__(self, action_space: gym.spaces.Box, config: ForwardConfig) -> None:
        super().__init__(action_space)
        self.beta, self.controlled = config.beta, list(config.controlled)

    def decide(self, obs: torch.Tensor, *, explore: bool) -> torch.Tensor:
        out = torch.zeros(obs.shape[0], self.action_dim, dtype=torch.float64)
        for name in self.controlled:
            # Δ log2 λ = Δ ln λ / ln 2
            out[:, action_index(name)] = -self.beta * obs[:, OBS[self.FIELDS[name]]].double() / math.log(2.0)
        return out


class HDAgent(ControllerAgent):
    config_cls = HDConfig
    config: HDConfig
    algo = "hpo-hd"
    metric_names = (*HPO_METRICS, "hd_signal")

    def make_policy(self, action_space: gym.spaces.Box) -> ControllerPolicy:
        return HDPolicy(action_space, self.config)

    def adapt(self, batch: RolloutBatch) -> dict[str, float]:
        return {"hd_signal": float(batch.raw_next_obs[-1, :, OBS["hd_signal"]].mean())}


class ForwardAgent(ControllerAgent):
    config_cls = ForwardConfig
    config: ForwardConfig
    algo = "hpo-forward"
    metric_names = (*HPO_METRICS, "hypergrad_log_lr", "hypergrad_log_weight_decay")

    def make_policy(self, action_space: gym.spaces.Box) -> ControllerPolicy:
        return ForwardPolicy(action_space, self.config)

    def adapt(self, batch: RolloutBatch) -> dict[str, float]:
        last = batch.raw_next_obs[-1]
        return {k: float(last[:, OBS[k]].mean()) for k in ("hypergrad_log_lr", "hypergrad_log_weight_decay")}
