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
========================  ==========  ============================================================

Rewards are the env's raw rewards (decrease of validation loss); bandit statistics restart with
every episode (``reset_each_episode``), because a new inner run is a new non-stationary problem.
A meta-trained RL controller needs no code here: ``rlcv train --algo ppo --env rlcv/OnlineHPO-v0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch

from rlcv.agents.base import OnPolicyAgent
from rlcv.config import CommonConfig
from rlcv.config import _check as check
from rlcv.envs.online_hpo import HPARAMS, OBS, OBS_FIELDS
from rlcv.errors import RlcvError
from rlcv.policies import Policy, PolicySample
from rlcv.rollout import RolloutBatch

HPO_METRICS = ("hp_lr", "hp_batch_size", "hp_weight_decay", "val_loss", "val_accuracy", "reward_mean")
_LOG2_OBS = {
    "lr": ("log10_lr", math.log2(10.0)),
    "batch_size": ("log2_batch_size", 1.0),
    "weight_decay": ("log10_weight_decay", math.log2(10.0)),
}


# ------------------------------------------------------------------------------------ configs


@dataclass(kw_only=True)
class ControllerConfig(CommonConfig):
    """Shared by all controllers. ``controlled`` lists the hyper-parameters a controller may change."""

    n_steps: int = 1  # env steps per update (the loop's rollout length)
    controlled: list[str] = field(default_factory=lambda: list(HPARAMS))

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.n_steps >= 1, "n_steps must be >= 1")
        check(not self.normalize_obs, "controllers read the raw observation: normalize_obs must be false")
        check(
            len(self.controlled) > 0 and set(self.controlled) <= set(HPARAMS),
            f"controlled must be a non-empty subset of {list(HPARAMS)}",
        )


@dataclass(kw_only=True)
class BanditConfig(ControllerConfig):
    multipliers: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])  # the arms, per hyper-parameter
    reset_each_episode: bool = True

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


@dataclass(kw_only=True)
class HDConfig(ControllerConfig):
    beta: float = 1e-3  # hyper-learning-rate of SGD-HD (Baydin et al., 2018)
    controlled: list[str] = field(default_factory=lambda: ["lr"])

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.controlled == ["lr"], "hpo-hd controls the learning rate only (controlled: [lr])")


@dataclass(kw_only=True)
class ForwardConfig(ControllerConfig):
    beta: float = 1.0  # step on log λ per unit of d L_val / d log λ
    controlled: list[str] = field(default_factory=lambda: ["lr", "weight_decay"])

    def __post_init__(self) -> None:
        super().__post_init__()
        # The env computes Z only when asked: this controller cannot work without it.
        self.env_kwargs.setdefault("hypergradient", "forward")
        check(
            self.env_kwargs["hypergradient"] == "forward",
            "hpo-forward needs env_kwargs hypergradient: forward",
        )
        check(
            set(self.controlled) <= {"lr", "weight_decay"},
            "hpo-forward controls lr and/or weight_decay (batch size has no gradient)",
        )


@dataclass(kw_only=True)
class PBTConfig(ControllerConfig):
    n_envs: int = 4  # the population
    n_steps: int = 5  # env steps between exploit/explore rounds ("ready")
    truncation: float = 0.25  # bottom fraction copies the top fraction
    perturb: list[float] = field(default_factory=lambda: [0.8, 1.2])

    def __post_init__(self) -> None:
        super().__post_init__()
        # PBT's population starts from random configurations of the search space.
        self.env_kwargs.setdefault("hparam_init", "random")
        check(0.0 < self.truncation <= 0.5, "truncation must be in (0, 0.5]")
        check(
            len(self.perturb) >= 1 and all(p > 0 for p in self.perturb), "perturb must hold positive factors"
        )


# ---------------------------------------------------------------------------------- policies


class ControllerPolicy(Policy):
    """A controller as a policy: ``decide(obs) -> [B, 3]`` log2-multipliers, no learned parameters.

    Controllers are deterministic given their statistics (Thompson sampling draws from torch's RNG,
    so a seeded run is reproducible); ``log_prob`` is 0 and the stored noise is zeros.
    """

    def __init__(self, action_space: gym.spaces.Box) -> None:
        super().__init__()
        self.action_shape = (len(HPARAMS),)
        self.noise_shape = (len(HPARAMS),)
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


