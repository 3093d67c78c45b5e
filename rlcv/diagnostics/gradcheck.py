"""Is a policy-gradient estimator unbiased? Checked against the exact gradient of ``rlcv/LQR-v0`` —
the measurement behind `rlcv bench gradcheck`, callable without the CLI::

    from rlcv.diagnostics.gradcheck import run_gradcheck

    result = run_gradcheck(estimator="mbmf", k=3, estimates=200, episodes=10)
    result["verdict"], result["max_abs_z"], result["min_detectable_bias_rel"]

The statistics are :func:`rlcv.diagnostics.lqr.bias_record`'s (bias tests and their power). The
protocol (``--flags`` of `rlcv bench gradcheck`, fields of :class:`GradcheckSettings`):

On ``rlcv/LQR-v0`` with a linear-Gaussian policy a = K s + k0 + σ ξ (a GaussianPolicy without
hidden layers), the exact gradient ∇J is known (:func:`rlcv.envs.lqr.exact_policy_gradient`).
We draw ``estimates`` independent batches of ``episodes`` full episodes, compute the estimator's
gradient on each (γ = 1, λ = 1 so that the advantage is Monte-Carlo; no advantage normalisation;
fixed η), and compare the mean with ∇J / H — the estimators average over the H·E samples of a
batch, while J sums over the H steps of an episode.

Tests (:func:`rlcv.diagnostics.gradient_stats.bias_tests`), each at level ``alpha``:

* per coordinate: z_j = (mean_j − ∇J_j / H) / se_j with a Bonferroni threshold (``passed``);
* aggregate: Q = Σ_j z_j² against a scaled χ² (Satterthwaite: the z_j are correlated) (``passed_chi2``);
* projection: the mean of ĝ·u against ∇J·u / H, u = ∇J / ‖∇J‖ (``passed_projection``).

``--variant broken`` drops the pathwise term — a biased estimator that the tests must reject,
otherwise they have no power.

*Verdicts that know their power* (:func:`rlcv.diagnostics.gradient_stats.power_check`; the rule and the
JSON fields: docs/methods/mbmf.md). "Not rejected" is a pass only if the per-coordinate test could have
rejected the broken variant's bias −E[pathwise], estimated on the same batches (or, without a pathwise
term or with ``--detect-bias ε``, a bias ε·∇J, default 0.1). Exit status: 0 passed ("unbiased (test has
power)"), 1 biased, 3 inconclusive, 2 bad arguments (one line ``rlcv: error: ...`` before any work).

*γ < 1 or λ < 1* (``--gamma``, ``--gae-lambda``). GAE with λ < 1 and a learned critic is itself a
biased estimate of ∇J, so the reference is what PPO really estimates: the mean of the k = 0 GAE
surrogate gradient. The check is *paired*: on every batch the k = 0 estimator's gradient ĝ_0 is
computed beside ĝ, and the tests ask whether E[ĝ − ĝ_0] = 0 (the projection test projects on the
exact discounted gradient's direction, which is independent of the data). This covers the λ-matched
CV (``--cv-form lambda``), the split η (``--eta-mode split``: (η_a, η_τ) fitted on an independent
batch, then frozen) and PPO's clipped surrogate with the ratio-weighted, clip-masked pathwise term at
θ = θ_old (``--clip-range ε > 0``; at θ_old every ratio is 1, so this checks that the trust-region
code path leaves the estimate unchanged there).

``--estimator`` names any registered estimator (``rlcv.estimators.ESTIMATORS``) that offers what
the check needs: ``prepare`` from a batch, a policy and a critic (``gae``, ``mbmf``). Settings it
has among ``k``, ``eta``, ``eta_mode``, ``cut_at_terminations`` come from the flags; a model-based
estimator (one with ``use_model``) gets the exact or a learned model fitted on separate data.

All batches are collected in one pass of the real collector (N = estimates × episodes envs) and
the control variate is computed for every sample at once; the gradient of each estimate is then
the gradient of the surrogate restricted to its own envs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import gymnasium as gym

    from rlcv.dynamics import DynamicsModel
    from rlcv.estimators.base import GradientEstimator
    from rlcv.policies import GaussianPolicy
    from rlcv.rollout import RolloutBatch
    from rlcv.value import ValueFunction


@dataclass(frozen=True, kw_only=True)
class GradcheckSettings:
    """One check's settings (the flags of `rlcv bench gradcheck` say what each means); ``env_kwargs``
    None is the env's defaults."""

    env_id: str = "rlcv/LQR-v0"
    env_kwargs: dict[str, Any] | None = None
    estimator: str = "mbmf"
    k: int = 3
    estimates: int = 2000
    episodes: int = 10
    model: str = "exact"  # or "learned": an ensemble fitted on the critic's data
    variant: str = "correct"  # or "broken": the pathwise term dropped
    eta: float = 1.0
    gamma: float = 1.0
    gae_lambda: float = 1.0
    cv_form: str = "lambda"
    eta_mode: str = "fixed"
    clip_range: float = 0.0
    alpha: float = 0.01
    detect_bias: float | None = None
    cut_at_terminations: bool = True
    seed: int = 0
    model_steps: int = 1500

    @property
    def paired(self) -> bool:
        """γ < 1 or λ < 1: the reference is the k = 0 GAE gradient on the same batches."""
        return self.gamma < 1.0 or self.gae_lambda < 1.0

    def build(self, env: gym.Env, k: int) -> GradientEstimator:
        """The estimator at horizon ``k``: no advantage normalisation, no trust gate, fixed or split η."""
        from rlcv.diagnostics.estimator import estimator_with

        # LQR episodes end at a fixed horizon, independent of the actions, so cutting imagined rollouts
        # there keeps C_t a function of a alone (see rlcv.estimators.mbmf) and sharpens the CV.
        return estimator_with(
            self.estimator,
            observation_space=env.observation_space,
            action_space=env.action_space,
            algo=f"gradcheck --estimator {self.estimator}",
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
            k=k,
            eta=self.eta,
            eta_mode=self.eta_mode,
            cv_form=self.cv_form,
            trust_gate=False,
            cut_at_terminations=self.cut_at_terminations,
        )


