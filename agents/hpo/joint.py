r"""Joint bandits over multiplier *combinations*: ``hpo-ucb1-joint`` (UCB1) and ``hpo-ts`` (Thompson).

The per-parameter bandits of :mod:`.bandits` play one arm per hyper-parameter at once and credit the
one reward to every arm played, so a good learning-rate move also rewards whatever the weight-decay
bandit did at the same time (UCB1 pushed weight decay up 16–64× that way). Here one arm is a whole
action, so the reward belongs to the arm that earned it. Arm sets (``arms``):

- ``coordinate`` (default): "change nothing" plus every single-parameter move (×m on one controlled
  hyper-parameter, the others kept): 1 + d·(|multipliers| − 1) arms (7 for 3 parameters). Each reward
  is credited to exactly one parameter's move — per-parameter credit, with few arms to learn.
- ``product``: every combination of the multipliers over the controlled parameters, |multipliers|^d
  arms (27 for 3): the full joint bandit; needs that many decisions just to try each arm once.

Credit (``reward``): ``log_ratio`` (default) credits an arm with log(L_before / L_after) of the
validation loss, not the raw decrease L_before − L_after the env pays: the raw decrease shrinks by
orders of magnitude within a run, so whichever arms happened to be played early (the first
exploration round) looked best for the rest of the episode; under linear convergence the log-ratio
is roughly constant, so arms played at different times are comparable. The first round visits the
arms in a random order (torch's seeded RNG) so no arm is systematically first. ``raw`` keeps the
env's reward.

``hpo-ts`` is Gaussian Thompson sampling with a *pooled residual* noise scale: arm a's mean has
posterior N(μ̂_a, σ̂² / n_a), σ̂² the variance of rewards around their own arm's mean (pooled over arms,
with ``prior_count`` pseudo-observations of the overall reward variance), and every arm is played
once first. The old ``hpo-dts`` took σ̂ = RMS of the rewards, which includes their mean, and shrank
every arm toward a prior mean of 0 with discounted counts ≤ 1/(1 − γ) = 10: posteriors as wide as
the differences they should resolve (on the HPO env its schedules looked like a random walk; on a
stationary 3-arm bandit with a gap of 1 σ it plays the best arm ~73 % of the time after 400 pulls,
where ``hpo-ts`` plays the best of 7 arms ≥ 80 %, see the tests). ``discount`` < 1
keeps the non-stationary variant available (statistics multiplied by γ per reward).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
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
from rlcv.envs.online_hpo import OBS
from rlcv.errors import RlcvError
from rlcv.rollout import RolloutBatch
from rlcv.settings import setting


@dataclass(kw_only=True)
class JointConfig(ControllerConfig):
    multipliers: list[float] = setting(
        factory=lambda: [0.5, 1.0, 2.0], help="the arms: factors applied to each hyper-parameter"
    )
    arms: str = "coordinate"  # coordinate | product (see the module docstring)
    reward: str = setting(
        "log_ratio", "credit per decision: log_ratio (log L_before/L_after) | raw (the env's reward)"
    )
    reset_each_episode: bool = setting(True, "forget the bandit statistics at every episode start")

    def __post_init__(self) -> None:
        super().__post_init__()
        check(
            len(self.multipliers) >= 2 and all(m > 0 for m in self.multipliers) and 1.0 in self.multipliers,
            "multipliers must hold >= 2 positive factors including 1.0",
        )
        check(self.arms in ("coordinate", "product"), "arms must be 'coordinate' or 'product'")
        check(self.reward in ("log_ratio", "raw"), "reward must be 'log_ratio' or 'raw'")


@dataclass(kw_only=True)
class JointUCB1Config(JointConfig):
    exploration: float = 1.0  # c in  μ̂_a + c σ̂ √(2 ln t / n_a)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.exploration >= 0, "exploration must be >= 0")


@dataclass(kw_only=True)
class ThompsonConfig(JointConfig):
    discount: float = 1.0  # per reward; 1 = stationary statistics within an episode
    prior_count: float = 1.0  # pseudo-observations of the overall reward variance in σ̂²

    def __post_init__(self) -> None:
        super().__post_init__()
        check(
            0.0 < self.discount <= 1.0 and self.prior_count > 0, "need 0 < discount <= 1 and prior_count > 0"
        )


def arm_table(config: JointConfig, action_dim: int) -> torch.Tensor:
    """The arms as log2-multiplier actions [A, action_dim] (row 0 changes nothing)."""
    dims = [ACTION_NAMES.index(h) for h in config.controlled]
    logs = [math.log2(m) for m in config.multipliers]
    rows: list[list[float]] = []
    if config.arms == "coordinate":
        rows.append([0.0] * action_dim)
        for d in dims:
            for v in logs:
                if v != 0.0:
                    row = [0.0] * action_dim
                    row[d] = v
                    rows.append(row)
    else:
        for combo in itertools.product(logs, repeat=len(dims)):
            row = [0.0] * action_dim
            for d, v in zip(dims, combo, strict=True):
                row[d] = v
            rows.append(row)
        rows.sort(key=lambda r: sum(abs(v) for v in r))  # "change nothing" first
    return torch.tensor(rows, dtype=torch.float64)


class JointPolicy(ControllerPolicy):
    """Shared arm statistics over whole actions. Buffers: ``arms`` [A, D], ``counts`` / ``sums`` /
    ``sumsq`` [A] (possibly discounted), ``t`` rewards seen."""

    arms: torch.Tensor
    counts: torch.Tensor
    sums: torch.Tensor
    sumsq: torch.Tensor
    t: torch.Tensor

    def __init__(self, action_space: gym.spaces.Box, config: JointConfig, algo: str) -> None:
        super().__init__(action_space)
        arms = arm_table(config, self.action_dim)
        if arms.abs().max() > self.bound + 1e-9:
            raise RlcvError(
                f"{algo}: multipliers {config.multipliers} exceed the env's max_factor {2**self.bound:g}; "
                "pass smaller multipliers or --env-kwargs '{max_factor: ...}'."
            )
        self.register_buffer("arms", arms)
        n = len(arms)
        for name in ("counts", "sums", "sumsq"):
            self.register_buffer(name, torch.zeros(n, dtype=torch.float64))
        self.register_buffer("t", torch.zeros((), dtype=torch.float64))
        self.discount = 1.0

    def reset_statistics(self) -> None:
        for buf in (self.counts, self.sums, self.sumsq, self.t):
            buf.zero_()

    def observe(self, arm: int, reward: float) -> None:
        if self.discount < 1.0:
            for buf in (self.counts, self.sums, self.sumsq):
                buf.mul_(self.discount)
        self.counts[arm] += 1.0
        self.sums[arm] += reward
        self.sumsq[arm] += reward * reward
        self.t += 1.0

    def arm_of(self, action: torch.Tensor) -> int:
        return int((self.arms - action.double()[None, :]).abs().sum(1).argmin())

    def residual_scale(self, prior_count: float = 1.0) -> torch.Tensor:
        """σ̂: pooled standard deviation of rewards around their own arm's mean, shrunk toward the overall
        standard deviation by ``prior_count`` pseudo-observations (1 before any spread is seen)."""
        n = self.counts.sum()
        if n < 2:
            return torch.ones((), dtype=torch.float64)
        played = self.counts > 0
        mean = self.sums[played] / self.counts[played]
        within = (self.sumsq[played] - self.counts[played] * mean**2).sum().clamp(min=0.0)
        overall = (self.sumsq.sum() / n - (self.sums.sum() / n) ** 2).clamp(min=0.0)
        dof = (n - played.sum()).clamp(min=0.0)
        var = (within + prior_count * overall) / (dof + prior_count)
        return var.sqrt().clamp(min=1e-12)

    def choose(self, *, explore: bool) -> int:
        raise NotImplementedError

    def unplayed(self) -> int | None:
        """A uniformly random arm not played yet this episode (None once all were)."""
        idle = (self.counts == 0).nonzero().flatten()
        return int(idle[torch.randint(len(idle), ())]) if len(idle) else None

    def decide(self, obs: torch.Tensor, *, explore: bool) -> torch.Tensor:
        rows = [self.arms[self.choose(explore=explore)] for _ in range(obs.shape[0])]
        return torch.stack(rows)


class JointUCB1Policy(JointPolicy):
    r"""UCB1 over whole actions: play every arm once, then argmax μ̂_a + c σ̂ √(2 ln t / n_a)."""

    def __init__(self, action_space: gym.spaces.Box, config: JointUCB1Config, algo: str) -> None:
        super().__init__(action_space, config, algo)
        self.exploration = config.exploration

    def choose(self, *, explore: bool) -> int:
        mean = self.sums / self.counts.clamp(min=1.0)
        if not explore:
            return int(torch.where(self.counts > 0, mean, -torch.inf).argmax()) if self.t > 0 else 0
        first = self.unplayed()
        if first is not None:
            return first
        bonus = self.exploration * self.residual_scale() * torch.sqrt(2.0 * torch.log(self.t) / self.counts)
        return int((mean + bonus).argmax())


class ThompsonPolicy(JointPolicy):
    """Gaussian Thompson sampling with the pooled residual scale (module docstring)."""

    def __init__(self, action_space: gym.spaces.Box, config: ThompsonConfig, algo: str) -> None:
        super().__init__(action_space, config, algo)
        self.discount, self.prior_count = config.discount, config.prior_count

    def choose(self, *, explore: bool) -> int:
        mean = self.sums / self.counts.clamp(min=1e-12)
        if not explore:
            return int(torch.where(self.counts > 0, mean, -torch.inf).argmax()) if self.t > 0 else 0
        first = self.unplayed()
        if first is not None:
            return first
        sd = self.residual_scale(self.prior_count) / self.counts.sqrt()
        return int((mean + sd * torch.randn(mean.shape, dtype=torch.float64)).argmax())


class JointAgent(ControllerAgent):
    config: JointConfig
    metric_names = (*HPO_METRICS, "reward_scale", "arm_played_max_share")
    policy: JointPolicy
    policy_cls: ClassVar[type[JointPolicy]]

    def make_policy(self, action_space: gym.spaces.Box) -> ControllerPolicy:
        return self.policy_cls(action_space, self.config, self.algo)

    def adapt(self, batch: RolloutBatch) -> dict[str, float]:
        rewards, dones = batch.raw_rewards.double(), batch.dones
        if self.config.reward == "log_ratio":
            after = batch.raw_next_obs[..., OBS["val_loss"]].double().clamp(min=1e-12)
            rewards = torch.log((after + rewards).clamp(min=1e-12) / after)
        share = float(self.policy.counts.max() / self.policy.counts.sum().clamp(min=1e-12))
        for t in range(batch.n_steps):
            for n in range(batch.n_envs):
                self.policy.observe(self.policy.arm_of(batch.actions[t, n, 0]), float(rewards[t, n]))
            share = float(self.policy.counts.max() / self.policy.counts.sum().clamp(min=1e-12))
            if self.config.reset_each_episode and bool(dones[t].any()):
                self.policy.reset_statistics()
        return {"reward_scale": float(self.policy.residual_scale()), "arm_played_max_share": share}


class JointUCB1Agent(JointAgent):
    config_cls = JointUCB1Config
    config: JointUCB1Config
    algo = "hpo-ucb1-joint"
    policy_cls = JointUCB1Policy


class ThompsonAgent(JointAgent):
    config_cls = ThompsonConfig
    config: ThompsonConfig
    algo = "hpo-ts"
    policy_cls = ThompsonPolicy