def _log2_hparam(obs: torch.Tensor, name: str) -> torch.Tensor:
    """log2 of a hyper-parameter from its observation field, [B] (float64 for exact ratios)."""
    field_name, scale = _LOG2_OBS[name]
    return obs[:, OBS[field_name]].double() * scale


class BanditPolicy(ControllerPolicy):
    """One bandit per controlled hyper-parameter over the arms log2(multipliers), shared by all envs.

    Buffers (checkpointed with the policy): ``counts`` / ``sums`` [d, m] per (hyper-parameter, arm),
    ``reward_sq`` / ``reward_n`` for the reward scale σ̂ = RMS of the rewards seen, ``t`` updates seen.
    """

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
        self.dims = [HPARAMS.index(h) for h in config.controlled]
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
        out = torch.zeros(obs.shape[0], len(HPARAMS), dtype=torch.float64)
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
        lr = torch.exp2(_log2_hparam(obs, "lr"))
        new_lr = lr + self.beta * obs[:, OBS["hd_signal"]].double()
        ratio = torch.where(new_lr > 0, new_lr / lr, torch.full_like(lr, 2.0**-self.bound))
        out = torch.zeros(obs.shape[0], len(HPARAMS), dtype=torch.float64)
        out[:, HPARAMS.index("lr")] = torch.log2(ratio)
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
        out = torch.zeros(obs.shape[0], len(HPARAMS), dtype=torch.float64)
        for name in self.controlled:
            # Δ log2 λ = Δ ln λ / ln 2
            out[:, HPARAMS.index(name)] = -self.beta * obs[:, OBS[self.FIELDS[name]]].double() / math.log(2.0)
        return out


class HoldPolicy(ControllerPolicy):
    """Never changes the hyper-parameters (PBT changes them between rounds, through the env)."""

    def decide(self, obs: torch.Tensor, *, explore: bool) -> torch.Tensor:
        return torch.zeros(obs.shape[0], len(HPARAMS), dtype=torch.float64)


# ------------------------------------------------------------------------------------ agents


def check_hpo_spaces(observation_space: gym.Space, action_space: gym.Space, algo: str) -> None:
    ok = (
        isinstance(observation_space, gym.spaces.Box)
        and observation_space.shape == (len(OBS_FIELDS),)
        and isinstance(action_space, gym.spaces.Box)
        and action_space.shape == (len(HPARAMS),)
    )
    if not ok:
        raise RlcvError(
            f"{algo} is a hyper-parameter controller for rlcv/OnlineHPO-v0 (observation "
            f"[{len(OBS_FIELDS)}], log2-multiplier action [{len(HPARAMS)}]); got observation "
            f"{observation_space} and action {action_space}. Use --env rlcv/OnlineHPO-v0."
        )


def hpo_metrics(batch: RolloutBatch) -> dict[str, float]:
    """The hyper-parameters and validation numbers at the end of a rollout (mean over envs)."""
    last = batch.raw_next_obs[-1].double()
    return {
        "hp_lr": float(torch.exp2(_log2_hparam(last, "lr")).mean()),
        "hp_batch_size": float(torch.exp2(_log2_hparam(last, "batch_size")).mean()),
        "hp_weight_decay": float(torch.exp2(_log2_hparam(last, "weight_decay")).mean()),
        "val_loss": float(last[:, OBS["val_loss"]].mean()),
        "val_accuracy": float(last[:, OBS["val_accuracy"]].mean()),
        "reward_mean": float(batch.raw_rewards.double().mean()),
    }


class ControllerAgent(OnPolicyAgent):
    """Base of the controllers: a :class:`ControllerPolicy`, no value function, no optimiser."""

    config_cls = ControllerConfig
    extra_metrics: tuple[str, ...] = ()

    def __init__(
        self, *, observation_space: gym.Space, action_space: gym.Space, config: Any, estimator: Any = None
    ) -> None:
        check_hpo_spaces(observation_space, action_space, self.algo)
        self.config = config
        self.policy: ControllerPolicy = self.make_policy(action_space)
        self.value_fn = None
        self.estimator = None
        self.updates = 0
        self.envs = None

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


