r"""Multi-step model-based control variate (MBMF) for the policy gradient.

Policy a = μ_θ(s) + σ_θ ⊙ ξ, ξ ~ N(0, I). For every real step t of a batch (M = T·N samples):

* noise embedding: ξ_t is the noise that produced a_t under the behaviour policy (stored by the
  collector; equal to (a_t − μ_θ(s_t)) / σ_θ at θ = θ_old);
* k-step control variate, with a model f, r̂, p̂_continue and the *real* future noises:

      C_t(a) = Σ_{i=0}^{h_t−1} γ^i c_i r̂(ŝ_i, â_i) + γ^{h_t} c_{h_t} V(ŝ_{h_t}),
      ŝ_0 = s_t,  â_0 = a,  ŝ_{i+1} = f(ŝ_i, â_i),  â_i = μ̄(ŝ_i) + σ̄ ⊙ ξ_{t+i}  (i ≥ 1),

  where μ̄, σ̄ are the policy with parameters held constant (stop-gradient), c_i = Π_{j<i} p̂_j is
  the model's continuation probability, and h_t = min(k, steps to the batch end, steps to the
  episode's time limit). With k = 0, C_t = V(s_t);

  *Where the imagined rollout is cut.* Every cut point must be independent of ξ_t, or C_t would
  depend on a_t beyond its argument and the estimate would be biased. The batch end and the time
  limit (known from the episode's step counter) are; a real *termination* is not — whether the
  real episode ends at t+j depends on a_t (a falling Hopper). So terminations are left to the
  model's p̂_continue, and the real future noises are replayed across a real episode end (the noises
  of the next episode are as independent of ξ_t as any). A time-limit cut bootstraps, as a
  truncation does. (Cutting at real terminations — ``cut_at_terminations=True`` — is kept for
  envs whose episode ends do not depend on actions, like the fixed horizon of ``rlcv/LQR-v0``;
  it is biased otherwise, measurably so on Hopper.)
* gradient (η per sample, b(s) = V(s)):

      ĝ = mean_t ∇_θ log π_θ(a_t|s_t) · [Â_t − η_t (C_t(a_t) − V(s_t))]
          + mean_t η_t ∇_a C_t(a)|_{a_t} · ∂_θ a_θ(s_t, ξ_t).

  The second term is E[∇ log π · C] computed by reparameterisation: since C_t depends on θ only
  through a (future actions use fixed parameters and independent noise), the sum is unbiased for
  any model, critic and fixed η. With k = 0, ∇_a C = 0 and C − V = 0: exactly the state-value
  baseline.

η: ``fixed`` (the ``eta`` value), ``fitted`` (η = Cov(Â, D)/Var(D) over the batch, D = C − V:
the variance-minimising scalar for the score term, a batch statistic like advantage normalisation),
or Q-Prop's per-sample ``conservative`` (η_t = 1[Â_t D_t > 0]) / ``aggressive`` (η_t = sign(Â_t D_t)).
The Q-Prop modes make η_t depend on a_t and are therefore biased; they are provided for comparison.

Advantage normalisation divides *both* terms by the same scale (std of the residual), so the
estimate is the gradient of one objective (a pitfall of public Q-Prop code is to normalise only
the score term). The model must not have been trained on the batch it is applied to (its
predictions would then depend on a_t); :mod:`rlcv.agents.mbmf` trains it after the update.

Optional model-residual noise embedding (``noise_embedding="model_residual"``): each imagined
step adds the real residual ζ_{t+i} = s_{t+i+1} − f(s_{t+i}, a_{t+i}). Unbiased only for a correct
model, off by default.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

from rlcv.dynamics import DynamicsModel
from rlcv.estimators.base import EstimatorTerms, GradientEstimator
from rlcv.estimators.state_baseline import StateValueBaseline
from rlcv.models import ValueFunction
from rlcv.policies import GaussianPolicy, Policy
from rlcv.rollout import RolloutBatch

ETA_MODES = ("fixed", "fitted", "conservative", "aggressive")


class MBMFControlVariate(GradientEstimator):
    name = "mbmf"

    def __init__(
        self,
        *,
        model: DynamicsModel | None,
        k: int,
        gamma: float,
        gae_lambda: float,
        eta: float = 1.0,
        eta_mode: str = "fixed",
        normalize_advantage: bool = True,
        obs_transform: Callable[[torch.Tensor], torch.Tensor] = lambda x: x,
        reward_scale: Callable[[], float] = lambda: 1.0,
        noise_embedding: str = "policy",
        cut_at_terminations: bool = False,
        drop_pathwise: bool = False,
    ) -> None:
        if eta_mode not in ETA_MODES:
            raise ValueError(f"eta_mode must be one of {ETA_MODES}")
        if noise_embedding not in ("policy", "model_residual"):
            raise ValueError("noise_embedding must be 'policy' or 'model_residual'")
        self.model, self.k, self.gamma = model, k, gamma
        self.eta, self.eta_mode = eta, eta_mode
        self.normalize_advantage = normalize_advantage
        self.obs_transform, self.reward_scale = obs_transform, reward_scale
        self.noise_embedding = noise_embedding
        self.cut_at_terminations = cut_at_terminations
        self.drop_pathwise = drop_pathwise  # a deliberately biased variant, to show tests have power
        self.enabled = True  # the agent disables the CV until its model has seen data
        self.baseline = StateValueBaseline(gamma=gamma, gae_lambda=gae_lambda, normalize_advantage=False)

    # -- the control variate --------------------------------------------------------------------
    def control_variate(
        self, batch: RolloutBatch, policy: GaussianPolicy, value_fn: ValueFunction, actions: torch.Tensor
    ) -> torch.Tensor:
        """C_t(a) for every sample, [T, N]; differentiable in ``actions`` [T, N, A]."""
        T, N = batch.n_steps, batch.n_envs
        dtype = actions.dtype
        if self.k == 0:
            return value_fn(batch.obs.to(dtype))
        frozen = copy.deepcopy(policy).requires_grad_(False)  # μ̄, σ̄: parameters held constant
        frozen_v = copy.deepcopy(value_fn).requires_grad_(False)
        idx_t = torch.arange(T)
        noise = batch.noise[:, :, 0].to(dtype)
        residual = self._model_residuals(batch, dtype) if self.noise_embedding == "model_residual" else None
        scale = self.reward_scale()
        # Last real step index each sample may imagine up to: the batch end, and the time limit.
        last = torch.full((T, N), T - 1, dtype=torch.long)
        if batch.time_limit is not None and batch.episode_step is not None:
            last = torch.minimum(last, idx_t[:, None] + batch.time_limit - 1 - batch.episode_step)

        state = batch.raw_obs.to(dtype).reshape(T * N, -1)
        action = actions.reshape(T * N, -1)
        total = torch.zeros(T, N, dtype=dtype)
        cont = torch.ones(T, N, dtype=dtype)
        alive = torch.ones(T, N, dtype=torch.bool)  # still imagining at step i
        for i in range(self.k):
            src = (idx_t + i).clamp(max=T - 1)  # the real step whose noise / residual step i replays
            if i > 0:
                action = frozen.action_from_noise(self.obs_transform(state), noise[src].reshape(T * N, -1))
            next_state, reward, p_cont = self.model.predict(state, action)
            if residual is not None:
                next_state = next_state + residual[src].reshape(T * N, -1)
            total = total + alive * (self.gamma**i) * cont * scale * reward.view(T, N)
            cont = cont * p_cont.view(T, N)
            stop = alive & ((idx_t[:, None] + i >= last) | torch.tensor(i == self.k - 1))
            bootstrap = stop.clone()
            if self.cut_at_terminations:
                real_end = batch.dones[src] & alive
                stop = stop | real_end
                bootstrap = (bootstrap | real_end) & ~(real_end & batch.terminated[src])
            if bootstrap.any():
                v = frozen_v(self.obs_transform(next_state)).view(T, N)
                total = total + bootstrap * (self.gamma ** (i + 1)) * cont * v
            alive = alive & ~stop
            state = next_state
        return total

    def _model_residuals(self, batch: RolloutBatch, dtype: torch.dtype) -> torch.Tensor:
        with torch.no_grad():
            s = batch.raw_obs.to(dtype).reshape(-1, batch.raw_obs.shape[-1])
            a = batch.actions[:, :, 0].to(dtype).reshape(s.shape[0], -1)
            pred, _, _ = self.model.predict(s, a)
            return batch.raw_next_obs.to(dtype).reshape_as(pred) - pred

    # -- the estimator --------------------------------------------------------------------------
    def prepare(self, batch: RolloutBatch, *, policy: Policy, value_fn: ValueFunction) -> EstimatorTerms:
        if not isinstance(policy, GaussianPolicy):
            raise TypeError("the MBMF control variate needs a reparameterisable Gaussian policy")
        advantages, returns, values = self.baseline.gae(batch, value_fn)
        actions = batch.actions[:, :, 0].clone().requires_grad_(True)
        if self.enabled:
            with torch.enable_grad():
                cv = self.control_variate(batch, policy, value_fn, actions)
                grad_a = (
                    torch.autograd.grad(cv.sum(), actions)[0] if self.k > 0 else torch.zeros_like(actions)
                )
            cv = cv.detach()
        else:
            cv, grad_a = values, torch.zeros_like(actions)
        adv, d = advantages.reshape(-1), (cv - values).reshape(-1)
        eta = self._eta(adv, d) if self.enabled else torch.zeros_like(adv)
        residual = adv - eta * d
        scale = torch.ones((), dtype=adv.dtype)
        if self.normalize_advantage and residual.numel() > 1:
            scale = residual.std() + 1e-8
            residual = (residual - residual.mean()) / scale
        obs = batch.obs.reshape(-1, batch.obs.shape[-1])
        noise = batch.noise[:, :, 0].reshape(obs.shape[0], -1)
        grad_a = grad_a.reshape(obs.shape[0], -1)
        weight = (eta / scale)[:, None] * grad_a  # η_t ∇_a C_t / scale, fixed during the update

        def pathwise_loss(idx: torch.Tensor, pol: Policy) -> torch.Tensor:
            a = pol.action_from_noise(obs[idx], noise[idx])  # a_θ(s_t, ξ_t), differentiable in θ
            return -(weight[idx] * a).sum(-1).mean()

        var_adv = adv.var().item() if adv.numel() > 1 else 0.0
        raw_residual = adv - eta * d
        stats = {
            "cv_eta_mean": eta.mean().item(),
            "cv_corr": torch.corrcoef(torch.stack([adv, d]))[0, 1].item() if d.std() > 0 else 0.0,
            "cv_score_var_ratio": raw_residual.var().item() / var_adv if var_adv > 0 else 1.0,
        }
        return EstimatorTerms(
            advantages=residual,
            returns=returns.reshape(-1),
            values=values.reshape(-1),
            pathwise_loss=None if self.drop_pathwise else pathwise_loss,
            stats=stats,
        )

    def _eta(self, adv: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        if self.eta_mode == "fixed":
            return torch.full_like(adv, self.eta)
        if self.eta_mode == "fitted":
            var_d = d.var()
            eta = ((adv - adv.mean()) * (d - d.mean())).mean() / var_d if var_d > 0 else torch.zeros(())
            return torch.full_like(adv, eta.item())
        agree = adv * d
        if self.eta_mode == "conservative":
            return (agree > 0).to(adv.dtype)
        return torch.sign(agree)
