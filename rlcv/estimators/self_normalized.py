r"""Self-normalised importance weights: the boundary-seeking GAN estimator (Hjelm et al., 2018).

For each observation (latent) z the loop draws a group of M actions (images) x_1..x_M ~ g_θ(·|z)
and the env returns the log importance weights log w_m = log w(x_m) ≈ log p(x_m)/g_θ(x_m|z)
(``batch.group_rewards`` [T, N, M]). With

    w̃_m = w_m / Σ_k w_k        (softmax of log w over the group)

the generator follows p̃(x|z) = g_θ(x|z) w(x) / Z(z), the discriminator's reweighting of its own
samples, by

    ĝ = mean_z Σ_m (w̃_m − 1/M) ∇_θ log g_θ(x_m|z)

i.e. the loss −Σ_m sg(w̃_m) log g_θ(x_m|z) with the baseline 1/M subtracted (Σ_m ∇ log g(x_m)
has expectation 0, and Σ_m (w̃_m − 1/M) = 0 makes the estimate invariant to any constant in
log w). As M → ∞, ĝ → E_{p̃}[∇ log g_θ] = −∇_θ KL(p̃ ‖ g_θ) with p̃ held fixed; with the optimal
discriminator w = p/g this is the maximum-likelihood gradient E_p[∇ log g_θ] (tested exactly in
``tests/test_bgan.py``). For finite M the estimate is biased (a ratio estimator) but consistent.

Shapes: advantages [T·N, M] (group-shaped: the agent's loss is −mean_z Σ_m Â_m log g(x_m|z)).
Diagnostics (:func:`log_weight_stats`): mean/variance of log w, effective sample size
ESS = 1 / Σ_m w̃_m² ∈ [1, M] (mean over z), and log Z = mean_z log (1/M) Σ_m w_m.
"""

from __future__ import annotations

import math

import torch

from rlcv.estimators.base import EstimatorTerms, GradientEstimator
from rlcv.policies import Policy
from rlcv.rollout import RolloutBatch
from rlcv.value import ValueFunction

WEIGHT_METRICS = ("log_w_mean", "log_w_var", "ess", "log_z")  # keys of log_weight_stats


def group_log_weights(batch: RolloutBatch) -> torch.Tensor:
    """log w [T·N, M] from a group-sampled batch (member 0 is the executed action)."""
    if batch.group_rewards is None:
        raise ValueError("this estimator needs a group of actions per observation (group_size > 1)")
    return batch.group_rewards.reshape(-1, batch.group_size)


def normalized_weights(log_w: torch.Tensor) -> torch.Tensor:
    """w̃ = w / Σ_m w over the last dim, computed from log w without overflow."""
    return torch.softmax(log_w, dim=-1)


def log_weight_stats(log_w: torch.Tensor) -> dict[str, float]:
    """Diagnostics of log w [B, M] (see the module docstring)."""
    m = log_w.shape[-1]
    w_tilde = normalized_weights(log_w)
    return {
        "log_w_mean": log_w.mean().item(),
        "log_w_var": log_w.var().item() if log_w.numel() > 1 else 0.0,
        "ess": (1.0 / w_tilde.pow(2).sum(-1)).mean().item(),
        "log_z": (torch.logsumexp(log_w, -1) - math.log(m)).mean().item(),
    }


class SelfNormalizedWeights(GradientEstimator):
    """``power`` β < 1 tempers the weights, w̃ = softmax(β log w) (``boundary_seeking``'s
    ``weight_power``); the logged diagnostics are always those of the untempered log w."""

    name = "self_normalized"
    metric_names = WEIGHT_METRICS

    def __init__(self, power: float = 1.0) -> None:
        self.power = float(power)

    def prepare(
        self, batch: RolloutBatch, *, policy: Policy | None, value_fn: ValueFunction | None
    ) -> EstimatorTerms:
        log_w = group_log_weights(batch)
        advantages = normalized_weights(self.power * log_w) - 1.0 / log_w.shape[-1]
        zeros = torch.zeros(log_w.shape[0], dtype=log_w.dtype)
        return EstimatorTerms(
            advantages=advantages, returns=zeros, values=zeros, stats=log_weight_stats(log_w)
        )
