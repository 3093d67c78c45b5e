"""`rlcv bench variance`: how much does an estimator reduce gradient variance, at what bias, and how much
of what is left is model error rather than structure?

For one checkpoint of a training run (policy, critic and normaliser statistics frozen):

1. fit a dynamics ensemble on ``--fit-steps`` fresh transitions of the frozen policy — data
   disjoint from every batch below (the critic is the checkpoint's, trained on earlier data);
2. draw ``--batches`` M (default 200) independent evaluation batches of ``--batch-size`` B steps
   (default: the run's training batch n_steps × n_envs); *every* estimator (each k, each η mode) is
   applied to the *same* batches (common random numbers);
3. draw ``--ref-batches`` R more batches for a reference gradient from the k = 0 estimator without
   advantage normalisation — an unbiased estimate of the true gradient.

Per estimator, over the M batches (statistics in :mod:`rlcv.bench.variance_stats`):

- the *consumed* gradient: −∇ of PPO's policy loss at θ_old (ratio 1) with the estimator's advantage
  normalisation over the full batch (both terms share the scale), on the full batch and on one PPO
  minibatch (``--minibatch-size``, default the run's ``batch_size``; the same sample indices for every
  estimator) — PPO consumes minibatch gradients;
- ``trace_ratio`` = tr Cov(ĝ_k) / tr Cov(ĝ_0) (no denominator to saturate), full batch, clipped and
  minibatch; ``rel_trace_cov`` = tr Cov / (‖ḡ‖² − tr Cov / M), bias corrected; ``trace_ratio_mom`` the
  median-of-means version; each ratio with a paired-bootstrap 95 % CI (``--bootstrap`` resamples of the
  batch indices, one draw for all estimators);
- clipping as PPO applies it: the factor min(1, max_grad_norm / ‖(∇policy loss, vf_coef ∇value loss)‖)
  of the joint gradient (the entropy term, ent_coef ≈ 1e-3, is left out);
- ``cos_to_reference`` = mean cosine between ĝ and the reference gradient;
- bias of the *unnormalised* gradient (normalisation rescales each estimator differently) against the
  reference: per-coordinate max |z| with its Bonferroni threshold, the aggregate Σ z² test (scaled χ²)
  and the test of the projection onto the reference direction, at level 0.01;
  ``--variant broken`` drops the pathwise term (biased: the tests must reject it for k > 0);
- the verdict of the per-coordinate test with its power (:func:`rlcv.bench.variance_stats.power_check`):
  ``bias_passed`` false ("biased") when rejected; true ("unbiased (test has power)") when not rejected
  and the test could have rejected the broken variant — its bias −E[pathwise term] is measured on the
  same batches, also when ``--variant broken`` drops the term — or, for rows without a pathwise term
  (k = 0) or with ``--detect-bias ε``, a bias ε × the reference (default 0.1); else null
  ("inconclusive"), with ``min_detectable_bias_rel`` (along the target) beside ``target_bias_rel``.
  The exit status stays 0 (a measurement; the verdicts are in the JSON, the table and one printed
  line per row);
- the perfect-model ceiling (:mod:`rlcv.bench.variance_ceiling`): Var(Â − η(G^(k) − V)) / Var(Â) from the
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

import argparse
import copy
import dataclasses
import functools
import json
import math
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rlcv.bench import flags
from rlcv.bench.checks import (
    int_range,
    nonneg_float,
    nonneg_int,
    out_file,
    positive_float,
    positive_int,
    prob,
    seed_value,
)
from rlcv.bench.flags import add_flags, flag
from rlcv.errors import RlcvError

if TYPE_CHECKING:  # heavy imports stay in the functions: cli.py imports this module for its parser
    import torch

    from rlcv.agents.ppo import PPOConfig
    from rlcv.agents.trpo import TRPOConfig
    from rlcv.dynamics import EnsembleDynamics
    from rlcv.estimators.base import GradientEstimator
    from rlcv.estimators.mbmf import MBMFSettings
    from rlcv.loop import Trainer
    from rlcv.rollout import RolloutBatch
    from rlcv.value import ValueFunction


def register(sub: argparse._SubParsersAction) -> None:
    """``rlcv bench variance`` and ``rlcv bench variance-report``."""
    var = sub.add_parser(
        "variance", help="gradient variance of an estimator (default MBMF) vs k at a checkpoint"
    )
    add_flags(var, VarianceSpec)
    var.add_argument(
        "--json", type=out_file, required=True, metavar="OUT", help="JSON output (a PNG is written beside it)"
    )
    var.set_defaults(bench_run=_run)

    report = sub.add_parser("variance-report", help="rebuild DIR/table.md from variance result JSONs")
    report.add_argument("--dir", default="results/variance")
    report.set_defaults(bench_run=_report)


@dataclass(frozen=True, kw_only=True)
class VarianceSpec:
    """One measurement's settings, each with its flag of `rlcv bench variance` (module docstring)."""

    run_dir: str = flag("", name="--run", required=True, help="run directory whose checkpoint is analysed")
    checkpoint_name: str = flag(
        "last.pt", name="--checkpoint", help="file in RUN/checkpoints (e.g. step_000100352.pt)"
    )
    estimator: str = flag("mbmf", help="a registered estimator (rlcv.estimators.ESTIMATORS)")
    ks: list[int] = flag([0, 1, 3, 5, 10], name="--k", type=nonneg_int)
    batches: int = flag(200, type=int_range(3), help="independent evaluation batches (common to all k)")
    batch_size: int | None = flag(
        None, type=positive_int, help="env steps per batch (default: the run's n_steps × n_envs)"
    )
    minibatch_size: int | None = flag(
        None, type=positive_int, help="PPO minibatch size (default: the run's batch_size)"
    )
    ref_batches: int = flag(100, type=int_range(2), help="batches for the reference gradient")
    # step 1: the model's data and fit
    fit_steps: int = flag(30000, type=positive_int, help="fresh env steps to fit the model on")
    model_steps: int = flag(3000, type=nonneg_int, help="model gradient steps")
    model_horizon: int = flag(3, type=positive_int, help="unroll length of the model loss")
    model_lr: float | None = flag(
        None,
        type=positive_float,
        help="Adam learning rate of the model fit (default: the run's model_lr, else MBMF's default 1e-3)",
    )
    model_td_weight: float = flag(
        0.0,
        type=nonneg_float,
        help="weight of the imagined-TD-error term in the model loss (MBMF's model_td_weight; 0: off)",
    )
    # the estimators compared and their bias tests
    eta_modes: list[str] = flag(
        ["fixed", "fitted"],
        help="fixed | fitted (same batch) | split (η_a, η_τ fitted on the previous batch)",
    )
    cv_form: str = flag(
        "kstep",
        choices=["kstep", "lambda"],
        help="kstep: D = C − V (γ^i); lambda: D = Σ (γλ)^i δ̂ (the v2 default of the estimator)",
    )
    trust_gate: bool = flag(
        True, name="--no-trust-gate", help="v2 rows without the model-error gate (gate = 1)"
    )
    variant: str = flag(
        "correct",
        choices=["correct", "broken"],
        help="broken = pathwise term dropped (biased for k > 0; the bias tests must reject it)",
    )
    bootstrap: int = flag(1000, type=positive_int, help="paired-bootstrap resamples for the CIs")
    alpha: float = flag(0.01, type=prob, help="level of the bias tests")
    detect_bias: float | None = flag(
        None,
        type=positive_float,
        metavar="EPS",
        help="power target of the bias tests: a bias EPS × the reference gradient (default: the broken "
        "variant's bias; 0.1 for rows without a pathwise term)",
    )
    seed: int = flag(0, type=seed_value)

    def checked(self) -> VarianceSpec:
        """Refuses too few batches and unknown variants; sweeps k = 0 always (every ratio is relative
        to it) and nothing else for an estimator without ``k``."""
        from rlcv.config import field_names
        from rlcv.estimators import ESTIMATORS, settings_class

        if self.batches < 3:
            raise RlcvError(
                f"--batches {self.batches} is too few for variances and CIs; use at least 3 (default 200)."
            )
        if self.variant not in ("correct", "broken"):
            raise RlcvError(f"--variant must be correct or broken, got '{self.variant}'.")
        ks, modes = self.ks, self.eta_modes
        if self.estimator in ESTIMATORS and "k" not in field_names(settings_class(self.estimator)):
            ks, modes = [0], modes[:1]  # nothing to sweep: one row
        return dataclasses.replace(self, ks=ks if 0 in ks else [0, *ks], eta_modes=modes)