def _dynamics(spec: GradcheckSettings, env: gym.Env, train_batch: RolloutBatch) -> DynamicsModel:
    import gymnasium as gym

    from rlcv.diagnostics.lqr import fit_ensemble
    from rlcv.dynamics import ExactDynamics

    if spec.model == "exact":
        return ExactDynamics(env)
    if spec.model == "learned":
        assert isinstance(env.action_space, gym.spaces.Box)  # linear_policy checked it
        return fit_ensemble(train_batch, env.action_space, horizon=max(1, spec.k), steps=spec.model_steps)
    raise ValueError("model must be 'exact' or 'learned'")


def _checked_estimator(
    spec: GradcheckSettings,
    env: gym.Env,
    policy: GaussianPolicy,
    value_fn: ValueFunction,
    train_batch: RolloutBatch,
) -> GradientEstimator:
    """The estimator under check, with its model (exact, or learned on the critic's data) and, with
    ``--eta-mode split`` or ``tau``, its (η_a, η_τ) fitted on an independent batch and then frozen."""
    from rlcv.diagnostics.lqr import collect

    est = spec.build(env, spec.k)
    if hasattr(est, "use_model"):
        est.use_model(_dynamics(spec, env, train_batch))
    if spec.eta_mode in ("split", "tau") and hasattr(est, "update_split_eta"):
        # The evaluation batches never shape η: it comes from a batch of its own.
        extra = collect(spec.env_id, dict(spec.env_kwargs or {}), policy, 200, spec.seed + 3)
        est.prepare(extra, policy=policy, value_fn=value_fn)
        est.learn_from_batch()  # the fit becomes the η of the next batch
        est.update_split_eta = False
    return est


# The result's settings keys, in the order of the JSON (each a GradcheckSettings field unless set below).
_SPEC_KEYS = ("env", "env_kwargs", "estimator", "k", "model", "variant", "eta", "eta_mode", "split_eta",
    "gamma", "gae_lambda", "cv_form", "clip_range", "reference", "cut_at_terminations", "estimates",
    "episodes_per_estimate", "alpha")  # fmt: skip


