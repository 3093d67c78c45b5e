"""How much an estimator reduces gradient variance at a frozen checkpoint, at what bias, and how much
of what is left is model error rather than structure — the measurement behind `rlcv bench variance`
callable on one's own run::

    from rlcv.diagnostics.variance import VarianceSettings, measure_variance

    result = measure_variance(VarianceSettings(run_dir="runs/ppo_hc", ks=[0, 1, 3], batches=50))
    result["rows"][1]["trace_ratio"]  # tr Cov(ĝ_1) / tr Cov(ĝ_0) on the same 50 batches

The statistics of each row are defined in :mod:`rlcv.diagnostics.gradients`; the ceiling in
:mod:`rlcv.diagnostics.ceiling`. The protocol (``--flags`` of `rlcv bench variance`, fields of
:class:`VarianceSettings`):

For one checkpoint of a training run (policy, critic and normaliser statistics frozen):

1. fit a dynamics ensemble on ``--fit-steps`` fresh transitions of the frozen policy — data
   disjoint from every batch below (the critic is the checkpoint's, trained on earlier data);
2. draw ``--batches`` M (default 200) independent evaluation batches of ``--batch-size`` B steps
   (default: the run's training batch n_steps × n_envs); *every* estimator (each k, each η mode) is
   applied to the *same* batches (common random numbers);
3. draw ``--ref-batches`` R more batches for a reference gradient from the k = 0 estimator without
   advantage normalisation — an unbiased estimate of the true gradient.

Per estimator, over the M batches (:mod:`rlcv.diagnostics.gradients`, whose docstring defines each
statistic): the consumed gradient on the full batch and on one PPO minibatch (``--minibatch-size``,
default the run's ``batch_size``; the same indices for every estimator), unclipped and clipped as PPO
clips; ``trace_ratio`` tr Cov(ĝ_k) / tr Cov(ĝ_0), ``rel_trace_cov``, ``trace_ratio_mom`` with
paired-bootstrap 95 % CIs (``--bootstrap`` resamples); ``cos_to_reference``; three bias tests of the
unnormalised gradient at level ``--alpha`` (``--variant broken`` drops the pathwise term: the tests
must reject it for k > 0). Beside them:

- the per-coordinate test's verdict with its power (``bias_passed`` true / false / null, "inconclusive";
  the rule: docs/methods/mbmf.md, "Verdicts that know their power"); the target is the broken variant's
  bias −E[pathwise term], measured on the same batches, or ε × the reference (``--detect-bias``; 0.1
  without a pathwise term). The exit status stays 0: the verdicts are in the JSON, the table and one
  printed line per row;
- the perfect-model ceiling (:mod:`rlcv.diagnostics.ceiling`): Var(Â − η(G^(k) − V)) / Var(Â) from the
  real batches, for D = Σ γ^i δ (the current CV) and D^λ = Σ (γλ)^i δ, beside the model-based
  ``cv_score_var_ratio`` (the same ratio with the learned model's C): ``model`` − ``ceiling`` is model
  error, 1 − ``ceiling`` is what the structure allows at all.

*Version 2 of the estimator* (``--cv-form lambda``, ``--eta-modes split``): the split (η_a, η_τ) of
evaluation batch i are the least-squares fit on batch i − 1 (cyclically; batches are independent, so
as in training η never sees the batch it is applied to), and the trust gate reads the model's k-step
error on the reference batches (independent of the evaluation batches). The ceiling of a split row is
the fitted-η ceiling of its D kind.

``--estimator`` (default ``mbmf``) names a registered estimator; the k / η sweep applies to the
settings it has (an estimator without ``k`` gives one row), and a model-based estimator (one with
``use_model``) gets the model of step 1.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rlcv.errors import RlcvError

if TYPE_CHECKING:
    from rlcv.agents.ppo import PPOConfig
    from rlcv.agents.trpo import TRPOConfig
    from rlcv.dynamics import EnsembleDynamics
    from rlcv.estimators.base import GradientEstimator
    from rlcv.loop import Trainer
    from rlcv.rollout import RolloutBatch


@dataclass(frozen=True, kw_only=True)
class VarianceSettings:
    """One measurement's settings (the flags of `rlcv bench variance` say what each means)."""

    run_dir: str = ""
    checkpoint_name: str = "last.pt"
    estimator: str = "mbmf"
    ks: list[int] = field(default_factory=lambda: [0, 1, 3, 5, 10])
    batches: int = 200
    batch_size: int | None = None  # default: the run's n_steps × n_envs
    minibatch_size: int | None = None  # default: the run's batch_size
    ref_batches: int = 100
    fit_steps: int = 30000
    model_steps: int = 3000
    model_horizon: int = 3
    model_lr: float | None = None  # default: the run's model_lr, else MBMF's default
    model_td_weight: float = 0.0
    eta_modes: list[str] = field(default_factory=lambda: ["fixed", "fitted"])
    cv_form: str = "kstep"
    trust_gate: bool = True
    variant: str = "correct"
    bootstrap: int = 1000
    alpha: float = 0.01
    detect_bias: float | None = None
    seed: int = 0

    def swept(self) -> VarianceSettings:
        """The k values swept: k = 0 always (every ratio is relative to it), and nothing else for an
        estimator without ``k``."""
        from rlcv.config import field_names
        from rlcv.estimators import ESTIMATORS, settings_class

        ks, modes = self.ks, self.eta_modes
        if self.estimator in ESTIMATORS and "k" not in field_names(settings_class(self.estimator)):
            ks, modes = [0], modes[:1]  # nothing to sweep: one row
        return dataclasses.replace(self, ks=ks if 0 in ks else [0, *ks], eta_modes=modes)


