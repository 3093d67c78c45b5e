r"""Relaxed discrete generators: the Gumbel-softmax / straight-through pathwise baseline.

Instead of a score function, differentiate the reward through a continuous relaxation of the
discrete sample (Jang et al. 2017; Maddison et al. 2017), using the *same* noise the collector drew,
so the relaxed sample rounds to exactly the action the env scored:

- MultiBinary (Bernoulli logits l, collected a = 1[u < σ(l)], u ~ U(0, 1)):
      y = σ((l − logit u) / τ)                          (binary concrete; y > ½ ⇔ a = 1)
- MultiDiscrete (log-probabilities log π, collected a = argmax(log π + γ), γ ~ Gumbel):
      y = softmax((log π + γ) / τ)                      (Gumbel-softmax over each pixel's levels)

With ``straight_through`` the forward value is the hard sample and the gradient that of y:
x = hard + y − sg(y). The generator ascends the env's differentiable reward (its
``differentiable_reward(obs, relaxed_action)`` hook, log w for BGAN-Digits):

    loss = −mean_{z, m} log w(x_m(θ))

The estimate is biased (relaxation / straight-through) but has low variance. There is no score
term: advantages are zeros [T·N, M]. ``reward_fns`` (one per env of the vector env, since each env
may hold its own discriminator) come from the env hooks at :meth:`RelaxedPathwise.bind`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from rlcv.errors import RlcvError
from rlcv.estimators.base import EstimatorSetup, EstimatorTerms, GradientEstimator
from rlcv.estimators.self_normalized import WEIGHT_METRICS, group_log_weights, log_weight_stats
from rlcv.policies import Policy, Relaxable
from rlcv.rollout import RolloutBatch
from rlcv.settings import check, setting
from rlcv.value import ValueFunction

if TYPE_CHECKING:
    from rlcv.env_hooks import BindContext

RewardFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def relaxed_action(
    policy: Policy, obs: torch.Tensor, noise: torch.Tensor, *, temperature: float, straight_through: bool
) -> torch.Tensor:
    """Relaxed sample [B, G, n] (Bernoulli) or [B, G, d, n] (multi-categorical) from ``noise``."""
    if not isinstance(policy, Relaxable):
        raise RlcvError(
            f"a relaxed generator needs a MultiBinary or MultiDiscrete action space, got "
            f"{type(policy).__name__}; use --algo bgan for continuous actions."
        )
    return policy.relaxed_action(obs, noise, temperature=temperature, straight_through=straight_through)


def grouped_reward(
    reward_fns: list[RewardFn], raw_obs: torch.Tensor, actions: torch.Tensor, env_index: torch.Tensor
) -> torch.Tensor:
    """Differentiable reward [B, G] of actions [B, G, ...]; row b is scored by env ``env_index[b]``."""
    out = torch.zeros(actions.shape[:2], dtype=actions.dtype)
    for n, fn in enumerate(reward_fns):
        rows = (env_index == n).nonzero().squeeze(-1)
        if len(rows):
            out = out.index_put((rows,), fn(raw_obs[rows], actions[rows]).to(actions.dtype))
    return out


def bound_reward_fns(context: BindContext, algo: str) -> list[RewardFn]:
    """The env's ``differentiable_reward`` per sub-env, or the error saying why there is none."""
    fns = context.hooks.differentiable_reward() if context.hooks is not None else None
    if fns is None:
        where = (
            "this env"
            if context.hooks is None or context.hooks.in_process
            else "an async vector env (use --set vectorization=sync)"
        )
        # Never point back to an algorithm that fails the same way (bgan on Box actions is the
        # continuous objective: it needs this hook too, and bgan-reinforce is discrete-only).
        fix = (
            "on Box actions, bgan needs a generator env (rlcv/BGAN-DigitsCont-v0); train other envs "
            "with --algo ppo or trpo"
            if algo == "bgan"
            else "use --algo bgan or bgan-reinforce"
        )
        raise RlcvError(
            f"{algo} back-propagates through the env's reward, which {where} does not "
            f"offer (no 'differentiable_reward' hook); {fix}."
        )
    return fns


@dataclass(kw_only=True)
class RelaxedSettings:
    temperature: float = setting(1.0, resumable=True)  # τ of the relaxation
    straight_through: bool = True  # hard samples forward, relaxed gradient backward

    def __post_init__(self) -> None:
        check(self.temperature > 0, "temperature must be > 0")


class RelaxedPathwise(GradientEstimator):
    name = "relaxed"
    settings_cls = RelaxedSettings
    metric_names = WEIGHT_METRICS

    def __init__(self, *, temperature: float, straight_through: bool, algo: str = "bgan-gumbel") -> None:
        self.temperature, self.straight_through, self.algo = temperature, straight_through, algo
        self.reward_fns: list[RewardFn] | None = None

    @classmethod
    def from_setup(cls, settings: Any, setup: EstimatorSetup) -> RelaxedPathwise:
        return cls(
            temperature=settings.temperature, straight_through=settings.straight_through, algo=setup.algo
        )

    def bind(self, context: BindContext) -> None:
        self.reward_fns = bound_reward_fns(context, self.algo)

    def prepare(
        self, batch: RolloutBatch, *, policy: Policy, value_fn: ValueFunction | None
    ) -> EstimatorTerms:
        if self.reward_fns is None:
            raise RuntimeError("RelaxedPathwise.reward_fns must be set (bind does it)")
        log_w = group_log_weights(batch)
        T, N = batch.n_steps, batch.n_envs
        obs = batch.obs.reshape(T * N, -1)
        raw_obs = batch.raw_obs.reshape(T * N, -1)
        noise = batch.noise.reshape(T * N, *batch.noise.shape[2:])
        reward_fns, tau, st = self.reward_fns, self.temperature, self.straight_through

        def pathwise_loss(
            idx: torch.Tensor, pol: Policy, weights: torch.Tensor | None = None
        ) -> torch.Tensor:
            x = relaxed_action(pol, obs[idx], noise[idx], temperature=tau, straight_through=st)
            reward = grouped_reward(reward_fns, raw_obs[idx], x, idx % N)
            return -(reward if weights is None else weights.detach() * reward).mean()

        zeros = torch.zeros(T * N, dtype=log_w.dtype)
        return EstimatorTerms(
            advantages=torch.zeros_like(log_w),
            returns=zeros,
            values=zeros,
            pathwise_loss=pathwise_loss,
            stats=log_weight_stats(log_w),
        )