def check_args(spec: VarianceSpec) -> None:
    """Bad arguments end in one ``RlcvError`` line before any work (never in a verdict). Each number's
    range is its flag's type (:mod:`rlcv.bench.checks`), refused while parsing, as is an unwritable
    ``--json``; here: known η modes and estimator, an existing run and checkpoint."""
    from rlcv.errors import did_you_mean
    from rlcv.estimators import ESTIMATORS
    from rlcv.estimators.mbmf import ETA_MODES
    from rlcv.run_dir import RunDir

    for mode in spec.eta_modes:
        if mode not in ETA_MODES:
            raise RlcvError(f"--eta-modes: unknown mode '{mode}'.{did_you_mean(mode, ETA_MODES)}")
    name = spec.estimator
    if name not in ESTIMATORS:
        raise RlcvError(f"--estimator: unknown estimator '{name}'.{did_you_mean(name, list(ESTIMATORS))}")
    run, checkpoint = RunDir(Path(spec.run_dir)), spec.checkpoint_name
    run.read_meta()  # a run directory, or one error line
    if not run.checkpoint(checkpoint).is_file():
        raise RlcvError(
            f"--checkpoint '{checkpoint}' not found in '{run.checkpoints}'; pass a file of that folder."
        )


def _run(args: argparse.Namespace) -> int:
    check_args(spec_of(args))  # bad arguments: one error line before any work
    args.command_line = shlex.join(["rlcv", *sys.argv[1:]])
    main(args)
    return 0  # a measurement: the bias verdicts are in the JSON and the printed lines


def _report(args: argparse.Namespace) -> int:
    print(write_report(args.dir))
    return 0


def _flat_grad(loss: torch.Tensor, params: list[torch.nn.Parameter], retain: bool = False) -> np.ndarray:
    import torch

    grads = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=retain)
    return (
        torch.cat(
            [
                (g if g is not None else torch.zeros_like(p)).reshape(-1)
                for g, p in zip(grads, params, strict=True)
            ]
        )
        .double()
        .numpy()
    )


@dataclass
class BatchGradients:
    """One estimator's gradients on one batch, each [d] (d = number of policy parameters)."""

    consumed: np.ndarray  # what PPO's first step sees: normalised advantages, full batch
    raw: np.ndarray  # unnormalised (for the bias tests)
    score: np.ndarray  # consumed score-function part
    path: np.ndarray  # consumed pathwise part
    minibatch: np.ndarray  # consumed, restricted to one PPO minibatch
    value_sq: float  # ‖vf_coef ∇ value loss‖², full batch (joins the norm PPO clips)
    value_sq_mb: float  # the same on the minibatch
    stats: dict[str, float]  # the estimator's own diagnostics (cv_score_var_ratio, ...)
    raw_path: np.ndarray  # the unnormalised pathwise term, also when ``broken`` drops it (its bias is −E)


