"""`rlcv bench variance`: how much does the control variate reduce gradient variance, at what bias?

For one checkpoint of a training run (policy, critic and normaliser statistics frozen):

1. fit a dynamics ensemble on ``--fit-steps`` fresh transitions of the frozen policy — data
   disjoint from every batch below (the critic is the checkpoint's, trained on earlier data);
2. draw ``--batches`` M independent evaluation batches of ``--batch-size`` B steps; *every*
   estimator (each k, each η mode) is applied to the *same* batches (common random numbers);
3. draw ``--ref-batches`` R more batches for a reference gradient (R·B ≥ 100·B samples) from the
   k = 0 estimator without advantage normalisation — an unbiased estimate of the true gradient.

Per estimator, over the M batches:

- the *consumed* gradient: the gradient of PPO's policy loss at θ_old (ratio 1) with the
  estimator's advantage normalisation — both terms share the scale — then global grad-norm
  clipping to ``max_grad_norm`` as the optimiser applies it;
- ``rel_trace_cov`` = tr Cov(ĝ) / ‖ḡ‖²  (scale free, so normalisation does not flatter anyone);
  ``var_ratio_vs_k0`` = that ratio relative to k = 0 (< 1 is better) — computed before clipping,
  with ``rel_trace_cov_clipped`` alongside;
- ``cos_to_reference`` = mean cosine between ĝ and the reference gradient;
- ``max_abs_bias_z`` = max over coordinates of |ḡ_raw − g_ref| / se, using the *unnormalised*
  gradient (normalisation rescales each estimator differently, so only raw means are comparable),
  with its Bonferroni threshold at level 0.01.

``--estimator`` (default ``mbmf``) names a registered estimator; the k / η sweep applies to the
settings it has (an estimator without ``k`` gives one row), and a model-based estimator (one with
``use_model``) gets the model of step 1.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rlcv.errors import RlcvError

if TYPE_CHECKING:  # heavy imports stay in the functions: cli.py imports this module for its parser
    import torch

    from rlcv.dynamics import EnsembleDynamics
    from rlcv.estimators.base import GradientEstimator
    from rlcv.loop import Trainer
    from rlcv.rollout import RolloutBatch


def register(sub: argparse._SubParsersAction) -> None:
    """``rlcv bench variance`` and ``rlcv bench variance-report``."""
    var = sub.add_parser(
        "variance", help="gradient variance of an estimator (default MBMF) vs k at a checkpoint"
    )
    var.add_argument("--run", required=True, help="run directory whose checkpoint is analysed")
    var.add_argument(
        "--checkpoint", default="last.pt", help="file in RUN/checkpoints (e.g. step_000100352.pt)"
    )
    var.add_argument(
        "--estimator", default="mbmf", help="a registered estimator (rlcv.estimators.ESTIMATORS)"
    )
    var.add_argument("--k", type=int, nargs="+", default=[0, 1, 3, 5, 10])
    var.add_argument(
        "--batches", type=int, default=100, help="independent evaluation batches (common to all k)"
    )
    var.add_argument("--batch-size", type=int, default=2048, help="env steps per batch")
    var.add_argument("--ref-batches", type=int, default=100, help="batches for the reference gradient")
    var.add_argument("--fit-steps", type=int, default=30000, help="fresh env steps to fit the model on")
    var.add_argument("--model-steps", type=int, default=3000, help="model gradient steps")
    var.add_argument("--model-horizon", type=int, default=3, help="unroll length of the model loss")
    var.add_argument("--eta-modes", nargs="+", default=["fixed", "fitted"])
    var.add_argument("--seed", type=int, default=0)
    var.add_argument("--json", required=True, metavar="OUT", help="JSON output (a PNG is written beside it)")
    var.set_defaults(bench_run=_run)

    report = sub.add_parser("variance-report", help="rebuild DIR/table.md from variance result JSONs")
    report.add_argument("--dir", default="results/variance")
    report.set_defaults(bench_run=_report)


def _run(args: argparse.Namespace) -> int:
    args.command_line = shlex.join(["rlcv", *sys.argv[1:]])
    main(args)
    return 0


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


def policy_gradients(
    estimator: GradientEstimator, batch: RolloutBatch, session: Trainer
) -> tuple[np.ndarray, ...]:
    """(consumed, raw, consumed score part, consumed pathwise part): −∇ of PPO's policy loss at θ_old
    with and without advantage normalisation, and the consumed gradient split into its two terms.

    One ``prepare`` serves both. With residual advantages r (mean m, std σ) and pathwise gradient P:
    raw = ∇ mean ρ r + P;  consumed = (∇ mean ρ r − m ∇ mean ρ) / σ + P / σ  — normalisation divides
    both terms by the same σ, exactly as the estimator does when ``normalize_advantage`` is on.
    """
    import torch

    policy = session.agent.policy
    params = list(policy.parameters())
    terms = estimator.prepare(batch, policy=policy, value_fn=session.agent.value_fn)
    obs = batch.obs.reshape(-1, batch.obs.shape[-1])
    actions = batch.actions[:, :, 0].reshape(obs.shape[0], -1)
    ratio = (policy.log_prob(obs, actions) - batch.log_probs[:, :, 0].reshape(-1)).exp()
    res = terms.advantages
    g_score = _flat_grad((ratio * res).mean(), params, retain=True)
    g_ratio = _flat_grad(ratio.mean(), params)
    g_path = (
        _flat_grad(-terms.pathwise_loss(torch.arange(obs.shape[0]), policy), params)
        if terms.pathwise_loss is not None
        else np.zeros_like(g_score)
    )
    sigma = res.std().item() + 1e-8
    score = (g_score - res.mean().item() * g_ratio) / sigma
    return score + g_path / sigma, g_score + g_path, score, g_path / sigma


def clip(g: np.ndarray, max_norm: float) -> np.ndarray:
    norm = float(np.linalg.norm(g))
    return g * (max_norm / norm) if norm > max_norm else g


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


def collect_batches(session: Trainer, count: int, steps: int) -> list[RolloutBatch]:
    return [session.collector.collect(steps) for _ in range(count)]


def summarise(
    consumed: np.ndarray, clipped: np.ndarray, raw: np.ndarray, reference: np.ndarray, ref_se2: np.ndarray
) -> dict[str, float]:
    mean, mean_c = consumed.mean(0), clipped.mean(0)
    trace = float(consumed.var(0, ddof=1).sum())
    cos = (consumed @ reference) / (np.linalg.norm(consumed, axis=1) * np.linalg.norm(reference) + 1e-30)
    bias_z = np.abs(raw.mean(0) - reference) / np.sqrt(raw.var(0, ddof=1) / len(raw) + ref_se2 + 1e-30)
    return {
        "rel_trace_cov": trace / float(mean @ mean),
        "rel_trace_cov_clipped": float(clipped.var(0, ddof=1).sum()) / float(mean_c @ mean_c),
        "cos_to_reference": float(cos.mean()),
        "max_abs_bias_z": float(bias_z.max()),
    }


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


def make_estimator(name: str, session: Trainer, model: Any, k: int, eta_mode: str) -> GradientEstimator:
    """Estimator ``name`` with the run's γ and λ, no advantage normalisation, η = 1 and ``k`` / ``eta_mode``
    where its settings have them; bound to the run's (frozen) normalisers."""
    from rlcv.config import field_names
    from rlcv.env_hooks import BindContext
    from rlcv.errors import did_you_mean
    from rlcv.estimators import ESTIMATORS, estimator_class
    from rlcv.estimators.base import EstimatorSetup

    if name not in ESTIMATORS:
        raise RlcvError(f"unknown estimator '{name}'.{did_you_mean(name, list(ESTIMATORS))}")
    cls = estimator_class(name)
    cfg = session.config
    # model "exact": a model-based estimator builds no model of its own; it gets ``model`` instead.
    given = {"k": k, "eta": 1.0, "eta_mode": eta_mode, "model": "exact"}
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


