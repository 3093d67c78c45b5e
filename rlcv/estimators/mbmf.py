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
the score term).

*The model never sees the batch its control variate is applied to* (its predictions would then
depend on a_t). This estimator owns the model and enforces the order, per update:

1. :meth:`MBMFControlVariate.prepare` measures the model's 1-step and k-step error on the new
   batch — data it has never seen — and builds the control variate from the model as it is;
2. the agent (PPO / TRPO) updates the policy with those terms;
3. :meth:`MBMFControlVariate.after_update` adds the batch to the replay of recent real transitions
   and trains the model on k-step windows.

Until the model has been trained once, the control variate is off (η = 0), a decision that does
not depend on the batch and so keeps the estimate unbiased.

*Version 2 (the defaults; every part has a key, the v1 behaviour is ``cv_form=kstep eta_mode=fixed
trust_gate=false``)*:

* ``cv_form=lambda`` — the λ-matched control variate. GAE weights the real TD errors by (γλ)^i; the
  CV does the same with the model's imagined TD errors:

      D^λ_t(a) = Σ_{i<h_t} (γλ)^i c_i δ̂_i,   δ̂_i = r̂_i + γ p̂_i V(ŝ_{i+1}) − V(ŝ_i),   V(ŝ_0) = V(s_t),

  (same ŝ, â, c_i, cuts and bootstrap as above). With λ = 1 the sum telescopes to D_t = C_t − V(s_t),
  the k-step form. k defaults to ⌈2 / (1 − γλ)⌉ (the horizon after which (γλ)^k < e^{−2} ≈ 0.14 of a
  TD error's weight is left) capped at ``k_max``.
* ``eta_mode=split`` — D(a_t) = D_a + D_τ with D_a = D(a_t) − D(μ_t) (the action part: model error
  and the pathwise correction live here) and D_τ = D(μ_t) (a function of s_t and the future noises
  ξ_{t+1:} only, so E[∇ log π(a_t|s_t) D_τ] = 0: a free baseline, no correction needed). Both are
  imagined with the same replayed noises; the residual is Â − η_a D_a − η_τ D_τ and the pathwise term
  carries η_a only. (η_a, η_τ) are the least-squares coefficients of Â on (D_a, D_τ) over the
  *previous* batch, so they are fixed when the current batch arrives (no same-batch dependence);
  η = 0 until one batch has been fitted.
* ``eta_mode=tau`` — D_τ alone (η_a ≡ 0): one imagined rollout from the mean action and no pathwise
  term, still unbiased (E[∇ log π D_τ] = 0). On HalfCheetah D_a removes almost none of the score
  variance with the learned model (results/mbmf_v4.md §2), so this keeps nearly all of the reduction at
  less cost.
* ``trust_gate`` — every η is multiplied by a gate g ∈ [0, 1] decided from the *previous* batch's
  held-out k-step model error e (measured before the model trained on that batch): g = 1 for
  e ≤ ``gate_error_low``, 0 for e ≥ ``gate_error_high``, linear between. It is fixed before the
  current batch is seen, so it keeps the estimate unbiased. With ``gate_on=variance`` the gate reads
  instead the previous batch's held-out variance ratio r = Var(Â − η'_a D_a − η'_τ D_τ) / Var(Â),
  with (η'_a, η'_τ) the ungated coefficients fitted on the batch *before* it (so r is measured on data
  the coefficients never saw): g = 1 for r ≤ ``gate_ratio_low``, 0 for r ≥ ``gate_ratio_high``. It
  trusts the CV as far as it helped last time, which the k-step state error does not track
  (results/variance_v2.md); still decided before the current batch, so still unbiased. (With
  ``eta_mode=fixed`` r uses the fixed η.)
* ``pathwise_trust_region`` — under PPO, each sample's pathwise term is weighted by its (detached)
  ratio ρ_t and dropped when ρ_t is outside [1 − ε, 1 + ε], as the clipped surrogate drops the score
  term; at θ = θ_old all weights are 1 and the estimate is the one above.
* The model trains to held-out early stopping each update (``model_patience``): the most recent
  ``model_holdout`` of the replay is held out, the best parameters on it are kept.

Optional model-residual noise embedding (``noise_embedding="model_residual"``): each imagined
step adds the real residual ζ_{t+i} = s_{t+i+1} − f(s_{t+i}, a_{t+i}). Unbiased only for a correct
model, off by default.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch

from rlcv.dynamics import (
    STRUCTURES,
    DynamicsModel,
    EnsembleDynamics,
    ExactDynamics,
    TDLoss,
    TransitionReplay,
    held_out_errors,
    train_dynamics,
    train_dynamics_early_stopping,
)
from rlcv.env_factory import make_env
from rlcv.errors import RlcvError
from rlcv.estimators.base import EstimatorSetup, EstimatorTerms, GradientEstimator
from rlcv.estimators.state_baseline import StateValueBaseline
from rlcv.policies import Policy, Reparameterised
from rlcv.rollout import RolloutBatch
from rlcv.settings import check, setting
from rlcv.unclipped import MODEL_OBSERVATIONS
from rlcv.value import ValueFunction

if TYPE_CHECKING:
    from rlcv.env_hooks import BindContext

ETA_MODES = ("split", "tau", "fixed", "fitted", "conservative", "aggressive")
SPLIT_MODES = ("split", "tau")  # (η_a, η_τ) fitted on the previous batch; tau: D_a ≡ 0, so η_a = 0
CV_FORMS = ("lambda", "kstep")
GATE_ON = ("model_error", "variance")
MBMF_METRICS = (
    "cv_eta_mean",
    "cv_eta_a",
    "cv_eta_tau",
    "cv_gate",
    "cv_k",
    "cv_corr",
    "cv_score_var_ratio",
    "cv_heldout_ratio",
    "cv_score_share",
    "cv_pathwise_share",
    "model_loss",
    "model_train_steps_run",
    "model_error_1step",
    "model_error_kstep",
)


MAX_K = 1000


@dataclass(kw_only=True)
class MBMFSettings:
    """The control variate and its dynamics model (config keys of ``estimator: mbmf``)."""

    cv_form: str = "lambda"  # lambda: Σ (γλ)^i c_i δ̂_i (matches GAE) | kstep: C_t − V(s_t), γ^i-weighted
    k: int | None = None  # imagined steps; None: ⌈2 / (1 − γλ)⌉ capped at k_max
    # 16: HalfCheetah's (γλ)^16 = 0.19 of the first TD error's weight is left; longer unrolls cost time
    # and compound model error faster than they add control (results/variance_v2.md).
    k_max: int = setting(
        16,
        "cap of the automatic k (k: null); 16 leaves (γλ)^16 ≈ 0.19 of the first TD error's weight on "
        "HalfCheetah",
    )
    eta: float = setting(1.0, "control-variate scale η (eta_mode fixed)", resumable=True)
    # split (η_a, η_τ fitted on the previous batch) | fixed | fitted (same batch) | conservative |
    # aggressive (Q-Prop's per-sample modes: biased, for comparison; see the module docstring)
    eta_mode: str = setting(
        "split",
        "how η is chosen: split (η_a, η_τ fitted on the previous batch), tau (D_τ only: no pathwise "
        "term, one rollout), fixed, fitted (same batch), "
        "conservative or aggressive (Q-Prop's per-sample η: BIASED, for comparison only)",
    )
    # The CV's weight follows the previous batch's held-out k-step model error (normalised MSE):
    # 1 at or below gate_error_low, 0 at or above gate_error_high (1.0: no better than predicting the
    # mean change), linear between.
    trust_gate: bool = setting(
        True, "scale the control variate by a gate read from the previous batch (gate_on)"
    )
    gate_on: str = "model_error"  # model_error (k-step, above) | variance (held-out variance ratio)
    gate_error_low: float = setting(
        0.5, "gate_on=model_error: gate fully open at or below this held-out k-step model error"
    )
    gate_error_high: float = setting(
        1.0, "gate_on=model_error: gate closed at or above this error (1.0: no better than the mean change)"
    )
    gate_ratio_low: float = 0.9  # gate_on=variance: open at or below this held-out variance ratio
    gate_ratio_high: float = 1.0  # closed at or above it (the CV did not reduce the variance)
    # Under PPO: weight each sample's pathwise term by its detached ratio, drop it outside the clip range.
    pathwise_trust_region: bool = setting(
        True, "under PPO: weight each sample's pathwise term by its ratio, zero outside the clip range"
    )
    noise_embedding: str = "policy"  # policy | model_residual (biased unless the model is exact)
    # Cut imagined rollouts at real episode ends: only for envs whose ends do not depend on actions.
    cut_at_terminations: bool = setting(
        False,
        "cut imagined rollouts at real episode ends (only for envs whose ends do not depend on actions)",
    )
    model: str = "learned"  # learned | exact (envs with a model_step, e.g. rlcv/LQR-v0)
    # What the model reads: the env's observation, or (Hopper / Walker2d) the observation with the
    # simulator's unclipped joint velocities; the policy sees the env's observation either way.
    model_observation: str = setting(
        "env",
        "what the dynamics model reads: env (the observation) or unclipped (Hopper-v5 / Walker2d-v5: "
        "the simulator's unclipped joint velocities; the policy still sees the env's own observation)",
    )
    model_ensemble_size: int = setting(5, "dynamics models in the ensemble")
    model_structure: str = setting(
        "mlp",
        "mlp (an MLP of (s, a)) or affine (an MLP of s giving each output's coefficients of [1, a, a²]: "
        "a control-affine model with a quadratic action cost, rlcv/dynamics.py)",
    )
    # The action response is all the CV reads beyond its baseline, and on-policy data constrains it only
    # through the policy's noise (rlcv.dynamics.EnsembleDynamics.action_roughness).
    model_action_smooth: float = setting(
        0.0, "weight of the penalty on the model's action Jacobian ‖∂f/∂a‖² in its loss (0: none)"
    )
    model_hidden_sizes: list[int] = setting(
        factory=lambda: [128, 128], help="hidden layer widths of each dynamics model"
    )
    model_lr: float = setting(1e-3, "Adam step size of the dynamics model")
    model_lr_final: float = setting(
        1.0,
        "the model's step size at the end of each update's fit, a fraction of model_lr (cosine; 1: constant)",
    )
    model_weight_decay: float = setting(1e-5, "weight decay of the dynamics model")
    # Adam steps per update: the cap with early stopping, else exact. 20 (×3-step unroll, 5 members) is
    # what keeps MBMF-PPO's throughput near half of PPO's on HalfCheetah (results/variance_v2.md).
    model_train_steps: int | None = setting(
        20,
        "dynamics-model gradient steps per update (the cap with early stopping); null: one per "
        "model_transitions_per_step transitions of the update's batch, so the model's budget per env step "
        "does not depend on n_steps",
    )
    model_transitions_per_step: float = setting(
        10.0, "model_train_steps null: batch transitions per dynamics-model gradient step"
    )
    model_patience: int = 2  # held-out checks without improvement before stopping; 0: no early stopping
    model_eval_every: int = 5  # Adam steps between held-out checks
    model_holdout: float = 0.2  # the most recent fraction of the replay, held out for early stopping
    model_batch_size: int = setting(256, "dynamics-model minibatch size")
    model_horizon: int = 3  # unroll length of the model loss; 0 means max(1, k)
    # Weight of the imagined-TD-error term in the model loss (rlcv.dynamics.TDLoss; 0: states and reward
    # only). The CV sums imagined TD errors, which a small state error can move a lot.
    model_td_weight: float = setting(
        0.0, "weight of the imagined-TD-error term in the model loss (0: states and reward only)"
    )
    model_buffer_size: int = setting(100_000, "transitions kept for dynamics-model training")
    predict_termination: bool = setting(True, "the model also predicts episode termination")

    def __post_init__(self) -> None:
        # An upper bound too: the model unrolls k steps per sample (k = 10⁹ ran for ever); horizons
        # past a few hundred steps are discounted away and only compound model error.
        check(
            self.k is None or 0 <= self.k <= MAX_K,
            f"k must be in [0, {MAX_K}] (or null: ceil(2 / (1 - gamma*lambda)))",
        )
        check(0 <= self.k_max <= MAX_K, f"k_max must be in [0, {MAX_K}]")
        check(self.cv_form in CV_FORMS, f"cv_form must be one of {', '.join(CV_FORMS)}")
        check(self.eta_mode in ETA_MODES, f"eta_mode must be one of {', '.join(ETA_MODES)}")
        check(
            0 <= self.gate_error_low < self.gate_error_high,
            "gate_error_low must be >= 0 and below gate_error_high",
        )
        check(self.gate_on in GATE_ON, f"gate_on must be one of {', '.join(GATE_ON)}")
        check(
            0 <= self.gate_ratio_low < self.gate_ratio_high,
            "gate_ratio_low must be >= 0 and below gate_ratio_high",
        )
        check(
            self.noise_embedding in ("policy", "model_residual"),
            "noise_embedding must be policy|model_residual",
        )
        check(self.model in ("learned", "exact"), "model must be 'learned' or 'exact'")
        check(
            self.model_observation in MODEL_OBSERVATIONS,
            f"model_observation must be one of {', '.join(MODEL_OBSERVATIONS)}",
        )
        check(
            self.model_structure in STRUCTURES,
            f"model_structure must be one of {', '.join(STRUCTURES)}",
        )
        check(
            self.model_ensemble_size >= 1 and (self.model_train_steps or 0) >= 0,
            "model sizes must be positive",
        )
        check(self.model_transitions_per_step > 0, "model_transitions_per_step must be > 0")
        check(
            self.model_patience >= 0 and self.model_eval_every >= 1,
            "model_patience >= 0, model_eval_every >= 1",
        )
        check(0 < self.model_holdout < 1, "model_holdout must be in (0, 1)")
        check(self.model_td_weight >= 0, "model_td_weight must be >= 0")
        check(self.model_action_smooth >= 0, "model_action_smooth must be >= 0")
        check(0 < self.model_lr_final <= 1, "model_lr_final must be in (0, 1]")

    def horizon(self, gamma: float, gae_lambda: float) -> int:
        """The CV's k: the setting, or ⌈2 / (1 − γλ)⌉ capped at k_max."""
        if self.k is not None:
            return self.k
        gl = gamma * gae_lambda
        return self.k_max if gl >= 1 else min(self.k_max, math.ceil(2 / (1 - gl) - 1e-9))

    def unroll(self, k: int) -> int:
        """Unroll length of the model loss."""
        return self.model_horizon or max(1, k)


def gate(error: float | None, low: float, high: float) -> float:
    """1 for error ≤ low, 0 for error ≥ high (or unknown), linear between."""
    if error is None or not math.isfinite(error):
        return 0.0
    return float(min(1.0, max(0.0, (high - error) / (high - low))))


def fit_split_eta(adv: torch.Tensor, d_a: torch.Tensor, d_tau: torch.Tensor) -> tuple[float, float]:
    """Least squares of Â on (D_a, D_τ) with an intercept; the minimum-norm solution when degenerate."""
    x = torch.stack([d_a, d_tau], 1).double()
    x = x - x.mean(0)
    y = (adv.double() - adv.double().mean())[:, None]
    if x.shape[0] < 3 or not torch.isfinite(x).all():
        return 0.0, 0.0
    sol = torch.linalg.lstsq(x, y, driver="gelsd").solution[:, 0]
    return float(sol[0]), float(sol[1])


def variance_shares(score: torch.Tensor, path: torch.Tensor) -> tuple[float, float]:
    """Shares of the per-sample variance carried by the score and the pathwise term, both as gradients
    w.r.t. the action mean μ (∂ log π/∂μ · Â = Â ξ/σ; ∂(w·a)/∂μ = w): the chain rule to θ is common to
    both, so this is the cheap per-update view of where the gradient's noise comes from. [M, A] each."""
    vs = float((score - score.mean(0)).pow(2).sum()) if score.shape[0] > 1 else 0.0
    vp = float((path - path.mean(0)).pow(2).sum()) if path.shape[0] > 1 else 0.0
    total = vs + vp
    return (vs / total, vp / total) if total > 0 else (1.0, 0.0)


@contextmanager
def parameters_frozen(module: torch.nn.Module | None) -> Iterator[None]:
    """``module``'s trainable parameters taken out of autograd inside the block, put back after."""
    params = [p for p in module.parameters() if p.requires_grad] if module is not None else []
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def last_real_step(batch: RolloutBatch) -> torch.Tensor:
    """[T, N]: the last real step index each sample may imagine up to (the batch end, the time limit)."""
    T, N = batch.n_steps, batch.n_envs
    last = torch.full((T, N), T - 1, dtype=torch.long)
    if batch.time_limit is not None and batch.episode_step is not None:
        last = torch.minimum(last, torch.arange(T)[:, None] + batch.time_limit - 1 - batch.episode_step)
    return last


class MBMFControlVariate(GradientEstimator):
    name = "mbmf"
    settings_cls = MBMFSettings
    metric_names = MBMF_METRICS

    def __init__(
        self,
        settings: MBMFSettings,
        *,
        gamma: float,
        gae_lambda: float,
        normalize_advantage: bool = True,
        model: DynamicsModel | None = None,
        drop_pathwise: bool = False,
    ) -> None:
        """``model``: a fixed model to use as is (e.g. ExactDynamics in tests); None builds nothing
        here — :meth:`from_setup` gives a learned model, ``settings.model == "exact"`` one at bind."""
        self.settings = settings
        self.gamma, self.gae_lambda = gamma, gae_lambda
        self.k = settings.horizon(gamma, gae_lambda)
        self.cv_lambda = gae_lambda if settings.cv_form == "lambda" else 1.0
        self.eta, self.eta_mode = settings.eta, settings.eta_mode
        self.normalize_advantage = normalize_advantage
        self.noise_embedding = settings.noise_embedding
        self.cut_at_terminations = settings.cut_at_terminations
        self.drop_pathwise = drop_pathwise  # a deliberately biased variant, to show tests have power
        self.model: DynamicsModel | None = model
        self.model_optimizer: torch.optim.Optimizer | None = None
        self.replay: TransitionReplay | None = None
        # The CV is off until the model has been trained once (a fixed model is ready at once).
        self.model_fitted = model is not None
        self.obs_transform: Callable[[], Callable[[torch.Tensor], torch.Tensor]] = lambda: lambda x: x
        self.reward_scale: Callable[[], float] = lambda: 1.0
        self.updates = 0
        # State carried from the previous batch (decided before the current one is seen):
        self.split_eta: tuple[float, float] = (0.0, 0.0)  # (η_a, η_τ) fitted on the previous batch
        self.split_eta_fitted = False
        self.last_error: float | None = None  # its held-out k-step model error
        self.last_ratio: float | None = None  # its held-out variance ratio (gate_on=variance)
        self.update_split_eta = True  # False freezes (η_a, η_τ), e.g. once fitted on independent data
        self._pending: dict[str, Any] = {}  # prepare's measurements, applied by learn_from_batch
        self.baseline = StateValueBaseline(gamma=gamma, gae_lambda=gae_lambda, normalize_advantage=False)
        self.critic: ValueFunction | None = None  # the agent's critic, seen at prepare (for the TD loss)

    @classmethod
    def from_setup(cls, settings: MBMFSettings, setup: EstimatorSetup) -> MBMFControlVariate:
        space = setup.action_space
        if not isinstance(space, gym.spaces.Box):
            raise RlcvError(
                f"{setup.algo} with estimator mbmf needs a continuous (Box) action space, got {space}; "
                f"use ppo / trpo (estimator gae) for discrete actions."
            )
        est = cls(
            settings,
            gamma=setup.gamma,
            gae_lambda=setup.gae_lambda,
            normalize_advantage=setup.normalize_advantage,
        )
        if settings.model == "learned":
            obs_shape = setup.observation_space.shape
            if obs_shape is None:
                raise RlcvError(
                    f"{setup.algo} with estimator mbmf needs an observation space with a fixed shape, got "
                    f"{setup.observation_space}; flatten it with gymnasium.wrappers.FlattenObservation."
                )
            obs_dim = int(np.prod(obs_shape))
            est.model = EnsembleDynamics(
                obs_dim,
                int(np.prod(space.shape)),
                ensemble_size=settings.model_ensemble_size,
                hidden_sizes=settings.model_hidden_sizes,
                action_low=space.low.reshape(-1),
                action_high=space.high.reshape(-1),
                predict_termination=settings.predict_termination,
                structure=settings.model_structure,
                action_smooth=settings.model_action_smooth,
            )
            # foreach: one call per Adam operation for all tensors, bit for bit the per-tensor loop's step
            est.model_optimizer = torch.optim.Adam(
                est.model.parameters(),
                lr=settings.model_lr,
                weight_decay=settings.model_weight_decay,
                foreach=True,
            )
            est.replay = TransitionReplay(settings.model_buffer_size)
            est.model_fitted = False
        return est

    def use_model(self, model: DynamicsModel) -> None:
        """Use a model trained elsewhere (or an exact one) as is: the CV is on, nothing is trained here."""
        self.model, self.model_optimizer, self.replay = model, None, None
        self.model_fitted = True

    def bind(self, context: BindContext) -> None:
        self.obs_transform = context.obs_normalizer.torch_transform
        self.reward_scale = context.reward_scaler.scale
        if self.settings.model == "exact" and self.model is None:
            env = make_env(context.env_id, context.env_kwargs)
            try:
                self.model = ExactDynamics(env)
            except ValueError as exc:
                raise RlcvError(f"{exc} (--set model=learned)") from exc
            self.model_fitted = True

    # -- the control variate --------------------------------------------------------------------
    def control_variate(
        self,
        batch: RolloutBatch,
        policy: Reparameterised,
        value_fn: ValueFunction,
        actions: torch.Tensor,
        obs_transform: Callable[[torch.Tensor], torch.Tensor] = lambda x: x,
    ) -> torch.Tensor:
        """C_t(a) of the k-step form for every sample, [T, N]; differentiable in ``actions`` [T, N, A]."""
        values = value_fn(batch.obs.to(actions.dtype))
        if self.k == 0:
            return values
        return values.detach() + self.imagined_d(batch, policy, value_fn, actions, obs_transform, 1.0)

    def imagined_d(
        self,
        batch: RolloutBatch,
        policy: Reparameterised,
        value_fn: ValueFunction,
        actions: torch.Tensor,
        obs_transform: Callable[[torch.Tensor], torch.Tensor],
        lam: float,
        values: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """D_t(a) = Σ_{i<h_t} (γ lam)^i c_i δ̂_i for every sample, [T, N]; differentiable in ``actions``.

        lam = 1 is the k-step C_t(a) − V(s_t); lam = λ the λ-matched form. ``values`` = V(s_t) [T, N]
        (default: the critic on ``batch.obs``), the V(ŝ_0) of δ̂_0."""
        assert self.model is not None
        T, N = batch.n_steps, batch.n_envs
        dtype = actions.dtype
        if values is None:
            with torch.no_grad():
                values = value_fn(batch.obs.to(dtype))
        if self.k == 0:
            return torch.zeros(T, N, dtype=dtype)
        frozen = copy.deepcopy(policy)  # μ̄, σ̄: parameters held constant
        assert isinstance(frozen, torch.nn.Module), "policies are torch modules"
        frozen.requires_grad_(False)
        frozen_v = copy.deepcopy(value_fn).requires_grad_(False)
        idx_t = torch.arange(T)
        noise = batch.noise[:, :, 0].to(dtype)
        residual = self._model_residuals(batch, dtype) if self.noise_embedding == "model_residual" else None
        scale = self.reward_scale()
        last = last_real_step(batch)
        state = batch.raw_obs.to(dtype).reshape(T * N, -1)
        action = actions.reshape(T * N, -1)
        total = torch.zeros(T, N, dtype=dtype)
        weight = torch.ones(T, N, dtype=dtype)  # (γ lam)^i c_i
        v_prev = values.detach().to(dtype)
        alive = torch.ones(T, N, dtype=torch.bool)  # still imagining at step i
        for i in range(self.k):
            src = (idx_t + i).clamp(max=T - 1)  # the real step whose noise / residual step i replays
            if i > 0:
                action = frozen.action_from_noise(obs_transform(state), noise[src].reshape(T * N, -1))
            next_state, reward, p_cont = self.model.predict(state, action)
            if residual is not None:
                next_state = next_state + residual[src].reshape(T * N, -1)
            stop = alive & ((idx_t[:, None] + i >= last) | torch.tensor(i == self.k - 1))
            keep_v = torch.ones(T, N, dtype=torch.bool)
            if self.cut_at_terminations:
                real_end = batch.dones[src] & alive
                stop = stop | real_end
                keep_v = ~(real_end & batch.terminated[src])  # a real termination has no bootstrap
            v_next = frozen_v(obs_transform(next_state)).view(T, N)
            delta = scale * reward.view(T, N) + self.gamma * p_cont.view(T, N) * keep_v * v_next - v_prev
            total = total + alive * weight * delta
            weight = weight * (self.gamma * lam) * p_cont.view(T, N)
            alive = alive & ~stop
            state, v_prev = next_state, v_next
        return total

    def _model_residuals(self, batch: RolloutBatch, dtype: torch.dtype) -> torch.Tensor:
        assert self.model is not None  # called by control_variate, which runs only with a model
        with torch.no_grad():
            s = batch.raw_obs.to(dtype).reshape(-1, batch.raw_obs.shape[-1])
            a = batch.actions[:, :, 0].to(dtype).reshape(s.shape[0], -1)
            pred, _, _ = self.model.predict(s, a)
            return batch.raw_next_obs.to(dtype).reshape_as(pred) - pred

    def features(
        self, batch: RolloutBatch, policy: Reparameterised, value_fn: ValueFunction, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(D_a [T, N], D_τ [T, N], ∇_a D(a)|_{a_t} [T, N, A]) with the model as it is now.

        Without the split (η modes other than ``split`` and ``tau``) D_τ = 0 and D_a = D(a_t): one imagined
        rollout. With ``tau`` only D_τ is imagined (D_a and ∇_a D are zeros): one rollout, no gradient."""
        transform = self.obs_transform()  # the normaliser's statistics now, frozen
        if self.eta_mode == "tau":
            zeros = torch.zeros_like(batch.actions[:, :, 0])
            return zeros[..., 0], self._mean_action_d(batch, policy, value_fn, transform, values), zeros
        actions = batch.actions[:, :, 0].clone().requires_grad_(True)
        # Differentiated in the actions only: with the model's parameters out of autograd the graph keeps
        # no activations for weight gradients (a third of its memory, and the page faults of allocating
        # it afresh every update; the same values, bit for bit).
        with torch.enable_grad(), parameters_frozen(self.model):
            d = self.imagined_d(batch, policy, value_fn, actions, transform, self.cv_lambda, values)
            grad_a = (
                torch.autograd.grad(d.sum(), actions)[0] if d.requires_grad else torch.zeros_like(actions)
            )
        d = d.detach()
        if self.eta_mode != "split":
            return d, torch.zeros_like(d), grad_a
        d_mu = self._mean_action_d(batch, policy, value_fn, transform, values)
        return d - d_mu, d_mu, grad_a

    def _mean_action_d(
        self,
        batch: RolloutBatch,
        policy: Reparameterised,
        value_fn: ValueFunction,
        transform: Callable[[torch.Tensor], torch.Tensor],
        values: torch.Tensor,
    ) -> torch.Tensor:
        """D_τ = D(μ_t): the rollout from the policy's mean action along the real future noises, [T, N]."""
        with torch.no_grad():
            obs = batch.obs.reshape(-1, batch.obs.shape[-1])
            mean_action = policy.action_from_noise(
                obs, torch.zeros_like(batch.noise[:, :, 0]).reshape(obs.shape[0], -1)
            )
            actions = mean_action.view_as(batch.actions[:, :, 0])
            return self.imagined_d(batch, policy, value_fn, actions, transform, self.cv_lambda, values)

    # -- the estimator --------------------------------------------------------------------------
    def gate(self) -> float:
        """The CV's weight for the coming batch, from the previous batch's held-out measurement: its
        k-step model error, or (``gate_on=variance``) its variance ratio."""
        cfg = self.settings
        if not cfg.trust_gate:
            return 1.0
        if cfg.gate_on == "variance":
            measured, low, high = self.last_ratio, cfg.gate_ratio_low, cfg.gate_ratio_high
        else:
            measured, low, high = self.last_error, cfg.gate_error_low, cfg.gate_error_high
        if self.replay is None and measured is None:
            return 1.0  # a fixed model (exact, or trained elsewhere) that nothing has measured yet
        return gate(measured, low, high)

    def prepare(
        self, batch: RolloutBatch, *, policy: Policy, value_fn: ValueFunction | None
    ) -> EstimatorTerms:
        if not isinstance(policy, Reparameterised):
            raise TypeError("the MBMF control variate needs a reparameterisable policy (action_from_noise)")
        if value_fn is None:
            raise TypeError("the MBMF control variate needs a value function (an actor-critic agent)")
        self.critic = value_fn
        self._pending = {}  # what this batch teaches, applied by learn_from_batch (after the update)
        g = self.gate() if self.model_fitted else 0.0  # decided before this batch is looked at
        held_out = self.held_out_error(batch)  # before anything learns from this batch
        advantages, returns, values = self.baseline.gae(batch, value_fn)
        adv = advantages.reshape(-1)
        d_a, d_tau, grad_a = self._cv_terms(batch, policy, value_fn, values, adv)
        var_adv = adv.var().item() if adv.numel() > 1 else 0.0
        heldout_ratio = self._heldout_ratio(adv, d_a, d_tau, var_adv)
        eta_a, eta_tau = self._etas(g, adv, d_a, d_tau)
        raw_residual = adv - eta_a * d_a - eta_tau * d_tau
        residual = raw_residual
        scale = torch.ones((), dtype=adv.dtype)
        if self.normalize_advantage and residual.numel() > 1:
            scale = residual.std() + 1e-8
            residual = (residual - residual.mean()) / scale
        obs = batch.obs.reshape(-1, batch.obs.shape[-1])
        noise = batch.noise[:, :, 0].reshape(obs.shape[0], -1)
        weight = (eta_a / scale)[:, None] * grad_a.reshape(obs.shape[0], -1)  # η_a,t ∇_a D_t / scale
        std = policy.action_from_noise(obs[:1], torch.ones_like(noise[:1])) - policy.action_from_noise(
            obs[:1], torch.zeros_like(noise[:1])
        )
        score_share, path_share = variance_shares((residual[:, None] * noise / std.detach()).detach(), weight)
        d = d_a + d_tau
        stats = {
            **held_out,
            "cv_eta_mean": eta_a.mean().item(),
            "cv_eta_a": eta_a.mean().item(),
            "cv_eta_tau": eta_tau.mean().item(),
            "cv_gate": g,
            "cv_k": float(self.k),
            "cv_corr": torch.corrcoef(torch.stack([adv, d]))[0, 1].item() if d.std() > 0 else 0.0,
            "cv_score_var_ratio": raw_residual.var().item() / var_adv if var_adv > 0 else 1.0,
            "cv_heldout_ratio": heldout_ratio,
            "cv_score_share": score_share,
            "cv_pathwise_share": path_share,
        }
        if "model_error_kstep" in held_out:
            self._pending["last_error"] = held_out["model_error_kstep"]  # the next batch's gate
        return EstimatorTerms(
            advantages=residual,
            returns=returns.reshape(-1),
            values=values.reshape(-1),
            # tau: η_a = 0, so the pathwise term is zero and is not computed
            pathwise_loss=None
            if self.drop_pathwise or self.eta_mode == "tau"
            else self._pathwise_loss(obs, noise, weight),
            stats=stats,
        )

    def _cv_terms(
        self,
        batch: RolloutBatch,
        policy: Reparameterised,
        value_fn: ValueFunction,
        values: torch.Tensor,
        adv: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """D's action and noise parts per sample and ∇_a D (zeros before the model is fitted)."""
        if self.model_fitted and self.k > 0:
            d_a, d_tau, grad_a = self.features(batch, policy, value_fn, values)
            return d_a.reshape(-1), d_tau.reshape(-1), grad_a
        zeros = torch.zeros_like(adv)
        return zeros, zeros, torch.zeros_like(batch.actions[:, :, 0])

    def _heldout_ratio(
        self, adv: torch.Tensor, d_a: torch.Tensor, d_tau: torch.Tensor, var_adv: float
    ) -> float:
        """The ungated coefficients fitted before this batch, on this batch: the next batch's variance
        gate (eta_mode=fixed: the fixed η; the same-batch modes, biased anyway: in-sample). Before any
        split fit there are no coefficients to test (η = 0 gives 1 trivially): NaN."""
        if not (self.model_fitted and self.k > 0 and var_adv > 0):
            return float("nan")
        if self.eta_mode in SPLIT_MODES and not self.split_eta_fitted:
            return float("nan")
        if self.eta_mode in SPLIT_MODES:
            heldout = adv - self.split_eta[0] * d_a - self.split_eta[1] * d_tau
        else:
            heldout = adv - self._eta(adv, d_a + d_tau) * (d_a + d_tau)
        ratio = heldout.var().item() / var_adv
        self._pending["last_ratio"] = ratio
        return ratio

    def _etas(
        self, g: float, adv: torch.Tensor, d_a: torch.Tensor, d_tau: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The gated coefficients of D's two parts for this batch (split: fitted on earlier batches;
        this batch's fit is kept for the next one)."""
        if self.eta_mode in SPLIT_MODES:
            if self.update_split_eta and self.model_fitted and self.k > 0:
                self._pending["split_eta"] = fit_split_eta(adv, d_a, d_tau)  # for the *next* batch
            return torch.full_like(adv, g * self.split_eta[0]), torch.full_like(adv, g * self.split_eta[1])
        eta = g * self._eta(adv, d_a + d_tau) if self.model_fitted else torch.zeros_like(adv)
        return eta, eta

    def _pathwise_loss(
        self, obs: torch.Tensor, noise: torch.Tensor, weight: torch.Tensor
    ) -> Callable[[torch.Tensor, Policy, torch.Tensor | None], torch.Tensor]:
        """−mean_t η_a,t ∇_a D_t · a_θ(s_t, ξ_t) / scale, the weight fixed during the update."""
        trust_region = self.settings.pathwise_trust_region

        def pathwise_loss(
            idx: torch.Tensor, pol: Policy, weights: torch.Tensor | None = None
        ) -> torch.Tensor:
            assert isinstance(pol, Reparameterised)  # the policy prepare() was given (checked there)
            a = pol.action_from_noise(obs[idx], noise[idx])  # a_θ(s_t, ξ_t), differentiable in θ
            per_sample = (weight[idx] * a).sum(-1)
            if weights is not None and trust_region:
                per_sample = weights.detach() * per_sample
            return -per_sample.mean()

        return pathwise_loss

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

    # -- the model: measured before, trained after the update ---------------------------------
    def held_out_error(self, batch: RolloutBatch) -> dict[str, float]:
        """Normalised MSE of the learned model after 1 and k steps on ``batch`` (before training on it)."""
        if not self.model_fitted or not isinstance(self.model, EnsembleDynamics) or self.replay is None:
            return {}
        per_step = held_out_errors(self.model, batch, max(1, self.k))
        return {"model_error_1step": per_step[0].item(), "model_error_kstep": per_step[-1].item()}

    def learn_from_batch(self) -> None:
        """What :meth:`prepare` measured on the last batch becomes the next batch's state: the split
        (η_a, η_τ) fitted on it and the gate's inputs (its held-out variance ratio and k-step model
        error). Learning happens here, after the update (estimators/base.py), not in ``prepare``;
        harnesses that prepare batch after batch without training call it between batches."""
        pending, self._pending = self._pending, {}
        if "split_eta" in pending:
            self.split_eta = pending["split_eta"]
            self.split_eta_fitted = True
        if "last_ratio" in pending:
            self.last_ratio = pending["last_ratio"]
        if "last_error" in pending:
            self.last_error = pending["last_error"]

    def after_update(self, batch: RolloutBatch) -> dict[str, float]:
        """Fix the next batch's η and gate inputs, add the batch to the replay and train the learned
        model on it."""
        self.learn_from_batch()
        self.updates += 1
        cfg = self.settings
        budget = self.model_steps(batch)
        if self.replay is None or self.model_optimizer is None or budget == 0:
            return {"model_loss": float("nan")}
        assert isinstance(self.model, EnsembleDynamics)
        self.replay.add_batch(batch)
        td = self.td_loss()
        try:
            if cfg.model_patience > 0:
                loss, steps = train_dynamics_early_stopping(
                    self.model,
                    self.model_optimizer,
                    self.replay,
                    max_steps=budget,
                    batch_size=cfg.model_batch_size,
                    horizon=cfg.unroll(self.k),
                    holdout=cfg.model_holdout,
                    patience=cfg.model_patience,
                    eval_every=cfg.model_eval_every,
                    td=td,
                    lr_final=cfg.model_lr_final,
                )
            else:
                loss = train_dynamics(
                    self.model,
                    self.model_optimizer,
                    self.replay,
                    steps=budget,
                    batch_size=cfg.model_batch_size,
                    horizon=cfg.unroll(self.k),
                    td=td,
                    lr_final=cfg.model_lr_final,
                )
                steps = budget
        except FloatingPointError as exc:
            raise RlcvError(
                f"{exc} at update {self.updates}; lower model_lr (--set model_lr=...) or resume "
                f"from the last checkpoint."
            ) from exc
        self.model_fitted = True
        return {"model_loss": loss, "model_train_steps_run": float(steps)}

    def model_steps(self, batch: RolloutBatch) -> int:
        """This update's dynamics-model Adam steps: the setting, or one per model_transitions_per_step
        transitions of the batch (model_train_steps null)."""
        cfg = self.settings
        if cfg.model_train_steps is not None:
            return cfg.model_train_steps
        return math.ceil(batch.n_steps * batch.n_envs / cfg.model_transitions_per_step)

    def td_loss(self) -> TDLoss | None:
        """The TD-error term of the model loss, against the critic as updated on this batch — the one the
        next batch's control variate uses (a frozen copy: the model loss must not train the critic)."""
        if self.settings.model_td_weight == 0 or self.critic is None:
            return None
        frozen = copy.deepcopy(self.critic).requires_grad_(False)
        transform = self.obs_transform()
        return TDLoss(
            value=lambda s: frozen(transform(s)).reshape(-1),
            gamma=self.gamma,
            reward_scale=self.reward_scale(),
            weight=self.settings.model_td_weight,
        )

    # -- checkpoints ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "model_fitted": self.model_fitted,
            "updates": self.updates,
            "split_eta": list(self.split_eta),
            "split_eta_fitted": self.split_eta_fitted,
            "last_error": self.last_error,
            "last_ratio": self.last_ratio,
        }
        if isinstance(self.model, EnsembleDynamics):
            state["model"] = self.model.state_dict()
        if self.model_optimizer is not None:
            state["model_adam"] = self.model_optimizer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if isinstance(self.model, EnsembleDynamics):
            self.model.load_state_dict(state["model"])
        if self.model_optimizer is not None:
            self.model_optimizer.load_state_dict(state["model_adam"])
        self.model_fitted = bool(state["model_fitted"])
        self.updates = int(state["updates"])
        # Checkpoints from before v2 carry neither: η = 0 and an unknown error, as on a fresh start.
        eta_a, eta_tau = state.get("split_eta", (0.0, 0.0))
        self.split_eta = (float(eta_a), float(eta_tau))
        self.split_eta_fitted = bool(state.get("split_eta_fitted", self.split_eta != (0.0, 0.0)))
        self.last_error = state.get("last_error")
        self.last_ratio = state.get("last_ratio")
