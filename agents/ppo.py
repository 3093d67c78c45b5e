"""Proximal Policy Optimisation (Schulman et al., 2017) with a pluggable gradient estimator.

Per rollout: the estimator gives advantages Â (and optionally a pathwise term P); then for
``n_epochs`` passes over shuffled minibatches of ``batch_size`` samples

    L = −mean min(ρ Â, clip(ρ, 1 ± ε) Â) − pathwise  − c_ent · H[π]  + c_v · mean (V(s) − R)²,
    ρ = π_θ(a|s) / π_old(a|s),

(the estimator's pathwise term gets the per-sample weights ρ · 1[|ρ − 1| ≤ ε], detached, so that it
can stay inside the same trust region as the clipped score term),

one Adam step on policy and value parameters together with the global grad norm clipped to
``max_grad_norm`` (SB3's defaults: n_steps 2048, batch 64, 10 epochs, lr 3e-4, ε 0.2).
With ``target_kl`` set, the epochs stop once the approximate KL exceeds 1.5 · target_kl.

Each epoch's minibatches come from :meth:`PPO.minibatches`: ``batch_size`` counted samples (indices
``idx``, a fresh permutation per epoch) and the :class:`PolicySamples` the policy loss averages over
(those same samples here; the oracle of :mod:`rlcv.agents.ppo_oracle` appends uncounted ones).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from rlcv.agents.base import ActorCriticAgent, explained_variance
from rlcv.config import EstimatorConfig, check
from rlcv.estimators.base import EstimatorTerms
from rlcv.rollout import RolloutBatch
from rlcv.settings import setting


@dataclass(kw_only=True)
class PPOConfig(EstimatorConfig):
    n_steps: int = setting(2048, "env steps per env per update (rollout length)")
    batch_size: int = setting(64, "minibatch size")
    n_epochs: int = setting(10, "passes over each rollout", resumable=True)
    learning_rate: float = setting(3e-4, "Adam step size", resumable=True)
    gae_lambda: float = setting(0.95, "λ of generalised advantage estimation")
    clip_range: float = setting(0.2, "PPO ratio clip ε", resumable=True)
    ent_coef: float = setting(0.0, "entropy bonus coefficient", resumable=True)
    vf_coef: float = setting(0.5, "value-loss coefficient", resumable=True)
    max_grad_norm: float = setting(0.5, "gradient-norm clipping threshold", resumable=True)
    target_kl: float | None = setting(
        None, "KL bound (TRPO step size; PPO early stop when set)", resumable=True
    )
    normalize_advantage: bool = setting(True, "standardise advantages per batch")

    def __post_init__(self) -> None:
        super().__post_init__()
        check(
            self.n_steps >= 1 and self.batch_size >= 1 and self.n_epochs >= 1,
            "n_steps, batch_size and n_epochs must be >= 1",
        )
        check(self.learning_rate > 0 and self.clip_range > 0, "learning_rate and clip_range must be > 0")
        check(0.0 <= self.gae_lambda <= 1.0, "gae_lambda must be in [0, 1]")
        check(self.max_grad_norm > 0, "max_grad_norm must be > 0")
        check(self.target_kl is None or self.target_kl > 0, "target_kl must be > 0 (or null: no early stop)")
        check(self.vf_coef >= 0, "vf_coef must be >= 0")


class PPO(ActorCriticAgent):
    config_cls = PPOConfig
    config: PPOConfig
    algo = "ppo"
    own_metrics = (
        "policy_loss",
        "value_loss",
        "entropy",
        "approx_kl",
        "clip_fraction",
        "explained_variance",
        "grad_norm",
        "n_epochs_run",
    )
    metric_names = own_metrics  # with the default estimator (gae); instances add their estimator's

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        params = [*self.policy.parameters(), *self.value_fn.parameters()]
        self.optimizer = torch.optim.Adam(
            params, lr=self.config.learning_rate, eps=1e-5, fused=True
        )  # one kernel for all params: fewer dispatches

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.optimizer}

    def learn(self, batch: RolloutBatch, terms: EstimatorTerms) -> dict[str, float]:
        cfg = self.config
        if batch.group_size != 1:
            raise ValueError("PPO uses one action per observation (group_size=1)")
        obs, actions, old_log_probs = flat_samples(batch)
        counted = PolicySamples(obs, actions, old_log_probs, terms.advantages)
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        logs: dict[str, list[float]] = {
            k: [] for k in ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "grad_norm")
        }
        epochs_run = 0
        for _ in range(cfg.n_epochs):
            epochs_run += 1
            epoch_kl = []
            for idx, samples in self.minibatches(counted):
                approx_kl = self._step(idx, samples, obs, terms, params, logs)
                epoch_kl.append(approx_kl)
                if cfg.target_kl is not None and approx_kl > 1.5 * cfg.target_kl:
                    break
            if cfg.target_kl is not None and epoch_kl and epoch_kl[-1] > 1.5 * cfg.target_kl:
                break

        out = {k: float(np.mean(v)) for k, v in logs.items()}
        out["n_epochs_run"] = float(epochs_run)
        with torch.no_grad():
            out["explained_variance"] = explained_variance(terms.values, terms.returns)
        return out

    def minibatches(self, counted: PolicySamples) -> Iterator[tuple[torch.Tensor, PolicySamples]]:
        """One epoch: the indices of each minibatch's counted samples (a fresh permutation, split into
        ``batch_size`` pieces) and the samples its policy loss averages over (here the same ones)."""
        perm = torch.randperm(len(counted.obs))
        for start in range(0, len(perm), self.config.batch_size):
            idx = perm[start : start + self.config.batch_size]
            yield idx, counted.take(idx)

    def _step(
        self,
        idx: torch.Tensor,
        samples: PolicySamples,
        obs: torch.Tensor,
        terms: EstimatorTerms,
        params: list[torch.Tensor],
        logs: dict[str, list[float]],
    ) -> float:
        """One Adam step on one minibatch: the policy loss over ``samples``, the value loss and the
        pathwise term over the counted samples ``idx``; appends its metrics, returns its approx KL."""
        cfg = self.config
        log_prob = self.policy.log_prob(samples.obs, samples.actions)
        log_ratio = log_prob - samples.log_probs
        ratio = log_ratio.exp()
        adv = samples.advantages
        clipped = ratio.clamp(1 - cfg.clip_range, 1 + cfg.clip_range)
        policy_loss = -torch.min(ratio * adv, clipped * adv).mean()
        if terms.pathwise_loss is not None:
            # The pathwise term under the same trust region as the score term: weighted by the
            # ratio, dropped outside the clip range (counted samples only: they come first).
            counted = ratio[: len(idx)].detach()
            weights = counted * ((counted - 1).abs() <= cfg.clip_range)
            policy_loss = policy_loss + terms.pathwise_loss(idx, self.policy, weights)
        value_loss = (self.value_fn(obs[idx]) - terms.returns[idx]).pow(2).mean()
        entropy = self.policy.entropy(samples.obs).mean()
        loss = policy_loss - cfg.ent_coef * entropy + cfg.vf_coef * value_loss
        self.check_finite("PPO loss", loss)

        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        self.optimizer.step()

        with torch.no_grad():
            # (ρ − 1) − log ρ: the low-variance KL estimator of CleanRL / SB3.
            approx_kl = ((ratio - 1) - log_ratio).mean().item()
            logs["clip_fraction"].append(((ratio - 1).abs() > cfg.clip_range).float().mean().item())
        logs["policy_loss"].append(policy_loss.item())
        logs["value_loss"].append(value_loss.item())
        logs["entropy"].append(entropy.item())
        logs["approx_kl"].append(approx_kl)
        logs["grad_norm"].append(float(grad_norm))
        return approx_kl


class PolicySamples(NamedTuple):
    """Flat samples of the policy loss: observations, executed actions, log π_old, advantages."""

    obs: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    advantages: torch.Tensor

    def take(self, idx: torch.Tensor) -> PolicySamples:
        return PolicySamples(*(x[idx] for x in self))

    def cat(self, other: PolicySamples) -> PolicySamples:
        """These samples first, then ``other``'s."""
        return PolicySamples(*(torch.cat([a, b]) for a, b in zip(self, other, strict=True)))


def flat_samples(batch: RolloutBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Observations [T·N, obs_dim], executed actions [T·N, *a] and their log π_old [T·N]."""
    obs = batch.obs.reshape(-1, batch.obs.shape[-1])
    actions = batch.actions[:, :, 0].reshape(-1, *batch.actions.shape[3:])
    return obs, actions, batch.log_probs[:, :, 0].reshape(-1)
