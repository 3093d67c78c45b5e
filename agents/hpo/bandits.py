"""Bandit controllers: one bandit per controlled hyper-parameter over ×{multipliers} (``hpo-ucb1``:
UCB1; ``hpo-dts``: discounted Thompson sampling), statistics reset every episode by default."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import gymnasium as gym
import torch

from rlcv.agents.hpo.base import (
    ACTION_NAMES,
    HPO_METRICS,
    ControllerAgent,
    ControllerConfig,
    ControllerPolicy,
)
from rlcv.config import check
from rlcv.errors import RlcvError
from rlcv.rollout import RolloutBatch
from rlcv.settings import setting


@dataclass(kw_only=True)
class BanditConfig(ControllerConfig):
    multipliers: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])  # the arms, per hyper-parameter
    reset_each_episode: bool = setting(True, "forget the bandit statistics at every episode start")

    def __post_init__(self) -> None:
        super().__post_init__()
        check(
            len(self.multipliers) >= 2 and all(m > 0 for m in self.multipliers),
            "multipliers must hold >= 2 positive factors",
        )


@dataclass(kw_only=True)
class UCB1Config(BanditConfig):
    exploration: float = 1.0  # c in  mean + c σ̂ √(2 ln t / n)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.exploration >= 0, "exploration must be >= 0")


@dataclass(kw_only=True)
class DTSConfig(BanditConfig):
    discount: float = 0.9  # per reward; memory ≈ 1 / (1 − discount) env steps
    prior_count: float = 1.0  # pseudo-observations of reward 0 in every arm's Gaussian prior

    def __post_init__(self) -> None:
        super().__post_init__()
        check(
            0.0 < self.discount <= 1.0 and self.prior_count > 0, "need 0 < discount <= 1 and prior_count > 0"
        )


class BanditPolicy(ControllerPolicy):
    """One bandit per controlled hyper-parameter over the arms log2(multipliers), shared by all envs.

    Buffers (checkpointed with the policy): ``counts`` / ``sums`` [d, m] per (hyper-parameter, arm),
    ``reward_sq`` / ``reward_n`` for the reward scale σ̂ = RMS of the rewards seen, ``t`` updates seen.
    """

    arms: torch.Tensor
    counts: torch.Tensor
    sums: torch.Tensor
    reward_sq: torch.Tensor
    reward_n: torch.Tensor
    t: torch.Tensor

    def __init__(self, action_space: gym.spaces.Box, config: BanditConfig, algo: str) -> None:
        super().__init__(action_space)
        arms = torch.tensor([math.log2(m) for m in config.multipliers], dtype=torch.float64)
        if arms.abs().max() > self.bound + 1e-9:
            raise RlcvError(
                f"{algo}: multipliers {config.multipliers} exceed the env's max_factor "
                f"{2**self.bound:g}; pass smaller multipliers or --env-kwargs "
                f"'{{max_factor: ...}}'."
            )
        self.register_buffer("arms", arms)
        self.dims = [ACTION_NAMES.index(h) for h in config.controlled]
        d, m = len(self.dims), len(arms)
        self.register_buffer("counts", torch.zeros(d, m, dtype=torch.float64))
        self.register_buffer("sums", torch.zeros(d, m, dtype=torch.float64))
        self.register_buffer("reward_sq", torch.zeros((), dtype=torch.float64))
        self.register_buffer("reward_n", torch.zeros((), dtype=torch.float64))
        self.register_buffer("t", torch.zeros((), dtype=torch.float64))

    def reset_statistics(self) -> None:
        for buf in (self.counts, self.sums, self.reward_sq, self.reward_n, self.t):
            buf.zero_()

    def scale(self) -> torch.Tensor:
        """σ̂: RMS of the rewards so far (1 before the first reward)."""
        if self.reward_n <= 0 or self.reward_sq <= 0:
            return torch.ones((), dtype=torch.float64)
        return (self.reward_sq / self.reward_n).sqrt()

    def choose(self, *, explore: bool) -> torch.Tensor:
        """Arm index per controlled hyper-parameter [d]."""
        raise NotImplementedError

    def observe(self, arm: torch.Tensor, reward: float) -> None:
        """Add one reward for the arms ``arm`` [d] that produced it."""
        rows = torch.arange(len(self.dims))
        self.counts[rows, arm] += 1.0
        self.sums[rows, arm] += reward
        self.reward_sq += reward * reward
        self.reward_n += 1.0
        self.t += 1.0

    def arm_of(self, action: torch.Tensor) -> torch.Tensor:
        """The arm index [d] that an executed action [3] corresponds to (nearest arm)."""
        return (action[self.dims].double()[:, None] - self.arms[None, :]).abs().argmin(1)

    def decide(self, obs: torch.Tensor, *, explore: bool) -> torch.Tensor:
        out = torch.zeros(obs.shape[0], self.action_dim, dtype=torch.float64)
        for b in range(obs.shape[0]):
            out[b, self.dims] = self.arms[self.choose(explore=explore)]
        return out


class UCB1Policy(BanditPolicy):
    r"""UCB1 (Auer et al., 2002): play every arm once, then argmax  μ̂_a + c σ̂ √(2 ln t / n_a).

    σ̂ (the RMS reward) replaces UCB1's assumption of rewards in [0, 1]: validation-loss decreases
    have no fixed scale."""

    def __init__(self, action_space: gym.spaces.Box, config: UCB1Config, algo: str) -> None:
        super().__init__(action_space, config, algo)
        self.exploration = config.exploration

    def choose(self, *, explore: bool) -> torch.Tensor:
        mean = self.sums / self.counts.clamp(min=1.0)
        if not explore:
            return mean.argmax(1)
        unplayed = self.counts == 0
        bonus = (
            self.exploration
            * self.scale()
            * torch.sqrt(2.0 * torch.log(self.t.clamp(min=1.0)) / self.counts.clamp(min=1.0))
        )
        index = torch.where(unplayed, torch.inf, mean + bonus)
        return index.argmax(1)  # ties (several unplayed arms) go to the lowest index


class DTSPolicy(BanditPolicy):
    r"""Discounted Thompson sampling for non-stationary Gaussian rewards (after Raj & Kalyani, 2017).

    Every new reward first discounts all statistics by γ; arm a's posterior is
    N(S_a / (N_a + n0), σ̂² / (N_a + n0)) with N_a, S_a the discounted count and reward sum, n0 the
    prior pseudo-count at mean 0 and σ̂ the discounted RMS reward. Play argmax of one draw per arm."""

    def __init__(self, action_space: gym.spaces.Box, config: DTSConfig, algo: str) -> None:
        super().__init__(action_space, config, algo)
        self.discount, self.prior_count = config.discount, config.prior_count

    def observe(self, arm: torch.Tensor, reward: float) -> None:
        for buf in (self.counts, self.sums, self.reward_sq, self.reward_n):
            buf.mul_(self.discount)
        super().observe(arm, reward)

    def choose(self, *, explore: bool) -> torch.Tensor:
        n = self.counts + self.prior_count
        mean = self.sums / n
        if not explore:
            return mean.argmax(1)
        draw = mean + self.scale() / n.sqrt() * torch.randn(mean.shape, dtype=torch.float64)
        return draw.argmax(1)


class BanditAgent(ControllerAgent):
    config: BanditConfig
    metric_names = (*HPO_METRICS, "reward_scale")
    policy: BanditPolicy
    policy_cls: ClassVar[type[BanditPolicy]]

    def make_policy(self, action_space: gym.spaces.Box) -> ControllerPolicy:
        return self.policy_cls(action_space, self.config, self.algo)

    def adapt(self, batch: RolloutBatch) -> dict[str, float]:
        rewards, dones = batch.raw_rewards.double(), batch.dones
        for t in range(batch.n_steps):
            for n in range(batch.n_envs):
                self.policy.observe(self.policy.arm_of(batch.actions[t, n, 0]), float(rewards[t, n]))
            if self.config.reset_each_episode and bool(dones[t].any()):
                self.policy.reset_statistics()
        return {"reward_scale": float(self.policy.scale())}


class UCB1Agent(BanditAgent):
    config_cls = UCB1Config
    config: UCB1Config
    algo = "hpo-ucb1"
    policy_cls = UCB1Policy


class DTSAgent(BanditAgent):
    config_cls = DTSConfig
    config: DTSConfig
    algo = "hpo-dts"
    policy_cls = DTSPolicy