def run_variance(
    *,
    estimator: str = "mbmf",
    run_dir: str,
    checkpoint_name: str = "last.pt",
    ks: list[int],
    batches: int,
    batch_size: int,
    ref_batches: int,
    fit_steps: int,
    model_steps: int,
    model_horizon: int,
    eta_modes: list[str],
    seed: int = 0,
) -> dict[str, Any]:
    import gymnasium as gym
    import torch

    from rlcv.config import field_names
    from rlcv.dynamics import EnsembleDynamics, TransitionReplay, train_dynamics
    from rlcv.estimators import ESTIMATORS, settings_class
    from rlcv.estimators.mbmf import MBMFSettings

    if estimator in ESTIMATORS and "k" not in field_names(settings_class(estimator)):
        ks, eta_modes = [0], eta_modes[:1]  # nothing to sweep: one row
    torch.manual_seed(seed)
    start = time.perf_counter()
    meta, session = load_session(Path(run_dir), checkpoint_name, seed)
    cfg = session.config
    space = session.envs.single_action_space
    if not isinstance(space, gym.spaces.Box):
        raise RlcvError(f"the variance harness needs a continuous action space, got {space}.")
    steps = max(1, batch_size // cfg.n_envs)
    # The model of the MBMF preset (the run's own settings when it is an MBMF run).
    run_settings = getattr(cfg, "estimator_settings", None)
    if not isinstance(run_settings, MBMFSettings):
        run_settings = MBMFSettings()
    cfg_model = {f: getattr(run_settings, f) for f in ("model_ensemble_size", "model_hidden_sizes")}
    obs_dim, act_dim = session.envs.single_observation_space.shape[0], space.shape[0]

    # 1. the model, on data no evaluation batch contains
    model = EnsembleDynamics(
        obs_dim,
        act_dim,
        ensemble_size=cfg_model["model_ensemble_size"],
        hidden_sizes=cfg_model["model_hidden_sizes"],
        action_low=space.low,
        action_high=space.high,
    )
    replay = TransitionReplay(fit_steps)
    for b in collect_batches(session, max(1, fit_steps // (steps * cfg.n_envs)), steps):
        replay.add(b.raw_obs, b.actions[:, :, 0], b.raw_next_obs, b.raw_rewards, b.terminated, b.truncated)
    model_loss = train_dynamics(
        model,
        torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5),
        replay,
        steps=model_steps,
        batch_size=256,
        horizon=model_horizon,
    )

    def make(k: int, eta_mode: str) -> GradientEstimator:
        return make_estimator(estimator, session, model, k, eta_mode)

    # 2. evaluation batches shared by every estimator; 3. independent reference batches
    eval_batches = collect_batches(session, batches, steps)
    ref_est = make(0, "fixed")
    ref_grads = np.array(
        [policy_gradients(ref_est, b, session)[1] for b in collect_batches(session, ref_batches, steps)]
    )
    reference, ref_se2 = ref_grads.mean(0), ref_grads.var(0, ddof=1) / len(ref_grads)
    max_norm = getattr(cfg, "max_grad_norm", math.inf)

    rows = []
    for eta_mode in eta_modes:
        for k in ks:
            if k == 0 and eta_mode != eta_modes[0]:
                continue  # k = 0 has no control variate, so η changes nothing
            est = make(k, eta_mode)
            consumed, raw, score, path = (
                np.array(g)
                for g in zip(*(policy_gradients(est, b, session) for b in eval_batches), strict=True)
            )
            clipped = np.array([clip(g, max_norm) for g in consumed])
            # Diagnosis: which term carries the variance (score residual vs pathwise correction).
            trace = float(consumed.var(0, ddof=1).sum())
            rows.append(
                {
                    "k": k,
                    "eta_mode": "none" if k == 0 else eta_mode,
                    **summarise(consumed, clipped, raw, reference, ref_se2),
                    "score_trace_share": float(score.var(0, ddof=1).sum()) / trace,
                    "pathwise_trace_share": float(path.var(0, ddof=1).sum()) / trace,
                }
            )
    base = next(r for r in rows if r["k"] == 0)
    for r in rows:
        r["var_ratio_vs_k0"] = r["rel_trace_cov"] / base["rel_trace_cov"]
    n_params = reference.shape[0]
    session.envs.close()
    return {
        "run": str(run_dir),
        "estimator": estimator,
        "algo": meta["algo"],
        "env": meta["env"],
        "checkpoint": checkpoint_name,
        "step": session.step,
        "batches": batches,
        "batch_size": steps * cfg.n_envs,
        "ref_batches": ref_batches,
        "fit_steps": fit_steps,
        "model_steps": model_steps,
        "model_horizon": model_horizon,
        "model_train_loss": model_loss,
        **model_errors(model, eval_batches, max(ks)),
        "bias_z_threshold": statistics.NormalDist().inv_cdf(1 - 0.01 / (2 * n_params)),
        "n_params": n_params,
        "seconds": time.perf_counter() - start,
        "rows": rows,
    }


def plot(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    base = next(r for r in result["rows"] if r["k"] == 0)
    for mode in sorted({r["eta_mode"] for r in result["rows"]} - {"none"}):
        rows = [base] + sorted((r for r in result["rows"] if r["eta_mode"] == mode), key=lambda r: r["k"])
        ks = [r["k"] for r in rows]
        axes[0].plot(ks, [r["var_ratio_vs_k0"] for r in rows], "o-", label=f"η {mode}")
        axes[1].plot(ks, [r["cos_to_reference"] for r in rows], "o-", label=f"η {mode}")
    axes[0].axhline(1 / 3, color="grey", ls="--", lw=0.8, label="target 1/3")
    axes[0].set(xlabel="k", ylabel="rel. gradient variance / k=0", yscale="log")
    axes[1].set(xlabel="k", ylabel="mean cosine to reference")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{result['env']} @ {result['step']} steps ({result['algo']} checkpoint)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def render_markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        (
            "| env | step | k | η | rel_trace_cov | var_ratio_vs_k0 | clipped rel_trace_cov "
            "| cos_to_reference | max_abs_bias_z (thr.) | var share score / pathwise |"
        ),
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for res in results:
        for r in res["rows"]:
            lines.append(
                f"| {res['env']} | {res['step']} | {r['k']} | {r['eta_mode']} | {r['rel_trace_cov']:.3g} | "
                f"{r['var_ratio_vs_k0']:.3f} | {r['rel_trace_cov_clipped']:.3g} | "
                f"{r['cos_to_reference']:.3f} | {r['max_abs_bias_z']:.2f} ({res['bias_z_threshold']:.2f}) | "
                f"{r['score_trace_share']:.2f} / {r['pathwise_trace_share']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def main(args: Any) -> dict[str, Any]:
    result = run_variance(
        estimator=getattr(args, "estimator", "mbmf"),
        run_dir=args.run,
        checkpoint_name=args.checkpoint,
        ks=args.k,
        batches=args.batches,
        batch_size=args.batch_size,
        ref_batches=args.ref_batches,
        fit_steps=args.fit_steps,
        model_steps=args.model_steps,
        model_horizon=args.model_horizon,
        eta_modes=args.eta_modes,
        seed=args.seed,
    )
    result["command"] = args.command_line
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    plot(result, out.with_suffix(".png"))
    print(render_markdown([result]))
    return result


def write_report(directory: str | Path) -> Path:
    """Rebuild ``DIR/table.md`` from every result JSON in ``DIR`` (commands included)."""
    directory = Path(directory)
    results = sorted(
        (json.loads(p.read_text()) for p in directory.glob("*.json")), key=lambda r: (r["env"], r["step"])
    )
    if not results:
        raise RlcvError(
            f"no variance results (*.json) in '{directory}'; run `rlcv bench variance ... --json` first."
        )
    lines = [
        "# Gradient variance of the MBMF estimator (generated by `rlcv bench variance-report`)",
        "",
        render_markdown(results),
        "Per checkpoint: model error (normalised MSE, held out), batches, time.",
        "",
        "| env | step | model 1-step | model k_max-step | batches × size | ref batches | params | seconds |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in results:
        kerr = next(
            v for key, v in r.items() if key.startswith("model_error_") and key != "model_error_1step"
        )
        lines.append(
            f"| {r['env']} | {r['step']} | {r['model_error_1step']:.3f} | {kerr:.3f} | "
            f"{r['batches']} × {r['batch_size']} | {r['ref_batches']} | {r['n_params']} | "
            f"{r['seconds']:.0f} |"
        )
    lines += ["", "Commands:", ""] + [f"    {r.get('command', '')}" for r in results] + [""]
    out = directory / "table.md"
    out.write_text("\n".join(lines))
    return out
