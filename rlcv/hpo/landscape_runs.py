"""One measured SGD path each, for `rlcv bench walk` and `rlcv bench sharpness`: the landscape
measurements of a run, with their settings as keywords (the benches' per-run JSON summaries are
these functions' returns).

- :func:`walk_run` ("A Walk with SGD", Xing et al., arXiv 1802.08770): every ``measure_every``-th step
  interpolated (:func:`rlcv.hpo.landscape.interpolate_step`), λ_max by Lanczos along the run;
- :func:`landscape_overhead`: CPU time of ``rlcv/OnlineHPO-v0`` episodes with and without its
  landscape observations;
- :func:`sharp_run` ("Three Factors Influencing Minima in SGD", Jastrzębski et al., arXiv 1711.04623):
  λ_max, losses and accuracies after a fixed budget and at a matched training loss;
- :func:`schedule_run`: ``hpo-schedule`` (lr decay vs batch growth) through the agent loop, with
  :func:`equal_examples_schedule` for batch growth at lr decay's examples.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlcv.hpo import landscape as ls
from rlcv.hpo.sgd_paths import InnerRun


def walk_run(
    *,
    task: str,
    hidden: int,
    n_train: int,
    steps: int,
    lr: float,
    batch: int,
    seed: int,
    noise: str,
    interpolate: bool,
    measure_every: int,
    lambda_every: int,
    lanczos_iterations: int,
) -> dict[str, Any]:
    """``steps`` steps of one run; every ``measure_every``-th step interpolated (when ``interpolate``),
    λ_max (and the training loss) every ``lambda_every`` steps."""
    setting: dict[str, Any] = {"lr": lr, "batch_size": batch, "seed": seed, "noise": noise}
    r = InnerRun(task=task, model="mlp", hidden=hidden, n_train=n_train, **setting)
    f = r.loss_fn("train")
    measured: dict[str, list[Any]] = {"alpha_star": [], "inside": [], "convex": [], "height": []}
    shapes: dict[str, list[float]] = {}
    lam: list[list[float]] = []
    curve: list[list[float]] = []
    diverged = False
    start = time.perf_counter()
    shape_steps = {1, steps // 2, steps - 1}
    for t in range(steps):
        if t % lambda_every == 0:
            ext = ls.hessian_extremes(f, r.theta, iterations=lanczos_iterations, seed=seed)
            lam.append([t, ext.lambda_max, ext.lambda_min])
            curve.append([t, float(f(r.theta.detach()))])
        before, after = r.step()
        if not bool(torch.isfinite(after).all()):
            diverged = True
            break
        if interpolate and (t % measure_every == 0 or t in shape_steps):
            res = ls.interpolate_step(f, before, after - before)
            if not all(math.isfinite(v) for v in res.losses):
                diverged = True
                break
            if t % measure_every == 0:
                for key in measured:
                    measured[key].append(getattr(res, key))
            if t in shape_steps:
                shapes[str(t)] = list(res.losses)
    out: dict[str, Any] = dict(setting)
    out.update(_final_record(r, diverged))
    out.update({"lambda": lam, "loss_curve": curve, "wall_s": time.perf_counter() - start})
    if interpolate:
        out.update(_interpolation_record(measured, shapes))
    return out


def _final_record(r: InnerRun, diverged: bool) -> dict[str, Any]:
    """A finished run's size, losses and accuracies (diverged also when its final loss is not finite)."""
    train_loss, train_acc = r.evaluate("train")
    test_loss, test_acc = r.evaluate("test")
    diverged = diverged or not math.isfinite(train_loss) or train_loss > 1e3
    return {
        "steps": r.steps,
        "epochs": r.epochs,
        "diverged": diverged,
        "dist_init": float((r.theta - r.theta0).norm()) if not diverged else math.nan,
        "train_loss": train_loss,
        "train_accuracy": train_acc,
        "test_accuracy": test_acc,
        "test_loss": test_loss,
    }


def _interpolation_record(measured: dict[str, list[Any]], shapes: dict[str, list[float]]) -> dict[str, Any]:
    """What a run's interpolated steps add to its record."""
    alpha_star, inside, convex, heights = (measured[k] for k in ("alpha_star", "inside", "convex", "height"))
    return dict(
        measured_steps=len(inside),
        inside_fraction=float(np.mean(inside)) if inside else math.nan,
        convex_fraction=float(np.mean(convex)) if convex else math.nan,
        alpha_star_hist={f"{a:g}": int(np.sum(np.isclose(alpha_star, a))) for a in ls.DEFAULT_ALPHAS},
        height_mean=float(np.mean(heights)) if heights else math.nan,
        height_median=float(np.median(heights)) if heights else math.nan,
        shapes=shapes,
    )