def policy_gradients(
    estimator: GradientEstimator,
    batch: RolloutBatch,
    session: Trainer,
    *,
    minibatch: torch.Tensor | None = None,
    vf_coef: float = 0.0,
    broken: bool = False,
) -> BatchGradients:
    """−∇ of PPO's policy loss at θ_old with and without advantage normalisation, split into terms.

    One ``prepare`` serves all. With residual advantages r (mean m, std σ over the batch) and pathwise
    gradient P:  raw = ∇ mean ρ r + P;  consumed = ∇ mean ρ (r − m)/σ + P/σ — normalisation divides both
    terms by the same σ, as the estimator does when ``normalize_advantage`` is on. The minibatch
    gradient uses the same full-batch normalisation, restricted to the indices ``minibatch`` (as PPO
    does). ``broken`` drops the pathwise term P (``raw_path`` still holds it: −E[P] is the broken
    variant's bias, the target of the bias test's power).
    """
    import torch

    policy, value_fn = session.agent.policy, value_function(session)
    params = list(policy.parameters())
    terms = estimator.prepare(batch, policy=policy, value_fn=value_fn)
    estimator.learn_from_batch()  # this batch's η for the next, as after_update does in training
    obs = batch.obs.reshape(-1, batch.obs.shape[-1])
    n = obs.shape[0]
    actions = batch.actions[:, :, 0].reshape(n, -1)
    ratio = (policy.log_prob(obs, actions) - batch.log_probs[:, :, 0].reshape(-1)).exp()
    res = terms.advantages
    mean, sigma = res.mean().item(), res.std().item() + 1e-8
    idx = torch.arange(n) if minibatch is None else minibatch
    g_score = _flat_grad((ratio * res).mean(), params, retain=True)
    g_ratio = _flat_grad(ratio.mean(), params, retain=True)
    g_mb_score = _flat_grad((ratio[idx] * (res[idx] - mean) / sigma).mean(), params)
    raw_path = _pathwise(terms, policy, params, torch.arange(n), like=g_score)
    g_path = np.zeros_like(raw_path) if broken else raw_path
    g_mb_path = np.zeros_like(raw_path) if broken else _pathwise(terms, policy, params, idx, like=g_score)
    score = (g_score - mean * g_ratio) / sigma
    return BatchGradients(
        consumed=score + g_path / sigma,
        raw=g_score + g_path,
        score=score,
        path=g_path / sigma,
        minibatch=g_mb_score + g_mb_path / sigma,
        value_sq=_value_sq(value_fn, obs, terms.returns, torch.arange(n), vf_coef),
        value_sq_mb=_value_sq(value_fn, obs, terms.returns, idx, vf_coef),
        stats=dict(terms.stats),
        raw_path=raw_path,
    )


def _pathwise(terms: Any, policy: Any, params: list[Any], rows: torch.Tensor, like: np.ndarray) -> np.ndarray:
    """The gradient of the estimator's pathwise term on ``rows`` (zeros without one)."""
    if terms.pathwise_loss is None:
        return np.zeros_like(like)
    return _flat_grad(-terms.pathwise_loss(rows, policy, None), params)


def _value_sq(
    value_fn: ValueFunction, obs: torch.Tensor, returns: torch.Tensor, rows: torch.Tensor, vf_coef: float
) -> float:
    """‖vf_coef ∇ value loss‖² on ``rows``: the critic's part of the norm PPO clips."""
    if vf_coef == 0.0:
        return 0.0
    loss = vf_coef * (value_fn(obs[rows]) - returns[rows]).pow(2).mean()
    g = _flat_grad(loss, list(value_fn.parameters()))
    return float(g @ g)


def load_session(run_dir: Path, checkpoint_name: str, seed: int) -> tuple[dict[str, Any], Trainer]:
    from rlcv import checkpoint
    from rlcv.agents import build_agent_config
    from rlcv.loop import Trainer
    from rlcv.run_dir import RunDir

    run = RunDir(run_dir)
    meta = run.read_meta()
    config = build_agent_config(meta["algo"], meta["config"])
    session = Trainer(algo=meta["algo"], env_id=meta["env"], config=config, seed=seed)
    session.load_state_dict(checkpoint.load(run.checkpoint(checkpoint_name)))
    session.obs_normalizer.training = False
    session.reward_scaler.training = False
    session.collector.reset(seed)
    return meta, session


def run_config(session: Trainer) -> PPOConfig | TRPOConfig:
    """The checkpoint's config: the harness reads actor-critic runs (PPO, TRPO)."""
    from rlcv.agents.ppo import PPOConfig
    from rlcv.agents.trpo import TRPOConfig

    assert isinstance(session.config, PPOConfig | TRPOConfig), f"{type(session.config).__name__} has no λ"
    return session.config


def value_function(session: Trainer) -> ValueFunction:
    """V(s) of the checkpoint's agent: the harness reads actor-critic runs (PPO, TRPO)."""
    from rlcv.agents.base import ActorCriticAgent

    assert isinstance(session.agent, ActorCriticAgent), f"{type(session.agent).__name__} has no V(s)"
    return session.agent.value_fn


def collect_batches(session: Trainer, count: int, steps: int) -> list[RolloutBatch]:
    return [session.collector.collect(steps) for _ in range(count)]


def model_errors(model: EnsembleDynamics, batches: list[RolloutBatch], horizon: int) -> dict[str, float]:
    """Held-out normalised MSE of the model after 1 and ``horizon`` steps, on the evaluation batches."""
    import torch

    from rlcv.dynamics import cut_windows

    per_step = []
    for b in batches:
        data = {
            "obs": b.raw_obs,
            "actions": b.actions[:, :, 0],
            "next_obs": b.raw_next_obs,
            "rewards": b.raw_rewards,
            "terminated": b.terminated,
            "done": b.dones,
        }
        w = cut_windows(data, None, horizon, None)
        with torch.no_grad():
            per_step.append(
                model.unrolled_loss(w.obs, w.actions, w.next_obs, w.rewards, w.terminated, w.valid)[1]
            )
    errors = torch.stack(per_step).mean(0)
    return {"model_error_1step": errors[0].item(), f"model_error_{horizon}step": errors[-1].item()}


def make_estimator(
    name: str,
    session: Trainer,
    model: Any,
    k: int,
    eta_mode: str,
    cv_form: str = "kstep",
    trust_gate: bool = False,
) -> GradientEstimator:
    """Estimator ``name`` with the run's γ and λ, no advantage normalisation, η = 1 and ``k`` / ``eta_mode``
    / ``cv_form`` / ``trust_gate`` where its settings have them; bound to the run's (frozen) normalisers."""
    from rlcv.config import field_names
    from rlcv.env_hooks import BindContext
    from rlcv.errors import did_you_mean
    from rlcv.estimators import ESTIMATORS, estimator_class
    from rlcv.estimators.base import EstimatorSetup

    if name not in ESTIMATORS:
        raise RlcvError(f"unknown estimator '{name}'.{did_you_mean(name, list(ESTIMATORS))}")
    cls = estimator_class(name)
    cfg = run_config(session)
    # model "exact": a model-based estimator builds no model of its own; it gets ``model`` instead.
    given = {
        "k": k,
        "eta": 1.0,
        "eta_mode": eta_mode,
        "model": "exact",
        "cv_form": cv_form,
        "trust_gate": trust_gate,
    }
    names = field_names(cls.settings_cls)
    settings = cls.settings_cls(**{key: v for key, v in given.items() if key in names})
    setup = EstimatorSetup(
        observation_space=session.envs.single_observation_space,
        action_space=session.envs.single_action_space,
        algo=f"bench variance --estimator {name}",
        gamma=cfg.gamma,
        gae_lambda=cfg.gae_lambda,
        normalize_advantage=False,
    )
    est = cls.from_setup(settings, setup)
    if hasattr(est, "use_model"):
        est.use_model(model)
    est.bind(
        BindContext(
            env_id=session.env_id,
            env_kwargs=cfg.env_kwargs,
            obs_normalizer=session.obs_normalizer,
            reward_scaler=session.reward_scaler,
        )
    )
    return est