class BanditAgent(ControllerAgent):
    extra_metrics = ("reward_scale",)
    policy: BanditPolicy

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
    algo = "hpo-ucb1"
    metric_names = (*HPO_METRICS, *BanditAgent.extra_metrics)

    def make_policy(self, action_space: gym.spaces.Box) -> ControllerPolicy:
        return UCB1Policy(action_space, self.config, self.algo)


class DTSAgent(BanditAgent):
    config_cls = DTSConfig
    algo = "hpo-dts"
    metric_names = (*HPO_METRICS, *BanditAgent.extra_metrics)

    def make_policy(self, action_space: gym.spaces.Box) -> ControllerPolicy:
        return DTSPolicy(action_space, self.config, self.algo)


class HDAgent(ControllerAgent):
    config_cls = HDConfig
    algo = "hpo-hd"
    metric_names = (*HPO_METRICS, "hd_signal")

    def make_policy(self, action_space: gym.spaces.Box) -> ControllerPolicy:
        return HDPolicy(action_space, self.config)

    def adapt(self, batch: RolloutBatch) -> dict[str, float]:
        return {"hd_signal": float(batch.raw_next_obs[-1, :, OBS["hd_signal"]].mean())}


class ForwardAgent(ControllerAgent):
    config_cls = ForwardConfig
    algo = "hpo-forward"
    metric_names = (*HPO_METRICS, "hypergrad_log_lr", "hypergrad_log_weight_decay")

    def make_policy(self, action_space: gym.spaces.Box) -> ControllerPolicy:
        return ForwardPolicy(action_space, self.config)

    def adapt(self, batch: RolloutBatch) -> dict[str, float]:
        last = batch.raw_next_obs[-1]
        return {k: float(last[:, OBS[k]].mean()) for k in ("hypergrad_log_lr", "hypergrad_log_weight_decay")}


class PBTAgent(ControllerAgent):
    r"""Synchronous population-based training (Jaderberg et al., 2017) with the loop's envs as population.

    Every ``n_steps`` env steps (one rollout) all members are ranked by validation loss; members
    that fell behind in the budget (their run diverged and restarted) rank last. Each member of the
    bottom ``truncation`` fraction copies a uniformly chosen member of the top fraction — weights,
    hyper-parameters and progress, through the env's ``member_state`` — and then multiplies each
    controlled hyper-parameter by a factor drawn from ``perturb`` (×0.8 / ×1.2). Rounds are skipped
    while the population is at the start of a new episode. Compute = population × one run.
    """

    config_cls = PBTConfig
    algo = "hpo-pbt"
    metric_names = (*HPO_METRICS, "pbt_exploits", "pbt_best_val_loss")

    def make_policy(self, action_space: gym.spaces.Box) -> ControllerPolicy:
        return HoldPolicy(action_space)

    def adapt(self, batch: RolloutBatch) -> dict[str, float]:
        if self.envs is None:
            raise RlcvError(
                "hpo-pbt needs the loop's vector env (agent.bind(envs=...)); run it with `rlcv train`."
            )
        states = list(self.envs.get_attr("member_state"))
        progress = [s["steps_done"] for s in states]
        best_val = min(s["val_loss"] for s in states)
        n, top = len(states), max(1, math.ceil(self.config.truncation * len(states)))
        if n < 2 or max(progress) == 0 or 2 * top > n:
            return {"pbt_exploits": 0.0, "pbt_best_val_loss": best_val}
        lead = max(progress)
        key = [
            (p < lead, s["val_loss"] if math.isfinite(s["val_loss"]) else math.inf)
            for p, s in zip(progress, states)
        ]
        order = sorted(range(n), key=lambda i: key[i])  # best first
        new: list[dict[str, Any] | None] = [None] * n
        factors = torch.tensor(self.config.perturb, dtype=torch.float64)
        for loser in order[-top:]:
            donor = order[int(torch.randint(top, ()))]
            state = dict(states[donor])
            for name in self.config.controlled:
                state[name] = state[name] * float(factors[int(torch.randint(len(factors), ()))])
            new[loser] = state
        self.envs.set_attr("member_state", new)
        return {"pbt_exploits": float(top), "pbt_best_val_loss": best_val}