def landscape_overhead(repeats: int) -> list[dict[str, Any]]:
    """CPU seconds of whole OnlineHPO-v0 episodes (zero action) with and without the landscape fields,
    alternated, per inner problem and observation cadence: medians and every repeat's ratio − 1."""
    from rlcv.envs.online_hpo import OnlineHPOEnv

    def episode(**kw: Any) -> float:
        env = OnlineHPOEnv(**kw)
        env.reset(seed=0)
        start = time.process_time()
        while True:
            *_, terminated, _, _ = env.step(np.zeros(3, np.float32))
            if terminated:
                return time.process_time() - start

    rows = []
    settings = {
        "digits mlp": {},
        "mnist1d mlp": {"task": "mnist1d"},
        "mnist1d cnn": {"task": "mnist1d", "model": "cnn"},
    }
    for label, base_kw in settings.items():
        for every in (2, 1):  # the default cadence, then every env step
            episode(**base_kw, landscape=True, landscape_every=every)  # warm-up (first-call set-up)
            ratios, base_s = [], []
            for _ in range(repeats):
                b = episode(**base_kw)
                ratios.append(episode(**base_kw, landscape=True, landscape_every=every) / b - 1.0)
                base_s.append(b)
            rows.append(
                {
                    "setting": label,
                    "landscape_every": every,
                    "base_cpu_s": statistics.median(base_s),
                    "overhead_median": statistics.median(ratios),
                    "overhead_all": ratios,
                }
            )
    return rows


def _snapshot(r: InnerRun, probe: Any, lanczos_iterations: int, seed: int) -> dict[str, Any]:
    """λ_max / λ_min on the probe, losses and accuracies, and the distance from init of run ``r`` now."""
    ext = ls.hessian_extremes(probe, r.theta, iterations=lanczos_iterations, seed=seed)
    train_loss, train_acc = r.evaluate("train")
    test_loss, test_acc = r.evaluate("test")
    return {
        "epochs": r.epochs,
        "steps": r.steps,
        "lambda_max": ext.lambda_max,
        "lambda_min": ext.lambda_min,
        "train_loss": train_loss,
        "train_accuracy": train_acc,
        "test_loss": test_loss,
        "test_accuracy": test_acc,
        "dist_init": float((r.theta - r.theta0).norm()),
    }


def sharp_run(
    *,
    task: str,
    model: str,
    hidden: int,
    lr: float,
    batch: int,
    seed: int,
    target_loss: float,
    fixed_epochs: float,
    max_epochs: float,
    check_epochs: float,
    probe: int,
    lanczos_iterations: int,
) -> dict[str, Any]:
    """Train until both the fixed budget (``fixed_epochs``) and the matched loss (the full-batch training
    loss first ≤ ``target_loss``) are measured, or ``max_epochs``; λ_max on the first ``probe`` examples."""
    r = InnerRun(task=task, model=model, lr=lr, batch_size=batch, seed=seed, hidden=hidden)
    per_epoch = len(r.y) / min(batch, len(r.y))
    fixed_steps = math.ceil(fixed_epochs * per_epoch)
    max_steps = max(fixed_steps, math.ceil(max_epochs * per_epoch))
    probe_loss = r.loss_fn("train", n=probe)
    start = time.perf_counter()
    snaps: dict[str, Any] = {}
    curve: list[list[float]] = []
    diverged = False
    # The full-batch loss is checked every check_epochs, or every 2 % of the epochs so far when that is
    # longer: slow runs (hundreds of epochs) are not dominated by the checks, and the matched point
    # is still found within 2 % of its epoch count.
    next_check = check_epochs
    while r.steps < max_steps and not ("fixed" in snaps and "matched" in snaps):
        _, after = r.step()
        if not bool(np.isfinite(after.numpy()).all()):
            diverged = True
            break
        if r.steps == fixed_steps:
            snaps["fixed"] = _snapshot(r, probe_loss, lanczos_iterations, seed)
        if r.epochs >= next_check - 1e-9 and "matched" not in snaps:
            next_check = max(next_check + check_epochs, 1.02 * r.epochs)
            loss = r.evaluate("train")[0]
            curve.append([r.epochs, loss])
            if not math.isfinite(loss) or loss > 1e3:
                diverged = True
                break
            if loss <= target_loss:
                snaps["matched"] = _snapshot(r, probe_loss, lanczos_iterations, seed)
    setting = {"lr": lr, "batch_size": batch, "ratio": lr / batch, "seed": seed, "task": task}
    return {
        **setting,
        "target_loss": target_loss,
        "diverged": diverged,
        "reached": "matched" in snaps,
        **snaps,
        "loss_curve": curve,
        "wall_s": time.perf_counter() - start,
    }