GRADIENT_KINDS = ("full", "clipped", "minibatch", "minibatch_clipped")


def _suffix(kind: str) -> str:
    return "" if kind == "full" else f"_{kind}"


@dataclass
class EstimatorSweep:
    """One estimator's gradients on the M evaluation batches: [M, d] arrays, [M] per-batch scalars,
    and the sums the variance shares of the score and pathwise terms need."""

    consumed: np.ndarray
    raw: np.ndarray
    minibatch: np.ndarray
    raw_path: np.ndarray
    value_sq: np.ndarray
    value_sq_mb: np.ndarray
    cv_ratio: np.ndarray  # cv_score_var_ratio per batch
    eta_a: np.ndarray
    eta_tau: np.ndarray
    score_sum: np.ndarray
    path_sum: np.ndarray
    score_sq: float = 0.0
    path_sq: float = 0.0

    @classmethod
    def empty(cls, m: int, d: int) -> EstimatorSweep:
        def grads() -> np.ndarray:
            return np.empty((m, d))

        def scalars() -> np.ndarray:
            return np.empty(m)

        return cls(grads(), grads(), grads(), grads(), scalars(), scalars(), scalars(), np.zeros(m),
                   np.zeros(m), np.zeros(d), np.zeros(d))  # fmt: skip

    def add(self, i: int, g: BatchGradients) -> None:
        self.consumed[i], self.raw[i], self.minibatch[i], self.raw_path[i] = (
            g.consumed,
            g.raw,
            g.minibatch,
            g.raw_path,
        )
        self.value_sq[i], self.value_sq_mb[i] = g.value_sq, g.value_sq_mb
        self.cv_ratio[i] = g.stats.get("cv_score_var_ratio", 1.0)
        self.eta_a[i], self.eta_tau[i] = g.stats.get("cv_eta_a", 0.0), g.stats.get("cv_eta_tau", 0.0)
        self.score_sum += g.score
        self.path_sum += g.path
        self.score_sq += float(g.score @ g.score)
        self.path_sq += float(g.path @ g.path)


def sweep_estimator(
    est: GradientEstimator,
    session: Trainer,
    eval_batches: list[RolloutBatch],
    minibatches: list[torch.Tensor],
    d: int,
    *,
    vf_coef: float,
    broken: bool,
) -> EstimatorSweep:
    """``est``'s gradients on every evaluation batch (with its minibatch)."""
    sweep = EstimatorSweep.empty(len(eval_batches), d)
    for i, (b, idx) in enumerate(zip(eval_batches, minibatches, strict=True)):
        sweep.add(i, policy_gradients(est, b, session, minibatch=idx, vf_coef=vf_coef, broken=broken))
    return sweep


