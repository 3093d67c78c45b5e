r"""The continuous boundary-seeking objective, for generators with continuous outputs.

For a reparameterised generator x_θ(z, ξ) (a Gaussian policy: x = μ_θ(z) + σ_θ ⊙ ξ, with the
collected noise ξ) and the discriminator's log-weight V(x) = log w(x) (the logit for the GAN
divergence), Hjelm et al. (2018, eq. 9) move samples onto the discriminator's decision boundary:

    loss = mean_{z, m} (V(x_θ(z, ξ_m)) − log Z)²,
    log Z ← β log Z + (1 − β) log mean_{z, m} exp V(x_m)      (EMA over batches, β = ``decay``)

At the optimum p = g, V ≡ log Z: every sample sits where the discriminator cannot decide. V is the
env's ``differentiable_reward`` hook, back-propagated into x only. There is no score term:
advantages are zeros [T·N, M].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from rlcv.errors import RlcvError
from rlcv.estimators.base import EstimatorSetup, EstimatorTerms, GradientEstimator
from rlcv.estimators.relaxed import RewardFn, bound_reward_fns, grouped_reward
from rlcv.estimators.self_normalized import WEIGHT_METRICS, group_log_weights, log_weight_stats
from rlcv.policies import Policy, Reparameterised
from rlcv.rollout import RolloutBatch
from rlcv.settings import check, setting
from rlcv.value import ValueFunction

if TYPE_CHECKING:
    from rlcv.env_hooks import BindContext


@dataclass(kw_only=True)
class BoundarySeekingSettings:
    log_z_decay: float = setting(0.99, resumable=True)  # β of the EMA of log Z (the continuous objective)
    weight_power: float = setting(
        1.0,
        "discrete generators: self-normalised weights softmax(weight_power · log w); < 1 tempers "
        "them (higher ESS, a target between g and the reweighted p̃), > 1 sharpens them (lower ESS, "
        "a target past p̃: g·w^β, for a discriminator whose log w is flattened, e.g. by instance noise)",
        resumable=True,
    )

    continuous_objective: str = setting(
        "boundary",
        "Box generators: 'boundary', the (V − log Z)² objective, each sample moved on its own; or "
        "'weights', the discrete estimator's self-normalised weights over the M samples of a latent "
        "with the Gaussian's log-density (the latents then compete for the data, as in EM)",
    )

    def __post_init__(self) -> None:
        check(0 <= self.log_z_decay < 1, "log_z_decay must be in [0, 1)")
        check(
            self.continuous_objective in ("boundary", "weights"),
            f"continuous_objective must be 'boundary' or 'weights', got {self.continuous_objective!r}",
        )
        check(0 < self.weight_power <= 4, "weight_power must be in (0, 4]")


class ContinuousBoundarySeeking(GradientEstimator):
    name = "continuous_bgan"
    settings_cls = BoundarySeekingSettings
    metric_names = (*WEIGHT_METRICS, "log_z_ema")

    def __init__(self, *, decay: float, algo: str = "bgan") -> None:
        self.decay, self.algo = decay, algo
        self.log_z: float | None = None
        self.reward_fns: list[RewardFn] | None = None

    @classmethod
    def from_setup(cls, settings: Any, setup: EstimatorSetup) -> ContinuousBoundarySeeking:
        return cls(decay=settings.log_z_decay, algo=setup.algo)

    def bind(self, context: BindContext) -> None:
        self.reward_fns = bound_reward_fns(context, self.algo)

    def prepare(
        self, batch: RolloutBatch, *, policy: Policy, value_fn: ValueFunction | None
    ) -> EstimatorTerms:
        if self.reward_fns is None:
            raise RuntimeError("ContinuousBoundarySeeking.reward_fns must be set (bind does it)")
        if not isinstance(policy, Reparameterised):
            raise RlcvError("the continuous BGAN objective needs a reparameterised (Box-action) policy.")
        log_w = group_log_weights(batch)
        batch_log_z = (torch.logsumexp(log_w.reshape(-1), 0) - math.log(log_w.numel())).item()
        self.log_z = (
            batch_log_z if self.log_z is None else self.decay * self.log_z + (1 - self.decay) * batch_log_z
        )
        T, N = batch.n_steps, batch.n_envs
        obs = batch.obs.reshape(T * N, -1)
        raw_obs = batch.raw_obs.reshape(T * N, -1)
        noise = batch.noise.reshape(T * N, *batch.noise.shape[2:])
        reward_fns, log_z = self.reward_fns, self.log_z

        def pathwise_loss(
            idx: torch.Tensor, pol: Policy, weights: torch.Tensor | None = None
        ) -> torch.Tensor:
            assert isinstance(pol, Reparameterised)  # the policy prepare() was given (checked there)
            x = pol.action_from_noise(obs[idx], noise[idx])
            v = grouped_reward(reward_fns, raw_obs[idx], x, idx % N)
            sq = (v - log_z).pow(2)
            return (sq if weights is None else weights.detach() * sq).mean()

        zeros = torch.zeros(T * N, dtype=log_w.dtype)
        return EstimatorTerms(
            advantages=torch.zeros_like(log_w),
            returns=zeros,
            values=zeros,
            pathwise_loss=pathwise_loss,
            stats={**log_weight_stats(log_w), "log_z_ema": self.log_z},
        )

    def state_dict(self) -> dict[str, Any]:
        return {"log_z": self.log_z}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.log_z = state["log_z"]