SCHEDULE_MILESTONES = (0.5, 0.75)  # hpo-schedule's defaults: η/S halves at 50 % and 75 %
SCHEDULE_MODES = ("lr_decay", "batch_growth", "batch_growth_equal_examples")


def equal_examples_schedule(
    steps: int, milestones: tuple[float, ...], factor: float
) -> tuple[int, list[float]]:
    """Budget and milestones of a batch-growth run that processes the *same examples* as an lr-decay run
    of ``steps`` steps: phase i (between milestones) keeps lr decay's examples with S·factor^i, so it
    takes 1/factor^i of lr decay's steps (the paper's comparison, at equal epochs)."""
    edges = [0.0, *milestones, 1.0]
    phase_steps = [
        (b - a) * steps / factor**i for i, (a, b) in enumerate(zip(edges, edges[1:], strict=False))
    ]
    total = sum(phase_steps)
    return round(total), [sum(phase_steps[: i + 1]) / total for i in range(len(milestones))]


def _schedule_env_kwargs(
    s: dict[str, Any], budget: int, steps_per_action: int, env_steps: int, log: Path
) -> dict[str, Any]:
    """``rlcv/OnlineHPO-v0``'s kwargs for one schedule run: the sweeps' model, no L2, λ_max at the end."""
    return {
        "task": s["task"],
        "model": s["model"],
        "hidden_size": s["hidden"],
        "budget": budget,
        "steps_per_action": steps_per_action,
        "lr_init": s["schedule_lr"],
        "batch_size_init": s["schedule_batch"],
        "batch_size_range": [1, 4096],
        "weight_decay_init": 1e-6,
        "weight_decay_range": [1e-6, 1e-6],  # (nearly) no L2, as in the sweeps
        "landscape": True,
        "landscape_every": env_steps + 1,  # one measurement at the start; λ_max_final at the end
        "probe_size": s["probe"],
        "lanczos_iterations": s["lanczos_iterations"],
        "episode_log": str(log),
    }


def schedule_run(*, mode: str, seed: int, schedule_steps: int, **setting: Any) -> dict[str, Any]:
    """``hpo-schedule`` through the agent loop (one episode = one inner run); the env's episode record.
    ``setting``: task, model, hidden, schedule_lr, schedule_batch, probe, lanczos_iterations.

    ``lr_decay`` and ``batch_growth`` run ``schedule_steps`` SGD steps (the env's budget unit);
    ``batch_growth_equal_examples`` runs fewer steps, as many examples as ``lr_decay``."""
    from rlcv.hpo.runners import read_log, timed_train

    budget, milestones = schedule_steps, list(SCHEDULE_MILESTONES)
    agent_mode = mode
    if mode == "batch_growth_equal_examples":
        budget, milestones = equal_examples_schedule(schedule_steps, SCHEDULE_MILESTONES, 2.0)
        agent_mode = "batch_growth"
    # Env steps must land on the milestones: the largest step count ≤ 100 dividing every phase boundary.
    bounds = [round(m * budget) for m in milestones] + [budget]
    steps_per_action = max(k for k in range(1, 101) if all(b % k == 0 for b in bounds))
    env_steps = math.ceil(budget / steps_per_action)
    with tempfile.TemporaryDirectory(prefix="rlcv-sharpness-") as tmp:
        log = Path(tmp) / "episodes.jsonl"
        env_kwargs = _schedule_env_kwargs(setting, budget, steps_per_action, env_steps, log)
        config = {"env_kwargs": env_kwargs, "mode": agent_mode, "milestones": milestones, "factor": 2.0}
        config["num_threads"] = 1  # as every training run of the bench
        command = ["bench", "sharpness", "schedule", mode, str(seed)]
        wall = timed_train("hpo-schedule", seed, env_steps, Path(tmp) / "run", config, command)
        record = read_log(log)[-1]
    keys = (
        "test_accuracy",
        "test_loss",
        "val_loss",
        "val_accuracy",
        "examples",
        "sgd_steps",
        "trace",
        "diverged",
    )
    return {
        "mode": mode,
        "seed": seed,
        **{k: record[k] for k in keys},
        "lambda_max": record["landscape"]["lambda_max_final"],
        "wall_s": wall,
    }