@dataclass(frozen=True)
class BatchShape:
    """Batch and minibatch sizes, and the PPO settings that shape the consumed gradient."""

    steps: int  # per env
    n_samples: int
    minibatch_size: int
    vf_coef: float
    max_norm: float

    @classmethod
    def of(cls, cfg: PPOConfig | TRPOConfig, settings: VarianceSettings) -> BatchShape:
        steps = max(1, (settings.batch_size or cfg.n_steps * cfg.n_envs) // cfg.n_envs)
        n_samples = steps * cfg.n_envs
        minibatch = min(settings.minibatch_size or getattr(cfg, "batch_size", n_samples), n_samples)
        vf_coef, max_norm = (
            float(getattr(cfg, "vf_coef", 0.0)),
            float(getattr(cfg, "max_grad_norm", math.inf)),
        )
        return cls(steps, n_samples, minibatch, vf_coef, max_norm)


def measure_variance(settings: VarianceSettings) -> dict[str, Any]:
    """Gradient variance, bias tests and the perfect-model ceiling of every (k, η mode) of
    ``settings.estimator`` on one checkpoint, as one JSON-ready dict: the settings, the model's fit and
    held-out error, timings, ``rows`` (one per estimator setting) and ``ceiling``.

    1. a dynamics model fitted on ``fit_steps`` fresh transitions (disjoint from every batch below);
    2. ``batches`` evaluation batches shared by every estimator (common random numbers), with one
       minibatch each;
    3. ``ref_batches`` more for the reference gradient (k = 0, no advantage normalisation: unbiased)."""
    import gymnasium as gym
    import torch

    from rlcv.diagnostics.checkpoint import collect_batches, load_session, model_errors, run_config
    from rlcv.diagnostics.gradients import Clip, add_ratios_and_cis, estimator_rows, policy_gradients

    spec = settings.swept()
    torch.manual_seed(spec.seed)
    start = time.perf_counter()
    meta, session = load_session(Path(spec.run_dir), spec.checkpoint_name, spec.seed)
    if not isinstance(space := session.envs.single_action_space, gym.spaces.Box):
        raise RlcvError(f"the variance harness needs a continuous action space, got {space}.")
    shape = BatchShape.of(run_config(session), spec)
    model, record = _fitted_model(spec, session, shape)  # 1. on data no evaluation batch contains
    seconds = {"seconds_model": time.perf_counter() - start}
    # 2. evaluation batches shared by every estimator (and one minibatch each); 3. reference batches
    eval_batches = collect_batches(session, spec.batches, shape.steps)
    gen = torch.Generator().manual_seed(spec.seed)
    minibatches = [
        torch.randperm(shape.n_samples, generator=gen)[: shape.minibatch_size] for _ in eval_batches
    ]
    ref_list = collect_batches(session, spec.ref_batches, shape.steps)
    make = functools.partial(estimator_for, spec, session, model, ref_list[:20])
    ref_grads = np.array([policy_gradients(make(0, "fixed"), b, session).raw for b in ref_list])
    seconds["seconds_collect"] = time.perf_counter() - start - seconds["seconds_model"]
    settings_ = [(0, spec.eta_modes[0])] + [(k, mode) for mode in spec.eta_modes for k in spec.ks if k != 0]
    t0 = time.perf_counter()
    rows, grams, cv_ratios = estimator_rows(
        make, settings_, session, eval_batches, minibatches, ref_grads, Clip(shape.vf_coef, shape.max_norm),
        broken=spec.variant == "broken", alpha=spec.alpha, detect_bias=spec.detect_bias,
    )  # fmt: skip
    seconds["seconds_estimators"] = time.perf_counter() - t0
    ceiling = _ceiling(session, spec, eval_batches)
    table = add_ratios_and_cis(rows, grams, cv_ratios, ceiling, n_boot=spec.bootstrap, seed=spec.seed)
    session.envs.close()
    record = {**_settings_record(spec, meta, session, shape), **record}
    record.update(model_errors(model, eval_batches, max(spec.ks + [1])))
    record.update(bias_z_threshold=rows[0]["bias_z_threshold"], n_params=ref_grads.shape[1])
    record.update(seconds=time.perf_counter() - start, **seconds)
    record["seconds_per_estimator_batch"] = seconds["seconds_estimators"] / (len(settings_) * spec.batches)
    return {**record, "rows": rows, "ceiling": table}


def _fitted_model(spec: VarianceSettings, session: Trainer, shape: BatchShape) -> tuple[Any, dict[str, Any]]:
    """Step 1: the MBMF preset's model (the run's own when it is an MBMF run) fitted on ``fit_steps``
    fresh transitions; with the record of its learning rate and training loss."""
    from rlcv.diagnostics.checkpoint import collect_batches, fit_model, model_settings, run_config

    mbmf = model_settings(run_config(session), spec.model_lr)
    fit_batches = max(1, spec.fit_steps // shape.n_samples)
    model, loss = fit_model(
        session,
        mbmf,
        lambda: collect_batches(session, fit_batches, shape.steps),
        capacity=spec.fit_steps,
        model_steps=spec.model_steps,
        model_horizon=spec.model_horizon,
        model_td_weight=spec.model_td_weight,
    )
    return model, {"model_lr": mbmf.model_lr, "model_train_loss": loss}


def _ceiling(
    session: Trainer, spec: VarianceSettings, eval_batches: list[RolloutBatch]
) -> dict[tuple[int, str, str], np.ndarray]:
    """The perfect-model ceiling per (k, D kind, η mode), per evaluation batch; a split row's ceiling is
    the fitted-η one."""
    from rlcv.diagnostics.ceiling import ceiling_table
    from rlcv.diagnostics.checkpoint import run_config, value_function

    modes = sorted({"split": "fitted"}.get(m, m) for m in spec.eta_modes if m in ("fixed", "fitted", "split"))
    cfg = run_config(session)
    return ceiling_table(
        eval_batches,
        value_function(session),
        gamma=cfg.gamma,
        gae_lambda=cfg.gae_lambda,
        ks=spec.ks,
        eta_modes=modes or ["fixed"],
    )


def estimator_for(
    spec: VarianceSettings,
    session: Trainer,
    model: EnsembleDynamics,
    gate_batches: list[RolloutBatch],
    k: int,
    eta_mode: str,
) -> GradientEstimator:
    """The estimator of one row (``k``, ``eta_mode``) bound to the checkpoint and ``model``; a trust gate
    reads the model's k-step error on ``gate_batches``."""
    from rlcv.diagnostics.checkpoint import make_estimator, model_errors

    est = make_estimator(spec.estimator, session, model, k, eta_mode, spec.cv_form, spec.trust_gate and k > 0)
    if hasattr(est, "last_error") and k > 0:
        # The gate's input: the model's k-step error on batches independent of the evaluation ones.
        est.last_error = model_errors(model, gate_batches, k)[f"model_error_{k}step"]
    return est


# The result's settings keys, in the order of the JSON (each a VarianceSettings field unless renamed here).
_SETTINGS_KEYS = ("estimator", "variant", "algo", "env", "checkpoint", "step", "batches", "batch_size",
    "minibatch_size", "vf_coef", "max_grad_norm", "ref_batches", "bootstrap", "alpha", "detect_bias",
    "fit_steps", "model_steps", "model_horizon", "model_td_weight", "model_lr", "cv_form", "trust_gate",
    "gamma", "gae_lambda")  # fmt: skip


def _settings_record(
    spec: VarianceSettings, meta: dict[str, Any], session: Trainer, shape: BatchShape
) -> dict[str, Any]:
    """The result's first keys: what was measured, and how (``model_lr`` is filled in by the fit)."""
    from rlcv.diagnostics.checkpoint import run_config

    cfg = run_config(session)
    known = {
        **{f.name: getattr(spec, f.name) for f in dataclasses.fields(VarianceSettings)},
        "algo": meta["algo"],
        "env": meta["env"],
        "checkpoint": spec.checkpoint_name,
        "step": session.step,
        "batch_size": shape.n_samples,
        "minibatch_size": shape.minibatch_size,
        "vf_coef": shape.vf_coef,
        "max_grad_norm": shape.max_norm,
        "model_lr": None,
        "gamma": cfg.gamma,
        "gae_lambda": cfg.gae_lambda,
    }
    return {"run": str(spec.run_dir), **{key: known[key] for key in _SETTINGS_KEYS}}
