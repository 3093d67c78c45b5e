"""An estimator's policy gradients at a frozen checkpoint, on many independent batches, and what they
say about it (statistics in :mod:`rlcv.diagnostics.gradient_stats`). Used by `rlcv bench variance`;
per estimator, over the M batches:

- the *consumed* gradient: −∇ of PPO's policy loss at θ_old (ratio 1) with the estimator's advantage
  normalisation over the full batch (both terms share the scale), on the full batch and on one PPO
  minibatch — PPO consumes minibatch gradients;
- ``trace_ratio`` = tr Cov(ĝ_k) / tr Cov(ĝ_0) (no denominator to saturate), full batch, clipped and
  minibatch; ``rel_trace_cov`` = tr Cov / (‖ḡ‖² − tr Cov / M), bias corrected; ``trace_ratio_mom`` the
  median-of-means version; each ratio with a paired-bootstrap 95 % CI (resamples of the batch indices,
  one draw for all estimators);
- clipping as PPO applies it: the factor min(1, max_grad_norm / ‖(∇policy loss, vf_coef ∇value loss)‖)
  of the joint gradient (the entropy term, ent_coef ≈ 1e-3, is left out);
- ``cos_to_reference`` = mean cosine between ĝ and the reference gradient;
- bias of the *unnormalised* gradient ``raw`` (normalisation rescales each estimator differently)
  against the reference: per-coordinate max |z| with its Bonferroni threshold, the aggregate Σ z² test
  (scaled χ²) and the test of the projection onto the reference direction, with the per-coordinate
  test's power against the broken variant's bias (pathwise term dropped) or ε × the reference;
- which term carries the variance (score residual vs pathwise correction) and the estimator's own
  state (CV form, gate, mean η).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rlcv.diagnostics.checkpoint import value_function
from rlcv.diagnostics.gradient_stats import (
    bias_tests,
    bootstrap_weights,
    clip_factors,
    mean_sq_norm,
    percentile_ci,
    power_check,
    power_target,
    ratio_cis,
    rel_trace_cov_corrected,
    trace_cov,
    trace_cov_mom,
)

if TYPE_CHECKING:
    import torch

    from rlcv.estimators.base import GradientEstimator
    from rlcv.loop import Trainer
    from rlcv.rollout import RolloutBatch
    from rlcv.value import ValueFunction


@dataclass(frozen=True)
class Clip:
    """What PPO's global-norm clip sees beside the policy gradient: the value loss's weight ``vf_coef``
    (its gradient joins the clipped norm) and ``max_norm`` (inf: no clipping)."""

    vf_coef: float = 0.0
    max_norm: float = math.inf


def flat_grad(loss: torch.Tensor, params: list[torch.nn.Parameter], retain: bool = False) -> np.ndarray:
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
    g_score = flat_grad((ratio * res).mean(), params, retain=True)
    g_ratio = flat_grad(ratio.mean(), params, retain=True)
    g_mb_score = flat_grad((ratio[idx] * (res[idx] - mean) / sigma).mean(), params)
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
    return flat_grad(-terms.pathwise_loss(rows, policy, None), params)


def _value_sq(
    value_fn: ValueFunction, obs: torch.Tensor, returns: torch.Tensor, rows: torch.Tensor, vf_coef: float
) -> float:
    """‖vf_coef ∇ value loss‖² on ``rows``: the critic's part of the norm PPO clips."""
    if vf_coef == 0.0:
        return 0.0
    loss = vf_coef * (value_fn(obs[rows]) - returns[rows]).pow(2).mean()
    g = flat_grad(loss, list(value_fn.parameters()))
    return float(g @ g)


GRADIENT_KINDS = ("full", "clipped", "minibatch", "minibatch_clipped")


def suffix(kind: str) -> str:
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
    row: dict[str, Any] = {}
    for kind, gk in kinds.items():
        row[f"trace_cov{suffix(kind)}"] = trace_cov(gk)
        row[f"rel_trace_cov{suffix(kind)}"] = rel_trace_cov_corrected(gk)
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
    clip: Clip,
    *,
    broken: bool = False,
    alpha: float = 0.01,
    detect_bias: float | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, np.ndarray]], list[np.ndarray]]:
    """Per estimator ``make(k, eta_mode)`` of ``settings``: its row of point statistics on the evaluation
    batches (each with its PPO minibatch), bias tests against the reference gradients ``ref_grads``
    [R, d] at level ``alpha`` with their power (:func:`bias_fields`; ``broken`` drops the pathwise
    term), its Gram matrices per gradient kind ([M, M], for the bootstrap) and its per-batch
    ``cv_score_var_ratio`` ([M])."""
    reference = ref_grads.mean(0)
    rows, grams, cv_ratios = [], [], []
    for k, eta_mode in settings:
        est = make(k, eta_mode)
        if getattr(est, "update_split_eta", False) and eta_mode == "split":
            # η of batch 0 from the last batch (cyclic): every batch's η comes from another batch.
            est.prepare(eval_batches[-1], policy=session.agent.policy, value_fn=value_function(session))
            est.learn_from_batch()
        d = reference.shape[0]
        sweep = sweep_estimator(
            est, session, eval_batches, minibatches, d, vf_coef=clip.vf_coef, broken=broken
        )
        kinds, c, c_mb = gram_kinds(sweep, clip.max_norm)
        rows.append(
            {
                "k": k,
                "eta_mode": "none" if k == 0 else eta_mode,
                **variance_fields(sweep, kinds, c, c_mb, reference),
                **bias_fields(sweep, ref_grads, alpha, detect_bias),
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
    m = len(cv_ratios[0])
    weights = bootstrap_weights(m, n_boot, seed)

    def mean_ci(per_batch: np.ndarray) -> list[float]:
        return percentile_ci(weights @ per_batch / m)

    for kind in GRADIENT_KINDS:
        s = suffix(kind)
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
