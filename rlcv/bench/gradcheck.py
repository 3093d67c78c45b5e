"""`rlcv bench gradcheck`: is a policy-gradient estimator unbiased? Checked against the exact gradient.

On ``rlcv/LQR-v0`` with a linear-Gaussian policy a = K s + k0 + σ ξ (a GaussianPolicy without
hidden layers), the exact gradient ∇J is known (:func:`rlcv.envs.lqr.exact_policy_gradient`).
We draw ``estimates`` independent batches of ``episodes`` full episodes, compute the estimator's
gradient on each (γ = 1, λ = 1 so that the advantage is Monte-Carlo; no advantage normalisation;
fixed η), and compare the mean with ∇J / H — the estimators average over the H·E samples of a
batch, while J sums over the H steps of an episode.

Tests (:func:`rlcv.bench.variance_stats.bias_tests`), each at level ``alpha``:

* per coordinate: z_j = (mean_j − ∇J_j / H) / se_j with a Bonferroni threshold (``passed``);
* aggregate: Q = Σ_j z_j² against a scaled χ² (Satterthwaite: the z_j are correlated) (``passed_chi2``);
* projection: the mean of ĝ·u against ∇J·u / H, u = ∇J / ‖∇J‖ (``passed_projection``).

``--variant broken`` drops the pathwise term — a biased estimator that the tests must reject,
otherwise they have no power.

*Verdicts that know their power* (:func:`rlcv.bench.variance_stats.power_check`). "Not rejected" is a
pass only if the per-coordinate test could have rejected the broken variant at the same settings. The
pathwise term's gradient is computed on every estimate anyway (correct = score part + pathwise part,
broken = score part), so the broken variant's bias, −E[pathwise], is estimated on the same batches,
with its own standard error; the test has power when for some coordinate the lower confidence bound
of that bias reaches the minimal detectable bias MDB_j = (z_c + z_0.8)·se_j (≥ 80 % power). Where the
estimator has no pathwise term (k = 0, ``--estimator gae``), or ``--detect-bias ε`` is given, the
target is a bias ε·∇J (default ε = 0.1). ``passed`` is then true ("unbiased (test has power)"), false
("biased": max |z| above the threshold, whatever the power) or null ("inconclusive": not rejected, but
the test could not have rejected the target either); the JSON gives ``min_detectable_bias`` (per
coordinate; along the target and in any direction, absolute and relative to ‖∇J‖) beside the
target's size ``target_bias_abs`` / ``_rel``. Exit
status: 0 passed, 1 biased, 3 inconclusive, 2 bad arguments (one line ``rlcv: error: ...`` before any
work).

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

import argparse
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlcv.bench import flags
from rlcv.bench.checks import (
    float_range,
    int_range,
    nonneg_float,
    nonneg_int,
    out_file,
    positive_float,
    prob,
    seed_value,
)
from rlcv.bench.flags import add_flags, flag
from rlcv.cli_args import parse_env_kwargs

if TYPE_CHECKING:  # heavy imports stay in the functions: cli.py imports this module for its parser
    import gymnasium as gym
    import numpy as np
    import torch

    from rlcv.dynamics import DynamicsModel, EnsembleDynamics
    from rlcv.estimators.base import GradientEstimator
    from rlcv.policies import GaussianPolicy
    from rlcv.rollout import RolloutBatch
    from rlcv.value import ValueFunction


EXIT_CODES = {True: 0, False: 1, None: 3}  # passed / biased / inconclusive (2: bad arguments)


def check_args(args: argparse.Namespace) -> None:
    """Bad arguments end in one ``RlcvError`` line before any work (never in a verdict). Each number's
    range is its flag's type (:mod:`rlcv.bench.checks`), refused while parsing; here: a finite ``--eta``, a
    known estimator, and an LQR env that its kwargs can build (the exact gradient exists only there)."""
    from rlcv.errors import RlcvError, did_you_mean
    from rlcv.estimators import ESTIMATORS

    if not math.isfinite(args.eta):
        raise RlcvError(f"--eta must be a finite number, got {args.eta}.")
    name = args.estimator
    if name not in ESTIMATORS:
        raise RlcvError(f"--estimator: unknown estimator '{name}'.{did_you_mean(name, list(ESTIMATORS))}")
    import gymnasium as gym

    from rlcv.env_factory import check_env_id, make_env
    from rlcv.envs.lqr import LQREnv

    check_env_id(args.env_id)
    if gym.spec(args.env_id).entry_point not in ("rlcv.envs.lqr:LQREnv", LQREnv):
        raise RlcvError(
            f"--env {args.env_id}: gradcheck needs the exact policy gradient, which only rlcv/LQR-v0 has."
        )
    make_env(args.env_id, args.env_kwargs).close()  # bad kwargs: one line now, not a traceback later


def _run(args: argparse.Namespace) -> int:
    check_args(args)  # bad arguments: one error line before any work
    return EXIT_CODES[main(args)["passed"]]


def register(sub: argparse._SubParsersAction) -> None:
    """``rlcv bench gradcheck`` and ``rlcv bench gradcheck-report``."""
    grad = sub.add_parser("gradcheck", help="unbiasedness of a gradient estimator vs the exact LQR gradient")
    add_flags(grad, GradcheckSpec)
    grad.add_argument("--json", type=out_file, metavar="OUT", help="write the full result as JSON")
    grad.set_defaults(bench_run=_run)

    report = sub.add_parser("gradcheck-report", help="rebuild DIR/table.md from gradcheck JSONs")
    report.add_argument("--dir", default="results/gradcheck")
    report.set_defaults(bench_run=_report)


def _report(args: argparse.Namespace) -> int:
    print(write_report(args.dir))
    return 0


def linear_policy(env: gym.Env, seed: int) -> GaussianPolicy:
    import gymnasium as gym
    import torch

    from rlcv.errors import RlcvError
    from rlcv.policies import GaussianPolicy

    space = getattr(env, "single_action_space", env.action_space)
    obs_space = getattr(env, "single_observation_space", env.observation_space)
    if not isinstance(space, gym.spaces.Box) or obs_space.shape is None:
        raise RlcvError(f"gradcheck needs a Box action space and a shaped observation; got {space}.")
    policy = GaussianPolicy(obs_space.shape[0], space, hidden_sizes=[], ortho_init=False)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        linear = linear_layer(policy)
        linear.weight.copy_(-0.3 * torch.randn(linear.weight.shape, generator=g))
        linear.bias.copy_(0.2 * torch.randn(linear.bias.shape, generator=g))
        policy.log_std.fill_(math.log(0.5))
    return policy


def linear_layer(policy: GaussianPolicy) -> torch.nn.Linear:
    """The one linear layer of a policy made by :func:`linear_policy` (hidden_sizes=[])."""
    import torch

    layer = policy.mean_net[0]
    assert isinstance(layer, torch.nn.Linear)
    return layer


def collect(
    env_id: str, env_kwargs: dict[str, Any], policy: GaussianPolicy, n_envs: int, seed: int
) -> RolloutBatch:
    """One batch of n_envs complete episodes (the LQR horizon is fixed, so T = H exactly)."""
    import gymnasium as gym

    from rlcv.collector import Collector
    from rlcv.normalize import ObsNormalizer, RewardScaler

    lqr: Any = gym.make(env_id, **env_kwargs).unwrapped  # an LQREnv: its horizon is fixed
    horizon = lqr.horizon
    envs = gym.make_vec(
        env_id,
        num_envs=n_envs,
        vectorization_mode="sync",
        **env_kwargs,
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
    )
    obs_dim = envs.single_observation_space.shape
    collector = Collector(
        envs,
        policy,
        obs_normalizer=ObsNormalizer(obs_dim, enabled=False),
        reward_scaler=RewardScaler(n_envs, enabled=False, gamma=1.0),
    )
    collector.reset(seed)
    batch = collector.collect(horizon)
    envs.close()
    return batch


def fit_value(batch: RolloutBatch, hidden: list[int], steps: int = 300, gamma: float = 1.0) -> ValueFunction:
    """A critic fitted to Monte-Carlo returns of an independent batch (any b(s) keeps the estimate
    unbiased)."""

    import torch

    from rlcv.rollout import compute_gae
    from rlcv.value import ValueFunction

    value_fn = ValueFunction(batch.obs.shape[-1], hidden_sizes=hidden)
    zeros = torch.zeros_like(batch.rewards)
    _, returns = compute_gae(
        batch.rewards, zeros, zeros, batch.terminated, batch.truncated, gamma=gamma, gae_lambda=1.0
    )
    obs, target = batch.obs.reshape(-1, batch.obs.shape[-1]), returns.reshape(-1)
    opt = torch.optim.Adam(value_fn.parameters(), lr=3e-3)
    for _ in range(steps):
        loss = (value_fn(obs) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return value_fn


def fit_model(
    batch: RolloutBatch, action_space: gym.spaces.Box, horizon: int, steps: int
) -> EnsembleDynamics:

    import torch

    from rlcv.dynamics import EnsembleDynamics, TransitionReplay, train_dynamics

    model = EnsembleDynamics(
        batch.obs.shape[-1],
        action_space.shape[0],
        ensemble_size=3,
        hidden_sizes=[64, 64],
        predict_termination=False,
    )
    replay = TransitionReplay(batch.n_steps * batch.n_envs)
    replay.add_batch(batch)
    train_dynamics(
        model,
        torch.optim.Adam(model.parameters(), lr=3e-3),
        replay,
        steps=steps,
        batch_size=256,
        horizon=horizon,
    )
    return model


def make_estimator(
    name: str,
    env: gym.Env,
    *,
    k: int,
    eta: float,
    cut_at_terminations: bool,
    gamma: float = 1.0,
    gae_lambda: float = 1.0,
    cv_form: str = "lambda",
    eta_mode: str = "fixed",
) -> GradientEstimator:
    """Estimator ``name`` for the check: no advantage normalisation, no trust gate, fixed or split η."""
    from rlcv.config import field_names
    from rlcv.errors import RlcvError, did_you_mean
    from rlcv.estimators import ESTIMATORS, estimator_class
    from rlcv.estimators.base import EstimatorSetup

    if name not in ESTIMATORS:
        raise RlcvError(f"unknown estimator '{name}'.{did_you_mean(name, list(ESTIMATORS))}")
    cls = estimator_class(name)
    # A model-based estimator gets its model from the check (use_model), so it builds none itself.
    given = {
        "k": k,
        "eta": eta,
        "eta_mode": eta_mode,
        "cv_form": cv_form,
        "trust_gate": False,
        "cut_at_terminations": cut_at_terminations,
    }
    given["model"] = "exact"
    names = field_names(cls.settings_cls)
    settings = cls.settings_cls(**{key: v for key, v in given.items() if key in names})
    setup = EstimatorSetup(
        observation_space=env.observation_space,
        action_space=env.action_space,
        algo=f"gradcheck --estimator {name}",
        gamma=gamma,
        gae_lambda=gae_lambda,
        normalize_advantage=False,
    )
    return cls.from_setup(settings, setup)


def surrogate_gradients(
    terms: Any,
    policy: GaussianPolicy,
    batch: RolloutBatch,
    estimates: int,
    episodes: int,
    clip_range: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per estimate m (its own ``episodes`` envs), the gradient at θ_old of the surrogate the agent
    optimises: mean ρ Â − pathwise (TRPO's), or PPO's mean min(ρ Â, clip(ρ, 1 ± ε) Â) with the
    pathwise term weighted by ρ · 1[|ρ − 1| ≤ ε] when ``clip_range`` > 0; and the pathwise term's
    part of it (zeros without one; the gradient minus it is the ``broken`` variant's).
    ([estimates, d], [estimates, d])."""
    import numpy as np
    import torch

    obs = batch.obs.reshape(-1, batch.obs.shape[-1])
    actions = batch.actions[:, :, 0].reshape(obs.shape[0], -1)
    old_log_probs = batch.log_probs[:, :, 0].reshape(-1)
    # Sample (t, n) sits at flat index t·N + n; estimate m owns envs m·E .. (m+1)·E − 1.
    env_of_sample = torch.arange(obs.shape[0]) % batch.n_envs
    linear = linear_layer(policy)
    params = [linear.weight, linear.bias, policy.log_std]
    grads = np.zeros((estimates, sum(p.numel() for p in params)))
    path = np.zeros_like(grads)
    for m in range(estimates):
        idx = torch.nonzero((env_of_sample // episodes) == m).squeeze(1)
        ratio = (policy.log_prob(obs[idx], actions[idx]) - old_log_probs[idx]).exp()
        adv = terms.advantages[idx]
        weights = None
        if clip_range > 0:
            surrogate = torch.min(ratio * adv, ratio.clamp(1 - clip_range, 1 + clip_range) * adv).mean()
            weights = ratio.detach() * ((ratio.detach() - 1).abs() <= clip_range)
        else:
            surrogate = (ratio * adv).mean()
        grads[m] = torch.cat([g.reshape(-1) for g in torch.autograd.grad(surrogate, params)]).numpy()
        if terms.pathwise_loss is not None:
            pathwise = -terms.pathwise_loss(idx, policy, weights)
            parts = torch.autograd.grad(pathwise, params, allow_unused=True)
            flat = [
                (g if g is not None else torch.zeros_like(p)).reshape(-1)
                for g, p in zip(parts, params, strict=True)
            ]
            path[m] = torch.cat(flat).numpy()
            grads[m] += path[m]
    return grads, path


@dataclass(frozen=True)
class GradcheckSpec:
    """One check's settings, each with its flag of `rlcv bench gradcheck` (module docstring). Called
    from Python, ``env_kwargs`` None is the env's defaults; the CLI's default is a 4 × 2 LQR, horizon 30."""

    env_id: str = flag("rlcv/LQR-v0", name="--env")
    env_kwargs: dict[str, Any] | None = flag(
        None, type=parse_env_kwargs, cli_default={"state_dim": 4, "action_dim": 2, "horizon": 30}
    )
    estimator: str = flag("mbmf", help="a registered estimator (rlcv.estimators.ESTIMATORS), e.g. gae")
    k: int = flag(3, type=nonneg_int, help="control-variate horizon (0 = state-value baseline)")
    estimates: int = flag(2000, type=int_range(2), help="independent gradient estimates")
    episodes: int = flag(10, type=int_range(2), help="episodes per estimate")
    model: str = flag("exact", choices=["exact", "learned"])
    variant: str = flag(
        "correct",
        choices=["correct", "broken"],
        help="broken = pathwise term dropped (biased; the test must reject it)",
    )
    eta: float = flag(1.0, type=float)  # any finite η (a declared range may not be unbounded below)
    gamma: float = flag(
        1.0, type=float_range(0.0, 1.0, low_open=True), help="discount (< 1: paired k = 0 reference)"
    )
    gae_lambda: float = flag(1.0, type=float_range(0.0, 1.0), help="GAE λ (< 1: paired k = 0 reference)")
    cv_form: str = flag("lambda", choices=["lambda", "kstep"])
    eta_mode: str = flag(
        "fixed",
        choices=["fixed", "split"],
        help="split: (η_a, η_τ) least-squares fitted on an independent batch, then frozen",
    )
    clip_range: float = flag(
        0.0,
        type=nonneg_float,
        help="> 0: PPO's clipped surrogate with the ratio-weighted, clip-masked pathwise term (θ = θ_old)",
    )
    alpha: float = flag(0.01, type=prob, help="family-wise level of the Bonferroni z-test")
    detect_bias: float | None = flag(
        None,
        type=positive_float,
        metavar="EPS",
        help="power target: a bias EPS × ∇J (default: the broken variant's; 0.1 without a pathwise term)",
    )
    cut_at_terminations: bool = flag(
        True,
        name="--no-cut-at-terminations",
        help="imagine through real episode ends (the setting for envs whose ends depend on actions)",
    )
    seed: int = flag(0, type=seed_value)
    model_steps: int = 1500

    @property
    def paired(self) -> bool:
        """γ < 1 or λ < 1: the reference is the k = 0 GAE gradient on the same batches."""
        return self.gamma < 1.0 or self.gae_lambda < 1.0

    def build(self, env: gym.Env, k: int) -> GradientEstimator:
        # LQR episodes end at a fixed horizon, independent of the actions, so cutting imagined rollouts
        # there keeps C_t a function of a alone (see rlcv.estimators.mbmf) and sharpens the CV.
        return make_estimator(
            self.estimator,
            env,
            k=k,
            eta=self.eta,
            cut_at_terminations=self.cut_at_terminations,
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
            cv_form=self.cv_form,
            eta_mode=self.eta_mode,
        )


def _dynamics(spec: GradcheckSpec, env: gym.Env, train_batch: RolloutBatch) -> DynamicsModel:
    import gymnasium as gym

    from rlcv.dynamics import ExactDynamics

    if spec.model == "exact":
        return ExactDynamics(env)
    if spec.model == "learned":
        assert isinstance(env.action_space, gym.spaces.Box)  # linear_policy checked it
        return fit_model(train_batch, env.action_space, horizon=max(1, spec.k), steps=spec.model_steps)
    raise ValueError("model must be 'exact' or 'learned'")


def _checked_estimator(
    spec: GradcheckSpec,
    env: gym.Env,
    policy: GaussianPolicy,
    value_fn: ValueFunction,
    train_batch: RolloutBatch,
) -> GradientEstimator:
    """The estimator under check, with its model (exact, or learned on the critic's data) and, with
    ``--eta-mode split``, its (η_a, η_τ) fitted on an independent batch and then frozen."""
    est = spec.build(env, spec.k)
    if hasattr(est, "use_model"):
        est.use_model(_dynamics(spec, env, train_batch))
    if spec.eta_mode == "split" and hasattr(est, "update_split_eta"):
        # The evaluation batches never shape η: it comes from a batch of its own.
        extra = collect(spec.env_id, dict(spec.env_kwargs or {}), policy, 200, spec.seed + 3)
        est.prepare(extra, policy=policy, value_fn=value_fn)
        est.learn_from_batch()  # the fit becomes the η of the next batch
        est.update_split_eta = False
    return est


def _exact_gradient(env: gym.Env, policy: GaussianPolicy, gamma: float) -> np.ndarray:
    """∇J of the linear policy as one vector (K, k0, log σ), from the LQR's closed form."""
    import torch

    from rlcv.envs.lqr import exact_policy_gradient

    linear = linear_layer(policy)
    exact = exact_policy_gradient(
        env, linear.weight.detach(), linear.bias.detach(), policy.log_std.detach(), gamma=gamma
    )
    return torch.cat([exact["K"].reshape(-1), exact["k0"].reshape(-1), exact["log_std"].reshape(-1)]).numpy()


def _settings_record(spec: GradcheckSpec, est: GradientEstimator) -> dict[str, Any]:
    """The result's first keys: what was checked, and how."""
    return {
        "env": spec.env_id,
        "env_kwargs": dict(spec.env_kwargs or {}),
        "estimator": spec.estimator,
        "k": getattr(est, "k", spec.k),
        "model": spec.model,
        "variant": spec.variant,
        "eta": spec.eta,
        "eta_mode": spec.eta_mode,
        "split_eta": list(getattr(est, "split_eta", ())) if spec.eta_mode == "split" else None,
        "gamma": spec.gamma,
        "gae_lambda": spec.gae_lambda,
        "cv_form": spec.cv_form,
        "clip_range": spec.clip_range,
        "reference": "paired k = 0 GAE gradient" if spec.paired else "exact gradient",
        "cut_at_terminations": spec.cut_at_terminations,
        "estimates": spec.estimates,
        "episodes_per_estimate": spec.episodes,
        "alpha": spec.alpha,
    }


def _test_record(
    spec: GradcheckSpec, scaled: np.ndarray, base: np.ndarray | None, exact_vec: np.ndarray, path: np.ndarray
) -> dict[str, Any]:
    """The bias tests of per-episode gradients ``scaled`` (against ∇J, or paired against the k = 0
    gradients ``base``), with their power against the pathwise term's bias ``path`` (or ε·reference)."""
    import numpy as np

    from rlcv.bench.variance_stats import bias_tests, power_check, power_target

    if base is not None:
        samples, truth, reference = scaled - base, np.zeros_like(exact_vec), base.mean(0)
        tests = bias_tests(samples, truth, alpha=spec.alpha, direction=exact_vec)
    else:
        samples, truth, reference = scaled, exact_vec, exact_vec
        tests = bias_tests(samples, truth, alpha=spec.alpha)
    mean, se = samples.mean(0), samples.std(0, ddof=1) / math.sqrt(spec.estimates)
    z = (mean - truth) / se
    threshold = statistics.NormalDist().inv_cdf(1 - spec.alpha / (2 * len(truth)))
    max_abs_z = float(np.abs(z).max())
    target_bias, target_se, target = power_target(path, reference, spec.detect_bias)
    power = power_check(
        rejected=max_abs_z >= threshold,
        se=se,
        z_threshold=threshold,
        target_bias=target_bias,
        reference=reference,
        target_se=target_se,
        target=target,
    )
    return {
        "z_threshold": threshold,
        "max_abs_z": max_abs_z,
        "z": z.tolist(),
        "rel_error": float(np.linalg.norm(mean - truth) / np.linalg.norm(reference)),
        **power,  # passed (true / false / null), verdict, min_detectable_bias*, target_bias*
        "chi2": tests.chi2_stat,
        "chi2_df": tests.chi2_df,
        "chi2_scale": tests.chi2_scale,
        "chi2_p": tests.chi2_p,
        "passed_chi2": not tests.rejected["chi2"],
        "proj_z": tests.proj_z,
        "proj_p": tests.proj_p,
        "passed_projection": not tests.rejected["projection"],
    }


def run_gradcheck(**settings: Any) -> dict[str, Any]:
    """The check of ``GradcheckSpec(**settings)`` (module docstring), as one JSON-ready dict."""
    import gymnasium as gym
    import torch

    spec = GradcheckSpec(**settings)
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
    exact_vec = _exact_gradient(env, policy, spec.gamma)
    scaled = grads * horizon  # per-sample mean -> per-episode sum
    base = None
    if spec.paired:
        base_terms = spec.build(env, 0).prepare(batch, policy=policy, value_fn=value_fn)
        base = surrogate_gradients(base_terms, policy, batch, spec.estimates, spec.episodes, 0.0)[0] * horizon
    reference = exact_vec if base is None else base.mean(0)
    cov_trace = float(scaled.var(0, ddof=1).sum())
    out = {
        **_settings_record(spec, est),
        **_test_record(spec, scaled, base, exact_vec, path * horizon),
        "trace_cov": cov_trace,
        "rel_trace_cov": cov_trace / float(reference @ reference),
        "exact_gradient": exact_vec.tolist(),
        "mean_estimate": scaled.mean(0).tolist(),
    }
    if base is not None:
        out["trace_cov_k0"] = float(base.var(0, ddof=1).sum())
        out["trace_ratio_vs_k0"] = cov_trace / out["trace_cov_k0"]
    return out


# The summary line's keys (printed last, as JSON, after the verdict line).
SUMMARY_KEYS = (
    "k",
    "model",
    "variant",
    "max_abs_z",
    "z_threshold",
    "rel_error",
    "rel_trace_cov",
    "passed",
    "verdict",
    "min_detectable_bias_abs",
    "min_detectable_bias_rel",
    "power_target",
    "target_bias_abs",
    "target_bias_rel",
    "chi2_p",
    "passed_chi2",
    "proj_z",
    "passed_projection",
)


def spec_of(args: argparse.Namespace) -> GradcheckSpec:
    """The check the parsed flags ask for."""
    return flags.spec_of(GradcheckSpec, args)


def main(args: Any) -> dict[str, Any]:
    result = run_gradcheck(**vars(spec_of(args)))
    text = json.dumps(result, indent=2)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
    print(verdict_line(result))  # the last line stays the JSON summary
    print(json.dumps({k: result[k] for k in SUMMARY_KEYS}))
    return result


def verdict_line(result: dict[str, Any]) -> str:
    """One human line: the verdict, the smallest detectable bias and the target's size (relative)."""
    return (
        f"verdict: {result['verdict']} (max |z| {result['max_abs_z']:.2f} vs {result['z_threshold']:.2f}); "
        f"target: {result['power_target']}, {result['target_bias_rel']:.3g} × ‖reference‖; "
        f"min detectable bias along it {result['min_detectable_bias_rel']:.3g} × ‖reference‖ "
        f"(any direction {result['min_detectable_bias_any_direction_rel']:.3g})"
    )


def _verdict_cell(r: dict[str, Any]) -> str:
    """Verdict with the smallest detectable bias along the target and the target's size (– for results
    written before the power check)."""
    if "verdict" not in r:
        return "–"
    return f"{r['verdict']} ({r['min_detectable_bias_rel']:.2g} / {r['target_bias_rel']:.2g})"


GRADCHECK_COLUMNS = (
    "k", "model", "variant", "γ / λ", "CV form", "η", "PPO clip", "reference", "cut at terminations",
    "estimates × episodes", "max abs z", "threshold", "rel error", "rel tr Cov", "passed", "χ² p",
    "passed χ²", "proj. z", "passed proj.", "verdict (min. detectable / target, × ‖ref‖)",
)  # fmt: skip
GRADCHECK_ALIGN = "rlllllrlllrrrrlrlrll"


def _sort_key(r: dict[str, Any]) -> tuple[Any, ...]:
    """Unpaired checks first, then by variant, model, k and the settings that change the estimator."""
    paired = r.get("gamma", 1.0) < 1 or r.get("gae_lambda", 1.0) < 1
    settings = (r.get("cut_at_terminations", True), r.get("eta_mode", "fixed"), r.get("clip_range", 0.0))
    return (paired, r["variant"], r["model"], r["k"], *settings)


def _table_row(r: dict[str, Any]) -> list[str]:
    eta = r.get("eta_mode", "fixed")
    if eta == "split" and r.get("split_eta"):
        eta = f"split ({r['split_eta'][0]:.2f}, {r['split_eta'][1]:.2f})"
    return [
        str(r["k"]), r["model"], r["variant"], f"{r.get('gamma', 1.0)} / {r.get('gae_lambda', 1.0)}",
        r.get("cv_form", "kstep"), eta, str(r.get("clip_range", 0.0) or "–"),
        r.get("reference", "exact gradient"), str(r.get("cut_at_terminations", True)),
        f"{r['estimates']} × {r['episodes_per_estimate']}", f"{r['max_abs_z']:.2f}",
        f"{r['z_threshold']:.2f}", f"{r['rel_error']:.3f}", f"{r['rel_trace_cov']:.2f}",
        str(r["passed"]), f"{r.get('chi2_p', math.nan):.2g}", str(r.get("passed_chi2", "–")),
        f"{r.get('proj_z', math.nan):.1f}", str(r.get("passed_projection", "–")), _verdict_cell(r),
    ]  # fmt: skip


def write_report(directory: str | Path) -> Path:
    """Rebuild ``DIR/table.md`` from every gradcheck JSON in ``DIR``."""
    from rlcv.bench.report import md_table, regenerate_block

    results = sorted((json.loads(p.read_text()) for p in Path(directory).glob("*.json")), key=_sort_key)
    lines = [
        "# Unbiasedness checks against the exact LQR gradient (`rlcv bench gradcheck`)",
        "",
        *regenerate_block(f"rlcv bench gradcheck-report --dir {Path(directory).as_posix()}"),
        "One row per result JSON in this folder; the JSON holds the command's settings.",
        "",
        *md_table(GRADCHECK_COLUMNS, [_table_row(r) for r in results], GRADCHECK_ALIGN),
    ]
    out = Path(directory) / "table.md"
    out.write_text("\n".join(lines) + "\n")
    return out
