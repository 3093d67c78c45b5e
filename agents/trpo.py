"""Trust Region Policy Optimisation (Schulman et al., 2015) with a pluggable gradient estimator.

Per rollout, with g the estimator's policy gradient (∇ of the surrogate
L(θ) = mean ρ_θ Â + pathwise at θ_old):

1. solve F x = g by conjugate gradient, F the Hessian of mean KL(π_old ‖ π_θ) at θ_old (exact
   Fisher-vector products by double back-prop, damped by ``cg_damping``);
2. full step Δ = √(2 δ / xᵀF x) · x, δ = ``target_kl``;
3. backtracking line search θ_old + β^j Δ until the KL bound holds and L improves;
4. ``n_critic_updates`` epochs of Adam on the value function over minibatches.

Defaults follow sb3-contrib's TRPO.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from rlcv.agents.base import ActorCriticAgent, explained_variance
from rlcv.config import EstimatorConfig, check
from rlcv.estimators.base import EstimatorTerms
from rlcv.rollout import RolloutBatch
from rlcv.settings import setting


@dataclass(kw_only=True)
class TRPOConfig(EstimatorConfig):
    n_steps: int = setting(2048, "env steps per env per update (rollout length)")
    batch_size: int = 128  # value-function minibatch
    learning_rate: float = setting(1e-3, resumable=True)  # value-function Adam
    n_critic_updates: int = setting(10, "value-function epochs per update")
    gae_lambda: float = setting(0.95, "λ of generalised advantage estimation")
    target_kl: float = setting(0.01, "KL bound (TRPO step size; PPO early stop when set)", resumable=True)
    cg_max_steps: int = setting(15, "conjugate-gradient iterations")
    cg_damping: float = setting(0.1, "damping added to the Fisher-vector product")
    line_search_shrinking_factor: float = setting(0.8, "backtracking factor of the line search")
    line_search_max_iter: int = setting(10, "line-search steps before the update is rejected")
    normalize_advantage: bool = setting(True, "standardise advantages per batch")

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.n_steps >= 1 and self.batch_size >= 1, "n_steps and batch_size must be >= 1")
        check(self.target_kl > 0 and self.cg_damping >= 0, "target_kl must be > 0 and cg_damping >= 0")
        check(0 < self.line_search_shrinking_factor < 1, "line_search_shrinking_factor must be in (0, 1)")


def conjugate_gradient(matvec, b: torch.Tensor, max_steps: int, tol: float = 1e-10) -> torch.Tensor:
    """Approximately solve A x = b for symmetric positive-definite A given only x ↦ A x."""
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    rr = r @ r
    for _ in range(max_steps):
        ap = matvec(p)
        alpha = rr / (p @ ap)
        x += alpha * p
        r -= alpha * ap
        rr_new = r @ r
        if rr_new < tol:
            break
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


class TRPO(ActorCriticAgent):
    config_cls = TRPOConfig
    config: TRPOConfig
    algo = "trpo"
    own_metrics = (
        "policy_loss",
        "value_loss",
        "kl",
        "line_search_steps",
        "step_accepted",
        "explained_variance",
        "entropy",
    )
    metric_names = own_metrics  # with the default estimator (gae); instances add their estimator's

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.value_optimizer = torch.optim.Adam(self.value_fn.parameters(), lr=self.config.learning_rate)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"value_adam": self.value_optimizer}

    def surrogate(
        self, terms: EstimatorTerms, obs: torch.Tensor, actions: torch.Tensor, old_log_probs: torch.Tensor
    ) -> torch.Tensor:
        """L(θ) = mean ρ_θ Â + P(θ); its gradient at θ_old is the estimator's policy gradient."""
        ratio = (self.policy.log_prob(obs, actions) - old_log_probs).exp()
        value = (ratio * terms.advantages).mean()
        if terms.pathwise_loss is not None:
            # No per-sample weights: the line search bounds the whole step, pathwise term included.
            value = value - terms.pathwise_loss(torch.arange(obs.shape[0]), self.policy, None)
        return value

    def learn(self, batch: RolloutBatch, terms: EstimatorTerms) -> dict[str, float]:
        cfg = self.config
        obs = batch.obs.reshape(-1, batch.obs.shape[-1])
        actions = batch.actions[:, :, 0].reshape(-1, *batch.actions.shape[3:])
        old_log_probs = batch.log_probs[:, :, 0].reshape(-1)
        params = list(self.policy.parameters())

        with torch.no_grad():
            old_dist = tuple(t.detach() for t in self.policy.dist_params(obs))
        surrogate = self.surrogate(terms, obs, actions, old_log_probs)
        self.check_finite("TRPO surrogate", surrogate)
        grad = parameters_to_vector(torch.autograd.grad(surrogate, params))

        kl = self.policy.kl(old_dist, self.policy.dist_params(obs))
        kl_grad = parameters_to_vector(torch.autograd.grad(kl, params, create_graph=True))

        def fisher_vector(v: torch.Tensor) -> torch.Tensor:
            hv = torch.autograd.grad(kl_grad @ v, params, retain_graph=True)
            return parameters_to_vector(hv) + cfg.cg_damping * v

        direction = conjugate_gradient(fisher_vector, grad, cfg.cg_max_steps)
        shs = direction @ fisher_vector(direction)
        step = torch.sqrt(2 * cfg.target_kl / shs.clamp_min(1e-12)) * direction

        old_params = parameters_to_vector(params).detach()
        accepted, steps_taken, new_kl, new_surr = False, 0, 0.0, surrogate.item()
        with torch.no_grad():
            coef = 1.0
            for attempt in range(1, cfg.line_search_max_iter + 1):
                steps_taken = attempt
                vector_to_parameters(old_params + coef * step, params)
                new_kl = self.policy.kl(old_dist, self.policy.dist_params(obs)).item()
                new_surr = self.surrogate(terms, obs, actions, old_log_probs).item()
                if new_kl <= cfg.target_kl and new_surr > surrogate.item() and np.isfinite(new_surr):
                    accepted = True
                    break
                coef *= cfg.line_search_shrinking_factor
            if not accepted:
                vector_to_parameters(old_params, params)
                new_kl, new_surr = 0.0, surrogate.item()

        value_losses = []
        n = obs.shape[0]
        for _ in range(cfg.n_critic_updates):
            perm = torch.randperm(n)
            for start in range(0, n, cfg.batch_size):
                idx = perm[start : start + cfg.batch_size]
                value_loss = (self.value_fn(obs[idx]) - terms.returns[idx]).pow(2).mean()
                self.check_finite("TRPO value loss", value_loss)
                self.value_optimizer.zero_grad(set_to_none=True)
                value_loss.backward()
                self.value_optimizer.step()
                value_losses.append(value_loss.item())

        with torch.no_grad():
            entropy = self.policy.entropy(obs).mean().item()
        return {
            "policy_loss": -new_surr,
            "value_loss": float(np.mean(value_losses)),
            "kl": float(new_kl),
            "line_search_steps": float(steps_taken),
            "step_accepted": float(accepted),
            "explained_variance": explained_variance(terms.values, terms.returns),
            "entropy": entropy,
        }