def _settings_record(spec: GradcheckSettings, est: GradientEstimator) -> dict[str, Any]:
    """The result's first keys: what was checked, and how."""
    known = {
        **{f.name: getattr(spec, f.name) for f in dataclasses.fields(GradcheckSettings)},
        "env": spec.env_id,
        "env_kwargs": dict(spec.env_kwargs or {}),
        "k": getattr(est, "k", spec.k),
        "split_eta": list(getattr(est, "split_eta", ())) if spec.eta_mode in ("split", "tau") else None,
        "reference": "paired k = 0 GAE gradient" if spec.paired else "exact gradient",
        "episodes_per_estimate": spec.episodes,
    }
    return {key: known[key] for key in _SPEC_KEYS}


def run_gradcheck(**settings: Any) -> dict[str, Any]:
    """The bias check of ``GradcheckSettings(**settings)``, as one JSON-ready dict: the settings, the
    three bias tests with their verdict and power (:func:`rlcv.diagnostics.lqr.bias_record`), the
    estimates' covariance trace (relative to ‖reference‖²), the exact and the mean gradient.

    ``estimates`` batches of ``episodes`` episodes of a linear-Gaussian policy; each batch's gradient
    is compared with the exact ∇J / H (γ = λ = 1), or, with γ < 1 or λ < 1, paired with the k = 0 GAE
    gradient on the same batch."""
    import gymnasium as gym
    import torch

    from rlcv.diagnostics.lqr import (
        bias_record,
        collect,
        exact_gradient,
        fit_value,
        linear_policy,
        surrogate_gradients,
    )

    spec = GradcheckSettings(**settings)
    env_kwargs = dict(spec.env_kwargs or {})
    torch.manual_seed(spec.seed)
    env = gym.make(spec.env_id, **env_kwargs)
    horizon = env.unwrapped.horizon  # type: ignore[attr-defined]  # an LQREnv: its horizon is fixed
    policy = linear_policy(env, spec.seed)
    # Critic and learned model are fitted on data disjoint from the evaluation batches.
    train_batch = collect(spec.env_id, env_kwargs, policy, 200, spec.seed + 1)
    value_fn = fit_value(train_batch, hidden=[32, 32], gamma=spec.gamma)
    est = _checked_estimator(spec, env, policy, value_fn, train_batch)
    batch = collect(spec.env_id, env_kwargs, policy, spec.estimates * spec.episodes, spec.seed + 2)
    terms = est.prepare(batch, policy=policy, value_fn=value_fn)
    grads, path = surrogate_gradients(terms, policy, batch, spec.estimates, spec.episodes, spec.clip_range)
    if spec.variant == "broken":
        grads = grads - path  # the pathwise term dropped
    exact_vec = exact_gradient(env, policy, spec.gamma)
    scaled = grads * horizon  # per-sample mean -> per-episode sum
    base = None
    if spec.paired:
        base_terms = spec.build(env, 0).prepare(batch, policy=policy, value_fn=value_fn)
        base = surrogate_gradients(base_terms, policy, batch, spec.estimates, spec.episodes, 0.0)[0] * horizon
    reference = exact_vec if base is None else base.mean(0)
    cov_trace = float(scaled.var(0, ddof=1).sum())
    out = {
        **_settings_record(spec, est),
        **bias_record(
            scaled, base, exact_vec, path * horizon, alpha=spec.alpha, detect_bias=spec.detect_bias
        ),
        "trace_cov": cov_trace,
        "rel_trace_cov": cov_trace / float(reference @ reference),
        "exact_gradient": exact_vec.tolist(),
        "mean_estimate": scaled.mean(0).tolist(),
    }
    if base is not None:
        out["trace_cov_k0"] = float(base.var(0, ddof=1).sum())
        out["trace_ratio_vs_k0"] = cov_trace / out["trace_cov_k0"]
    return out