def gram_kinds(
    sweep: EstimatorSweep, max_norm: float
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The Gram matrix [M, M] of each gradient kind (full, clipped, minibatch, minibatch clipped) and
    PPO's clip factors on the full batch and on the minibatch."""
    from rlcv.bench.variance_stats import clip_factors

    gram, gram_mb = sweep.consumed @ sweep.consumed.T, sweep.minibatch @ sweep.minibatch.T
    c = clip_factors(np.diag(gram) + sweep.value_sq, max_norm)
    c_mb = clip_factors(np.diag(gram_mb) + sweep.value_sq_mb, max_norm)
    kinds = {
        "full": gram,
        "clipped": gram * np.outer(c, c),
        "minibatch": gram_mb,
        "minibatch_clipped": gram_mb * np.outer(c_mb, c_mb),
    }
    return kinds, c, c_mb


def variance_fields(
    sweep: EstimatorSweep,
    kinds: dict[str, np.ndarray],
    c: np.ndarray,
    c_mb: np.ndarray,
    reference: np.ndarray,
) -> dict[str, Any]:
    """A row's point statistics of spread: tr Cov per kind, clip fractions, cosine to the reference."""
    from rlcv.bench.variance_stats import mean_sq_norm, rel_trace_cov_corrected, trace_cov

    row: dict[str, Any] = {}
    for kind, gk in kinds.items():
        row[f"trace_cov{_suffix(kind)}"] = trace_cov(gk)
        row[f"rel_trace_cov{_suffix(kind)}"] = rel_trace_cov_corrected(gk)
    row["rel_trace_cov_uncorrected"] = trace_cov(kinds["full"]) / mean_sq_norm(kinds["full"])
    row["clip_fraction"] = float((c < 1).mean())
    row["clip_fraction_minibatch"] = float((c_mb < 1).mean())
    norms = np.linalg.norm(sweep.consumed, axis=1) * np.linalg.norm(reference) + 1e-30
    row["cos_to_reference"] = float(((sweep.consumed @ reference) / norms).mean())
    return row


def bias_fields(
    sweep: EstimatorSweep, ref_grads: np.ndarray, alpha: float, detect_bias: float | None
) -> dict[str, Any]:
    """A row's bias tests against the reference gradient, with their power against the broken
    variant's bias (or ε·reference)."""
    from rlcv.bench.variance_stats import bias_tests, power_check, power_target

    reference = ref_grads.mean(0)
    tests = bias_tests(sweep.raw, reference, ref_grads, alpha=alpha)
    target_bias, target_se, target = power_target(sweep.raw_path, reference, detect_bias)
    power = power_check(
        rejected=tests.rejected["per_coordinate"],
        se=tests.se,
        z_threshold=tests.z_threshold,
        target_bias=target_bias,
        reference=reference,
        target_se=target_se,
        target=target,
    )
    row = tests.as_dict()
    row["bias_passed"], row["bias_verdict"] = power.pop("passed"), power.pop("verdict")
    return {**row, **power}


def diagnosis_fields(sweep: EstimatorSweep, est: GradientEstimator, trace: float) -> dict[str, Any]:
    """Which term carries the variance (score residual vs pathwise correction), and the estimator's
    own state (CV form, gate, the gate's model error, mean η)."""
    m = len(sweep.cv_ratio)
    return {
        "score_trace_share": (sweep.score_sq - float(sweep.score_sum @ sweep.score_sum) / m)
        / (m - 1)
        / trace,
        "pathwise_trace_share": (sweep.path_sq - float(sweep.path_sum @ sweep.path_sum) / m)
        / (m - 1)
        / trace,
        "cv_score_var_ratio": float(sweep.cv_ratio.mean()),
        "cv_form": getattr(getattr(est, "settings", None), "cv_form", None),
        "gate": float(est.gate()) if hasattr(est, "gate") else 1.0,
        "model_error_kstep": getattr(est, "last_error", None),  # the gate's input (reference batches)
        "eta_a_mean": float(np.mean(sweep.eta_a)),
        "eta_tau_mean": float(np.mean(sweep.eta_tau)),
    }


def estimator_rows(
    make: Any,
    settings: list[tuple[int, str]],
    session: Trainer,
    eval_batches: list[RolloutBatch],
    minibatches: list[torch.Tensor],
    ref_grads: np.ndarray,
    shape: BatchShape,
    spec: VarianceSpec,
) -> tuple[list[dict[str, Any]], list[dict[str, np.ndarray]], list[np.ndarray]]:
    """Per estimator (k, η mode): its row of point statistics, its Gram matrices per gradient kind
    ([M, M], for the bootstrap) and its per-batch ``cv_score_var_ratio`` ([M])."""
    from rlcv.bench.variance_stats import trace_cov

    reference = ref_grads.mean(0)
    rows, grams, cv_ratios = [], [], []
    for k, eta_mode in settings:
        est = make(k, eta_mode)
        if getattr(est, "update_split_eta", False) and eta_mode == "split":
            # η of batch 0 from the last batch (cyclic): every batch's η comes from another batch.
            est.prepare(eval_batches[-1], policy=session.agent.policy, value_fn=value_function(session))
            est.learn_from_batch()
        d, broken = reference.shape[0], spec.variant == "broken"
        sweep = sweep_estimator(
            est, session, eval_batches, minibatches, d, vf_coef=shape.vf_coef, broken=broken
        )
        kinds, c, c_mb = gram_kinds(sweep, shape.max_norm)
        rows.append(
            {
                "k": k,
                "eta_mode": "none" if k == 0 else eta_mode,
                **variance_fields(sweep, kinds, c, c_mb, reference),
                **bias_fields(sweep, ref_grads, spec.alpha, spec.detect_bias),
                **diagnosis_fields(sweep, est, trace_cov(kinds["full"])),
            }
        )
        grams.append(kinds)
        cv_ratios.append(sweep.cv_ratio)
    return rows, grams, cv_ratios


def add_ratios_and_cis(
    rows: list[dict[str, Any]],
    grams: list[dict[str, np.ndarray]],
    cv_ratios: list[np.ndarray],
    ceiling: dict[tuple[int, str, str], np.ndarray],
    *,
    n_boot: int,
    seed: int,
) -> list[dict[str, Any]]:
    """Ratios to k = 0 (row 0), median-of-means ratios, the ceiling beside the model, and paired-bootstrap
    95 % CIs for all of them (one resampling of the batch indices shared by every estimator). Returns the
    ceiling table (every k, D kind, η mode)."""
    from rlcv.bench.variance_stats import bootstrap_weights, percentile_ci, ratio_cis, trace_cov_mom

    m = len(cv_ratios[0])
    weights = bootstrap_weights(m, n_boot, seed)

    def mean_ci(per_batch: np.ndarray) -> list[float]:
        return percentile_ci(weights @ per_batch / m)

    for kind in GRADIENT_KINDS:
        s = _suffix(kind)
        cis = ratio_cis([g[kind] for g in grams], 0, weights)
        base, base_mom = rows[0][f"trace_cov{s}"], trace_cov_mom(grams[0][kind])
        for row, g, ci in zip(rows, grams, cis, strict=True):
            row[f"trace_ratio{s}"] = row[f"trace_cov{s}"] / base
            row.setdefault("ci", {})[f"trace_ratio{s}"] = ci["trace_ratio"]
            row["ci"][f"rel_trace_cov{s}"] = ci["rel_trace_cov"]
            # R_k / R_0 with its paired CI (infinite R_0: the ratio is undefined, NaN)
            base_rel = rows[0][f"rel_trace_cov{s}"]
            row[f"rel_ratio{s}"] = (
                row[f"rel_trace_cov{s}"] / base_rel if math.isfinite(base_rel) else math.nan
            )
            row["ci"][f"rel_ratio{s}"] = ci["rel_ratio"]
            if kind in ("full", "minibatch"):
                row[f"trace_ratio_mom{s}"] = trace_cov_mom(g[kind]) / base_mom
    for row, cvr in zip(rows, cv_ratios, strict=True):
        row["var_ratio_vs_k0"] = row["trace_ratio"]  # the headline number (denominator free)
        row["ci"]["cv_score_var_ratio"] = mean_ci(cvr)
        mode = {"fitted": "fitted", "split": "fitted"}.get(row["eta_mode"], "fixed")
        for kind in ("gamma", "lambda"):
            key = (row["k"], kind, mode)
            if key in ceiling:
                row[f"ceiling_{kind}"] = float(ceiling[key].mean())
                row["ci"][f"ceiling_{kind}"] = mean_ci(ceiling[key])
    return [
        {"k": k, "d": kind, "eta_mode": mode, "ratio": float(v.mean()), "ci": mean_ci(v)}
        for (k, kind, mode), v in sorted(ceiling.items())
    ]


def fit_model(
    session: Trainer,
    settings: MBMFSettings,
    fit_batches: Callable[[], list[RolloutBatch]],
    *,
    capacity: int,
    model_steps: int,
    model_horizon: int,
    model_td_weight: float = 0.0,
) -> tuple[EnsembleDynamics, float]:
    """The MBMF model of ``settings`` fitted on the batches ``fit_batches()`` returns: ``model_steps`` Adam
    steps (lr ``settings.model_lr``, batch ``settings.model_batch_size``) on random windows; with
    ``model_td_weight`` > 0 also on the imagined TD errors of the session's frozen critic, as MBMF's
    ``model_td_weight`` does. ``fit_batches`` is called after the model
    is built, so a seeded run draws model init, then data. Returns (model, mean training loss)."""
    import gymnasium as gym
    import torch

    from rlcv.dynamics import EnsembleDynamics, TDLoss, TransitionReplay, train_dynamics

    space = session.envs.single_action_space
    obs_shape = session.envs.single_observation_space.shape
    assert isinstance(space, gym.spaces.Box) and obs_shape is not None and space.shape is not None
    model = EnsembleDynamics(
        obs_shape[0],
        space.shape[0],
        ensemble_size=settings.model_ensemble_size,
        hidden_sizes=settings.model_hidden_sizes,
        action_low=space.low,
        action_high=space.high,
        structure=settings.model_structure,
    )
    replay = TransitionReplay(capacity)
    for b in fit_batches():
        replay.add_batch(b)
    td = None
    if model_td_weight > 0:
        critic = copy.deepcopy(value_function(session)).requires_grad_(False)
        transform = session.obs_normalizer.torch_transform()
        td = TDLoss(
            value=lambda s: critic(transform(s)).reshape(-1),
            gamma=session.config.gamma,
            reward_scale=session.reward_scaler.scale(),
            weight=model_td_weight,
        )
    loss = train_dynamics(
        model,
        torch.optim.Adam(model.parameters(), lr=settings.model_lr, weight_decay=settings.model_weight_decay),
        replay,
        steps=model_steps,
        batch_size=settings.model_batch_size,
        horizon=model_horizon,
        td=td,
    )
    return model, loss


@dataclass(frozen=True)
class BatchShape:
    """Batch and minibatch sizes, and the PPO settings that shape the consumed gradient."""

    steps: int  # per env
    n_samples: int
    minibatch_size: int
    vf_coef: float
    max_norm: float

    @classmethod
    def of(cls, cfg: PPOConfig | TRPOConfig, spec: VarianceSpec) -> BatchShape:
        steps = max(1, (spec.batch_size or cfg.n_steps * cfg.n_envs) // cfg.n_envs)
        n_samples = steps * cfg.n_envs
        minibatch = min(spec.minibatch_size or getattr(cfg, "batch_size", n_samples), n_samples)
        vf_coef, max_norm = (
            float(getattr(cfg, "vf_coef", 0.0)),
            float(getattr(cfg, "max_grad_norm", math.inf)),
        )
        return cls(steps, n_samples, minibatch, vf_coef, max_norm)


def model_settings(cfg: PPOConfig | TRPOConfig, model_lr: float | None) -> MBMFSettings:
    """The model of the MBMF preset (the run's own settings when it is an MBMF run)."""
    from rlcv.estimators.mbmf import MBMFSettings

    settings = getattr(cfg, "estimator_settings", None)
    if not isinstance(settings, MBMFSettings):
        settings = MBMFSettings()
    return settings if model_lr is None else dataclasses.replace(settings, model_lr=model_lr)


def ceiling_table(
    session: Trainer, spec: VarianceSpec, eval_batches: list[RolloutBatch]
) -> dict[tuple[int, str, str], np.ndarray]:
    """The perfect-model ceiling per (k, D kind, η mode), per evaluation batch."""
    from rlcv.bench.variance_ceiling import ceiling_ratios

    modes = sorted({"split": "fitted"}.get(m, m) for m in spec.eta_modes if m in ("fixed", "fitted", "split"))
    cfg = run_config(session)
    per_batch = [
        ceiling_ratios(
            b,
            value_function(session),
            gamma=cfg.gamma,
            gae_lambda=cfg.gae_lambda,
            ks=spec.ks,
            eta_modes=modes or ["fixed"],
        )
        for b in eval_batches
    ]
    return {key: np.array([p[key] for p in per_batch]) for key in per_batch[0]}


def run_variance(**settings: Any) -> dict[str, Any]:
    """The measurement of ``VarianceSpec(**settings)`` (module docstring), as one JSON-ready dict."""
    import gymnasium as gym
    import torch

    spec = VarianceSpec(**settings).checked()
    torch.manual_seed(spec.seed)
    start = time.perf_counter()
    meta, session = load_session(Path(spec.run_dir), spec.checkpoint_name, spec.seed)
    space = session.envs.single_action_space
    if not isinstance(space, gym.spaces.Box):
        raise RlcvError(f"the variance harness needs a continuous action space, got {space}.")
    cfg = run_config(session)
    shape, mbmf = BatchShape.of(cfg, spec), model_settings(cfg, spec.model_lr)
    # 1. the model, on data no evaluation batch contains
    fit_batches = max(1, spec.fit_steps // shape.n_samples)
    model, model_loss = fit_model(
        session,
        mbmf,
        lambda: collect_batches(session, fit_batches, shape.steps),
        capacity=spec.fit_steps,
        model_steps=spec.model_steps,
        model_horizon=spec.model_horizon,
        model_td_weight=spec.model_td_weight,
    )
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
        make, settings_, session, eval_batches, minibatches, ref_grads, shape, spec
    )
    seconds["seconds_estimators"] = time.perf_counter() - t0
    ceiling = ceiling_table(session, spec, eval_batches)
    table = add_ratios_and_cis(rows, grams, cv_ratios, ceiling, n_boot=spec.bootstrap, seed=spec.seed)
    session.envs.close()
    record = result_record(spec, meta, session, shape, mbmf, model_loss)
    record.update(model_errors(model, eval_batches, max(spec.ks + [1])))
    record.update(bias_z_threshold=rows[0]["bias_z_threshold"], n_params=ref_grads.shape[1])
    record.update(seconds=time.perf_counter() - start, **seconds)
    record["seconds_per_estimator_batch"] = seconds["seconds_estimators"] / (len(settings_) * spec.batches)
    return {**record, "rows": rows, "ceiling": table}


def estimator_for(
    spec: VarianceSpec,
    session: Trainer,
    model: EnsembleDynamics,
    gate_batches: list[RolloutBatch],
    k: int,
    eta_mode: str,
) -> GradientEstimator:
    est = make_estimator(spec.estimator, session, model, k, eta_mode, spec.cv_form, spec.trust_gate and k > 0)
    if hasattr(est, "last_error") and k > 0:
        # The gate's input: the model's k-step error on batches independent of the evaluation ones.
        est.last_error = model_errors(model, gate_batches, k)[f"model_error_{k}step"]
    return est


def result_record(
    spec: VarianceSpec,
    meta: dict[str, Any],
    session: Trainer,
    shape: BatchShape,
    mbmf: MBMFSettings,
    model_loss: float,
) -> dict[str, Any]:
    """The result's first keys: what was measured, and how."""
    cfg = run_config(session)
    return {
        "run": str(spec.run_dir),
        "estimator": spec.estimator,
        "variant": spec.variant,
        "algo": meta["algo"],
        "env": meta["env"],
        "checkpoint": spec.checkpoint_name,
        "step": session.step,
        "batches": spec.batches,
        "batch_size": shape.n_samples,
        "minibatch_size": shape.minibatch_size,
        "vf_coef": shape.vf_coef,
        "max_grad_norm": shape.max_norm,
        "ref_batches": spec.ref_batches,
        "bootstrap": spec.bootstrap,
        "alpha": spec.alpha,
        "detect_bias": spec.detect_bias,
        "fit_steps": spec.fit_steps,
        "model_steps": spec.model_steps,
        "model_horizon": spec.model_horizon,
        "model_td_weight": spec.model_td_weight,
        "model_lr": mbmf.model_lr,
        "cv_form": spec.cv_form,
        "trust_gate": spec.trust_gate,
        "gamma": cfg.gamma,
        "gae_lambda": cfg.gae_lambda,
        "model_train_loss": model_loss,
    }


def plot(result: dict[str, Any], out: Path) -> None:
    from rlcv.bench.report import figure

    with figure(out, 1, 2, figsize=(9, 3.4)) as (fig, axes):
        _draw(fig, axes, result)


def _draw(fig: Any, axes: Any, result: dict[str, Any]) -> None:
    """tr Cov ratio (full and minibatch clipped, with CIs) and the cosine to the reference, against k."""
    base = next(r for r in result["rows"] if r["k"] == 0)
    for mode in sorted({r["eta_mode"] for r in result["rows"]} - {"none"}):
        rows = [base] + sorted((r for r in result["rows"] if r["eta_mode"] == mode), key=lambda r: r["k"])
        ks = [r["k"] for r in rows]
        for key, style in (("trace_ratio", "o-"), ("trace_ratio_minibatch_clipped", "s:")):
            y = np.array([r[key] for r in rows])
            ci = np.array([r["ci"][key] for r in rows]).T
            err = np.clip(np.abs(ci - y), 0, 1e6)
            axes[0].errorbar(ks, y, yerr=err, fmt=style, capsize=2, label=f"η {mode} {key[12:] or 'full'}")
        axes[1].plot(ks, [r["cos_to_reference"] for r in rows], "o-", label=f"η {mode}")
    axes[0].axhline(1 / 3, color="grey", ls="--", lw=0.8, label="target 1/3")
    axes[0].set(xlabel="k", ylabel="tr Cov / tr Cov(k=0)", yscale="log")
    axes[1].set(xlabel="k", ylabel="mean cosine to reference")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{result['env']} @ {result['step']} steps ({result['algo']} checkpoint)", fontsize=10)


def _g(x: float) -> str:
    """Two significant digits: the CIs of a few hundred batches allow no more."""
    return "inf" if not math.isfinite(x) else f"{x:.2g}"


def _eta_label(row: dict[str, Any]) -> str:
    """η mode, with the CV form, the mean (η_a, η_τ) and the gate of v2 rows."""
    if row["eta_mode"] != "split":
        return str(row["eta_mode"])
    return (
        f"split {row.get('cv_form', '')} (η_a {row['eta_a_mean']:.2f}, η_τ {row['eta_tau_mean']:.2f}, "
        f"gate {row['gate']:.2f})"
    )


def _ci(row: dict[str, Any], key: str) -> str:
    if key not in row:
        return "–"
    lo, hi = row["ci"].get(key, [math.nan, math.nan])
    return f"{_g(row[key])} [{_g(lo)}, {_g(hi)}]"


def _verdict_cell(row: dict[str, Any]) -> str:
    """The bias verdict with the smallest bias (along the target) the test could detect and the target's
    size, both relative to the reference (– for results written before the power check)."""
    if "bias_verdict" not in row:
        return "–"
    return f"{row['bias_verdict']} ({_g(row['min_detectable_bias_rel'])} / {_g(row['target_bias_rel'])})"


def verdict_lines(result: dict[str, Any]) -> list[str]:
    """One line per row: its bias verdict, the target and the smallest bias the test could detect."""
    return [
        f"bias k={r['k']} η {r['eta_mode']} ({result.get('variant', 'correct')}): {r['bias_verdict']} "
        f"(max |z| {r['max_abs_bias_z']:.2f} vs {r['bias_z_threshold']:.2f}); target: {r['power_target']}, "
        f"{_g(r['target_bias_rel'])} × ‖ref‖; min detectable bias along it "
        f"{_g(r['min_detectable_bias_rel'])} × ‖ref‖ "
        f"(any direction {_g(r['min_detectable_bias_any_direction_rel'])})"
        for r in result["rows"]
    ]


def render_markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        (
            "| env | step | k | η | variant | tr Cov ratio | tr Cov ratio, minibatch clipped "
            "| tr Cov ratio MoM "
            "| rel_trace_cov (corr.) | cos_to_reference | bias: max abs z (thr.) / χ² p / proj. p "
            "| bias verdict (min. detectable / target, × ‖ref‖) "
            "| var share score / pathwise | score var ratio: model | ceiling D | ceiling D^λ |"
        ),
        "|---|---:|---:|---|---|---:|---:|---:|---:|---:|---|---|---|---:|---:|---:|",
    ]
    for res in results:
        for r in res["rows"]:
            lines.append(
                f"| {res['env']} | {res['step']} | {r['k']} | {_eta_label(r)} | "
                f"{res.get('variant', 'correct')} | "
                f"{_ci(r, 'trace_ratio')} | {_ci(r, 'trace_ratio_minibatch_clipped')} | "
                f"{_g(r['trace_ratio_mom'])} | {_ci(r, 'rel_trace_cov')} | {r['cos_to_reference']:.2f} | "
                f"{r['max_abs_bias_z']:.1f} ({r['bias_z_threshold']:.1f}) / {r['bias_chi2_p']:.2g} / "
                f"{r['bias_proj_p']:.2g} | {_verdict_cell(r)} | "
                f"{r['score_trace_share']:.2f} / {r['pathwise_trace_share']:.2f} | "
                f"{_ci(r, 'cv_score_var_ratio')} | {_ci(r, 'ceiling_gamma')} | {_ci(r, 'ceiling_lambda')} |"
            )
    return "\n".join(lines) + "\n"


def spec_of(args: argparse.Namespace) -> VarianceSpec:
    """The measurement the parsed flags ask for."""
    return flags.spec_of(VarianceSpec, args)


def main(args: Any) -> dict[str, Any]:
    result = run_variance(**vars(spec_of(args)))
    result["command"] = getattr(args, "command_line", "")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    plot(result, out.with_suffix(".png"))
    print(render_markdown([result]))
    print("\n".join(verdict_lines(result)))
    return result


def write_report(directory: str | Path) -> Path:
    """Rebuild ``DIR/table.md`` from every result JSON in ``DIR`` (commands included)."""
    directory = Path(directory)
    loaded = (json.loads(p.read_text()) for p in directory.glob("*.json"))
    results = sorted(
        (r for r in loaded if isinstance(r, dict) and "rows" in r),  # beside them: e.g. mbmf-speed's JSONs
        key=lambda r: (r["env"], r["step"], r.get("variant", "correct")),
    )
    if not results:
        raise RlcvError(
            f"no variance results (*.json) in '{directory}'; run `rlcv bench variance ... --json` first."
        )
    old = [r for r in results if "trace_ratio" not in r["rows"][0]]
    if old:
        raise RlcvError(
            f"'{old[0]['run']}' in '{directory}' is a result of the old harness (no trace_ratio); "
            f"rerun `rlcv bench variance` or move the file."
        )
    lines = [
        "# Gradient variance of the MBMF estimator (generated by `rlcv bench variance-report`)",
        "",
        "Ratios are tr Cov(ĝ_k) / tr Cov(ĝ_0) with paired-bootstrap 95 % CIs (two significant digits);",
        "rel_trace_cov = tr Cov / (‖ḡ‖² − tr Cov / M). Score var ratio = Var(Â − ηD) / Var(Â): with the",
        "learned model (model) and with a perfect model (ceiling: D = Σ γ^i δ, the current CV;",
        "D^λ = Σ (γλ)^i δ).",
        "model − ceiling is model error; 1 − ceiling is all the structure of D allows.",
        "",
        render_markdown(results),
        "Perfect-model ceiling for every k, D and η mode:",
        "",
        "| env | step | k | D | η | Var(Â − ηD) / Var(Â) |",
        "|---|---:|---:|---|---|---:|",
    ]
    lines += ceiling_lines(results)
    lines += checkpoint_lines(results)
    lines += ["", "Commands:", ""] + [f"    {r.get('command', '')}" for r in results] + [""]
    out = directory / "table.md"
    out.write_text("\n".join(lines))
    ceiling_figure(results, directory / "ceiling.png")
    return out


def ceiling_figure(results: list[dict[str, Any]], out: Path) -> None:
    """Bars of the score-term variance left per CV row: the learned model against the perfect-model
    ceilings (D, D^λ), with their 95 % intervals — how much of the gap is the model's."""
    from rlcv.bench.report import figure

    rows = [
        (
            f"{r['env'].removesuffix('-v5')} {r['step'] // 1000}k k={row['k']} λ={r.get('gae_lambda', '?')}",
            row,
        )
        for r in results
        if r.get("variant", "correct") == "correct"
        for row in r["rows"]
        if row["k"] > 0 and "ceiling_gamma" in row
    ]
    if not rows:
        return
    keys = [("cv_score_var_ratio", "learned model"), ("ceiling_gamma", "perfect model, D")]
    keys.append(("ceiling_lambda", "perfect model, D^λ"))
    y = np.arange(len(rows))
    with figure(out, 1, 1, figsize=(8, 0.32 * len(rows) + 1.4)) as (_, ax):
        for j, (key, label) in enumerate(keys):
            vals = np.array([row[key] for _, row in rows])
            ci = np.array([row["ci"][key] for _, row in rows]).T
            err = np.clip(np.abs(ci - vals), 0, None)
            ax.barh(y + (j - 1) * 0.27, vals, height=0.27, xerr=err, capsize=1.5, label=label)
        ax.axvline(1 / 3, color="grey", ls="--", lw=0.8, label="target 1/3")
        ax.set_yticks(y, [label for label, _ in rows], fontsize=7)
        ax.invert_yaxis()
        ax.set(xlabel="score-term variance left, Var(Â − ηD) / Var(Â)", xlim=(0, 1.05))
        ax.legend(fontsize=7, loc="lower right")


def ceiling_lines(results: list[dict[str, Any]]) -> list[str]:
    """The rows of the perfect-model ceiling table (correct variants only)."""
    return [
        f"| {r['env']} | {r['step']} | {c['k']} | {c['d']} | {c['eta_mode']} | "
        f"{_g(c['ratio'])} [{_g(c['ci'][0])}, {_g(c['ci'][1])}] |"
        for r in results
        if r.get("variant", "correct") == "correct"
        for c in r["ceiling"]
    ]


def checkpoint_lines(results: list[dict[str, Any]]) -> list[str]:
    """The per-checkpoint table: model error (normalised MSE, held out), batches, time."""
    lines = [
        "",
        "Per checkpoint: model error (normalised MSE, held out), batches, time.",
        "",
        "| env | step | variant | model 1-step | model k_max-step | batches × size (minibatch) | ref batches "
        "| params | seconds |",
        "|---|---:|---|---:|---:|---|---:|---:|---:|",
    ]
    for r in results:
        kerr = next(
            v for key, v in r.items() if key.startswith("model_error_") and key != "model_error_1step"
        )
        lines.append(
            f"| {r['env']} | {r['step']} | {r.get('variant', 'correct')} | {r['model_error_1step']:.3f} | "
            f"{kerr:.3f} | {r['batches']} × {r['batch_size']} ({r['minibatch_size']}) | {r['ref_batches']} | "
            f"{r['n_params']} | {r['seconds']:.0f} |"
        )
    return lines
