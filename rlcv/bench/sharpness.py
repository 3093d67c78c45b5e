"""`rlcv bench sharpness`: "Three Factors Influencing Minima in SGD" (Jastrzębski et al., arXiv
1711.04623) on MNIST-1D (and digits): does the noise scale η/S decide how sharp a minimum SGD finds?

Every run (:class:`rlcv.bench.sgd_paths.InnerRun`: plain SGD, no L2, minibatches drawn with
replacement) is measured twice:

- **fixed budget**: after ``--fixed-epochs`` epochs (training examples / training-set size);
- **matched loss**: the first time the full-batch training loss falls to ``--target-loss`` (checked
  every ``--check-epochs``; a run that has not got there by ``--max-epochs`` is reported as such).

Sharpness compared at a fixed budget mostly measures training progress (a run that is further
along sits in a sharper, lower region); at matched loss it compares minima of equal depth.
At each point: λ_max (Lanczos, ``--lanczos-iterations`` Hessian-vector products, on a fixed probe
of ``--probe`` training examples), train / test loss and accuracy. Sweeps (``--seeds`` seeds, each
seed one init and one minibatch order, the same for every setting):

- η sweep at S = ``--eta-sweep-batch``: η ∈ ``--eta-sweep``;
- S sweep at η = ``--batch-sweep-lr``: S ∈ ``--batch-sweep``;
- equal ratio: η/S ∈ ``--ratios`` each realised with S ∈ ``--ratio-batches`` (η = ratio · S);
- schedules through the agent loop (``hpo-schedule`` on ``rlcv/OnlineHPO-v0``): ``lr_decay`` vs
  ``batch_growth`` with the same η/S at every step, ``--schedule-steps`` SGD steps from η = ``--schedule-lr``,
  S = ``--schedule-batch``; test accuracy and λ_max at the end (the env's ``lambda_max_final``);
- with ``--digits-target-loss``: the η and S sweeps on digits too (matched-loss numbers for digits).

Writes OUT/sharpness.md, OUT/sharpness.json, OUT/sharpness_*.png and one JSON per run in
OUT/sharpness/ (resumable). Runs are launched by :func:`rlcv.bench.runs.run_tasks` (``--workers N``
processes or ``--backend ray``).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlcv.bench.checks import nonneg_float, out_dir, positive_float, positive_int, seed_count
from rlcv.bench.flags import add_flags, command_line, flag, spec_of
from rlcv.bench.report import figure, md_row, met
from rlcv.bench.runs import SummaryStore, Task, add_pool_flags, pool_of, run_tasks

# Targets of the issue.
RHO_LAMBDA_MAX = -0.8  # Spearman(η/S, λ_max) ≤ −0.8 in both sweeps, at matched loss
RHO_ACC_MIN = 0.7  # Spearman(η/S, test accuracy) ≥ 0.7
SAME_RATIO_LAMBDA = 0.25  # λ_max within ±25 % across S at the same η/S
SAME_RATIO_ACC = 0.015  # test accuracy within 1.5 points across S at the same η/S
RATIO_10X_LAMBDA = 2.0  # a 10× ratio change moves λ_max by ≥ 2×
SCHEDULE_ACC = 0.015  # lr_decay vs batch_growth: test accuracy within 1.5 points
SCHEDULE_LAMBDA = 0.30  # and λ_max within ±30 %
PROTOCOLS = ("matched", "fixed")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sharpness", help="'Three factors': η/S vs λ_max and test accuracy (MNIST-1D, digits)")
    add_flags(p, SharpnessSpec)
    add_pool_flags(p)
    p.set_defaults(bench_run=run)


@dataclass(kw_only=True)
class SharpnessSpec:
    seeds: int = flag(3, type=seed_count)
    task: str = flag("mnist1d", choices=["mnist1d", "digits"])
    # the inner-task network (`--model` before issue 26: "model" means the dynamics model only)
    model: str = flag("mlp", name="--network", old="--model", choices=["mlp", "cnn"])
    hidden: int = flag(100, type=positive_int)
    eta_sweep: list[float] = flag([0.05, 0.15, 0.4, 0.8, 1.5], type=positive_float)
    eta_sweep_batch: int = flag(32, type=positive_int)
    batch_sweep: list[int] = flag([8, 16, 32, 96, 256], type=positive_int)
    batch_sweep_lr: float = flag(0.4, type=positive_float)
    ratios: list[float] = flag([0.4 / 32, 0.04 / 32], type=positive_float)
    ratio_batches: list[int] = flag([8, 32, 128], type=positive_int)
    target_loss: float = flag(0.3, type=positive_float, help="matched full-batch training loss")
    fixed_epochs: float = flag(20.0, type=positive_float)
    max_epochs: float = flag(400.0, type=positive_float)
    check_epochs: float = flag(0.5, type=positive_float)
    probe: int = flag(1000, type=positive_int, help="training examples λ_max is measured on")
    lanczos_iterations: int = flag(20, type=positive_int)
    schedule_steps: int = flag(6000, type=positive_int)
    schedule_lr: float = flag(0.4, type=positive_float)
    schedule_batch: int = flag(32, type=positive_int)
    digits_target_loss: float = flag(0.05, type=nonneg_float, help="0 skips the digits sweeps")
    out: str = flag("results", type=out_dir)
    report_only: bool = flag(False, command=False, help="rebuild the report from OUT/sharpness/*.json")

    def command(self) -> str:
        return command_line("rlcv bench sharpness", self)


def run(args: argparse.Namespace) -> int:
    # every flag's range is checked by its argparse type (rlcv.bench.checks) before this runs
    run_bench(spec_of(SharpnessSpec, args), **pool_of(args))
    return 0


# ------------------------------------------------------------------------------------ one run


def _snapshot(r: Any, probe: Any, lanczos_iterations: int, seed: int) -> dict[str, Any]:
    """λ_max / λ_min on the probe, losses and accuracies, and the distance from init of run ``r`` now."""
    from rlcv.hpo import landscape as ls

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
    spec: SharpnessSpec, *, task: str, hidden: int, lr: float, batch: int, seed: int, target_loss: float
) -> dict[str, Any]:
    """Train until both the fixed budget and the matched loss are measured (or ``max_epochs``)."""
    from rlcv.bench.sgd_paths import InnerRun

    r = InnerRun(task=task, model=spec.model, lr=lr, batch_size=batch, seed=seed, hidden=hidden)
    n = len(r.y)
    per_epoch = n / min(batch, n)
    fixed_steps = math.ceil(spec.fixed_epochs * per_epoch)
    max_steps = max(fixed_steps, math.ceil(spec.max_epochs * per_epoch))
    probe = r.loss_fn("train", n=spec.probe)

    def snapshot() -> dict[str, Any]:
        return _snapshot(r, probe, spec.lanczos_iterations, seed)

    start = time.perf_counter()
    snaps: dict[str, Any] = {}
    curve: list[list[float]] = []
    diverged = False
    # The full-batch loss is checked every check_epochs, or every 2 % of the epochs so far when that is
    # longer: slow runs (hundreds of epochs) are not dominated by the checks, and the matched point
    # is still found within 2 % of its epoch count.
    next_check = spec.check_epochs
    while r.steps < max_steps and not ("fixed" in snaps and "matched" in snaps):
        _, after = r.step()
        if not bool(np.isfinite(after.numpy()).all()):
            diverged = True
            break
        if r.steps == fixed_steps:
            snaps["fixed"] = snapshot()
        if r.epochs >= next_check - 1e-9 and "matched" not in snaps:
            next_check = max(next_check + spec.check_epochs, 1.02 * r.epochs)
            loss = r.evaluate("train")[0]
            curve.append([r.epochs, loss])
            if not math.isfinite(loss) or loss > 1e3:
                diverged = True
                break
            if loss <= target_loss:
                snaps["matched"] = snapshot()
    return {
        "lr": lr,
        "batch_size": batch,
        "ratio": lr / batch,
        "seed": seed,
        "task": task,
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
    spec: SharpnessSpec, budget: int, steps_per_action: int, env_steps: int, log: Path
) -> dict[str, Any]:
    """``rlcv/OnlineHPO-v0``'s kwargs for one schedule run: the sweeps' model, no L2, λ_max at the end."""
    return {
        "task": spec.task,
        "model": spec.model,
        "hidden_size": spec.hidden,
        "budget": budget,
        "steps_per_action": steps_per_action,
        "lr_init": spec.schedule_lr,
        "batch_size_init": spec.schedule_batch,
        "batch_size_range": [1, 4096],
        "weight_decay_init": 1e-6,
        "weight_decay_range": [1e-6, 1e-6],  # (nearly) no L2, as in the sweeps
        "landscape": True,
        "landscape_every": env_steps + 1,  # one measurement at the start; λ_max_final at the end
        "probe_size": spec.probe,
        "lanczos_iterations": spec.lanczos_iterations,
        "episode_log": str(log),
    }


def schedule_run(spec: SharpnessSpec, mode: str, seed: int) -> dict[str, Any]:
    """``hpo-schedule`` through the agent loop (one episode = one inner run); the env's episode record.

    ``lr_decay`` and ``batch_growth`` run ``schedule_steps`` SGD steps (the env's budget unit);
    ``batch_growth_equal_examples`` runs fewer steps, as many examples as ``lr_decay``."""
    from rlcv.bench.hpo_runs import read_log, timed_train

    budget, milestones = spec.schedule_steps, list(SCHEDULE_MILESTONES)
    agent_mode = mode
    if mode == "batch_growth_equal_examples":
        budget, milestones = equal_examples_schedule(spec.schedule_steps, SCHEDULE_MILESTONES, 2.0)
        agent_mode = "batch_growth"
    # Env steps must land on the milestones: the largest step count ≤ 100 dividing every phase boundary.
    bounds = [round(m * budget) for m in milestones] + [budget]
    steps_per_action = max(k for k in range(1, 101) if all(b % k == 0 for b in bounds))
    env_steps = math.ceil(budget / steps_per_action)
    with tempfile.TemporaryDirectory(prefix="rlcv-sharpness-") as tmp:
        log = Path(tmp) / "episodes.jsonl"
        env_kwargs = _schedule_env_kwargs(spec, budget, steps_per_action, env_steps, log)
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


# ----------------------------------------------------------------------------------- the bench


def _sweep_jobs(spec: SharpnessSpec) -> dict[str, list[tuple[float, int]]]:
    """Sweep name -> (η, S) settings."""
    return {
        "eta": [(lr, spec.eta_sweep_batch) for lr in spec.eta_sweep],
        "batch": [(spec.batch_sweep_lr, s) for s in spec.batch_sweep],
        "ratio": [(ratio * s, s) for ratio in spec.ratios for s in spec.ratio_batches],
    }


def _name(task: str, lr: float, batch: int, seed: int) -> str:
    return f"{task}_lr{lr:.6g}_bs{batch}_s{seed}"


# A run's summary by name, params and how to compute it: a bench's sweeps are walked twice, once to list
# the runs (rlcv.bench.run_tasks launches the missing ones), once to read their summaries.
Fetch = Callable[[str, dict[str, Any], Callable[[], dict[str, Any]]], dict[str, Any]]


def _sweep_rows(
    spec: SharpnessSpec,
    fetch: Fetch,
    task: str,
    hidden: int,
    target: float,
    settings: list[tuple[float, int]],
) -> list[list[dict[str, Any]]]:
    """One sweep of one task: per (η, S) setting, one run per seed."""
    common = {k: getattr(spec, k) for k in ("model", "fixed_epochs", "max_epochs", "check_epochs", "probe")}
    common["lanczos_iterations"] = spec.lanczos_iterations
    rows = []
    for lr, batch in settings:
        seeds = []
        for seed in range(spec.seeds):
            params = {**common, "task": task, "hidden": hidden, "lr": lr, "batch": batch, "seed": seed}
            params["target_loss"] = target
            job = functools.partial(
                sharp_run, spec, task=task, hidden=hidden, lr=lr, batch=batch, seed=seed, target_loss=target
            )
            seeds.append(fetch(_name(task, lr, batch, seed), params, job))
        rows.append(seeds)
    return rows


def _sweeps(spec: SharpnessSpec, fetch: Fetch) -> dict[str, dict[str, list[list[dict[str, Any]]]]]:
    """Every sweep of the bench's task, and the η and S sweeps on digits when asked for."""
    tasks: list[tuple[str, int, float, tuple[str, ...]]] = [
        (spec.task, spec.hidden, spec.target_loss, ("eta", "batch", "ratio"))
    ]
    if spec.digits_target_loss > 0 and spec.task != "digits":
        tasks.append(("digits", 64, spec.digits_target_loss, ("eta", "batch")))
    sweeps: dict[str, dict[str, list[list[dict[str, Any]]]]] = {}
    for task, hidden, target, which in tasks:
        sweeps[task] = {}
        for sweep, settings in _sweep_jobs(spec).items():
            if sweep in which:
                sweeps[task][sweep] = _sweep_rows(spec, fetch, task, hidden, target, settings)
    return sweeps


SCHEDULE_PARAMS = (
    "task",
    "model",
    "hidden",
    "schedule_steps",
    "schedule_lr",
    "schedule_batch",
    "probe",
    "lanczos_iterations",
)


def _schedules(spec: SharpnessSpec, fetch: Fetch) -> dict[str, list[dict[str, Any]]]:
    sched_params = {k: getattr(spec, k) for k in SCHEDULE_PARAMS}
    return {
        mode: [
            fetch(
                f"schedule_{mode}_s{seed}",
                {**sched_params, "mode": mode, "seed": seed},
                functools.partial(schedule_run, spec, mode, seed),
            )
            for seed in range(spec.seeds)
        ]
        for mode in SCHEDULE_MODES
    }


def run_bench(spec: SharpnessSpec, **pool: Any) -> dict[str, Any]:
    """Every run of the bench through :func:`rlcv.bench.run_tasks` (``pool``: its workers /
    backend / address keywords), then the report from their summaries."""
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    planned: list[Task] = []

    def plan(name: str, params: dict[str, Any], compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        planned.append(Task(name, params, compute))
        return {}

    _sweeps(spec, plan)
    _schedules(spec, plan)
    store = SummaryStore(Path(spec.out) / "sharpness")
    done = run_tasks(store, planned, report_only=spec.report_only, **pool)
    sweeps = _sweeps(spec, lambda name, params, compute: done[name])
    schedules = _schedules(spec, lambda name, params, compute: done[name])
    out: dict[str, Any] = {
        "spec": asdict(spec),
        "command": spec.command(),
        "sweeps": sweeps,
        "schedules": schedules,
        "wall_s": time.perf_counter() - start,
    }
    out["verdicts"] = verdicts(out)
    write_outputs(out, spec)
    return out


# -------------------------------------------------------------------------------------- analysis


def _get(r: dict[str, Any], protocol: str, key: str) -> float:
    snap = r.get(protocol)
    return float(snap[key]) if snap else math.nan


def _mean(xs: list[float]) -> float:
    finite = [x for x in xs if math.isfinite(x)]
    return float(np.mean(finite)) if finite else math.nan


def sweep_table(rows: list[list[dict[str, Any]]], protocol: str) -> list[dict[str, Any]]:
    """One entry per setting: η, S, η/S, seed means (NaN where a seed did not reach the point)."""
    out = []
    for runs in rows:
        r0 = runs[0]
        out.append(
            {
                "lr": r0["lr"],
                "batch_size": r0["batch_size"],
                "ratio": r0["ratio"],
                "reached": sum(protocol in r for r in runs),
                "seeds": len(runs),
                "diverged": sum(bool(r["diverged"]) for r in runs),
                **{
                    k: _mean([_get(r, protocol, k) for r in runs])
                    for k in ("lambda_max", "test_accuracy", "train_loss", "epochs", "lambda_min")
                },
                "lambda_per_seed": [_get(r, protocol, "lambda_max") for r in runs],
                "acc_per_seed": [_get(r, protocol, "test_accuracy") for r in runs],
            }
        )
    return out


def _rho(table: list[dict[str, Any]], key: str, seed: int | None = None) -> float:
    from rlcv.bench.sgd_paths import spearman

    pts = [
        (
            t["ratio"],
            t[key] if seed is None else t["lambda_per_seed" if key == "lambda_max" else "acc_per_seed"][seed],
        )
        for t in table
    ]
    pts = [(a, b) for a, b in pts if math.isfinite(b)]
    return spearman([a for a, _ in pts], [b for _, b in pts]) if len(pts) >= 3 else math.nan


def _same_ratio_verdicts(table: list[dict[str, Any]]) -> dict[str, Any]:
    """Groups of settings with the same η/S: λ_max deviation and accuracy spread, and the 10× factor."""
    groups: dict[float, list[dict[str, Any]]] = {}
    for t in table:
        groups.setdefault(round(t["ratio"], 12), []).append(t)
    same: list[dict[str, Any]] = []
    for ratio, ts in sorted(groups.items(), reverse=True):
        lams = [t["lambda_max"] for t in ts]
        accs = [t["test_accuracy"] for t in ts]
        mid = statistics.median(lams)
        dev = max(abs(x / mid - 1) for x in lams) if all(math.isfinite(x) for x in lams) else math.nan
        spread = max(accs) - min(accs) if all(math.isfinite(x) for x in accs) else math.nan
        same.append({"ratio": ratio, "lambda": lams, "acc": accs, "lambda_dev": dev, "acc_spread": spread})
    tv: dict[str, Any] = {"same_ratio": same}
    tv["same_ratio_met"] = bool(
        all(g["lambda_dev"] <= SAME_RATIO_LAMBDA and g["acc_spread"] <= SAME_RATIO_ACC for g in same)
    )
    if len(same) >= 2:
        hi, lo = _mean(same[0]["lambda"]), _mean(same[-1]["lambda"])
        tv["ratio_10x_lambda_factor"] = lo / hi
        tv["ratio_10x_met"] = bool(lo / hi >= RATIO_10X_LAMBDA)
    return tv


def _protocol_verdicts(sweeps: dict[str, Any], protocol: str, seeds: int) -> dict[str, Any]:
    """One task's rank correlations and targets under one protocol."""
    tv: dict[str, Any] = {}
    for sweep in ("eta", "batch"):
        if sweep not in sweeps:
            continue
        table = sweep_table(sweeps[sweep], protocol)
        tv[f"{sweep}_rho_lambda"] = _rho(table, "lambda_max")
        tv[f"{sweep}_rho_lambda_per_seed"] = [_rho(table, "lambda_max", s) for s in range(seeds)]
        tv[f"{sweep}_rho_acc"] = _rho(table, "test_accuracy")
    both = sweep_table(sweeps["eta"], protocol) + sweep_table(sweeps["batch"], protocol)
    tv["pooled_rho_acc"] = _rho(both, "test_accuracy")
    tv["lambda_met"] = bool(max(tv["eta_rho_lambda"], tv["batch_rho_lambda"]) <= RHO_LAMBDA_MAX)
    tv["acc_met"] = bool(tv["pooled_rho_acc"] >= RHO_ACC_MIN)
    if "ratio" in sweeps:
        tv.update(_same_ratio_verdicts(sweep_table(sweeps["ratio"], protocol)))
    return tv


def _schedule_verdicts(sched: dict[str, Any]) -> dict[str, Any]:
    acc = {m: _mean([r["test_accuracy"] for r in runs]) for m, runs in sched.items()}
    lam = {m: _mean([r["lambda_max"] for r in runs]) for m, runs in sched.items()}
    out: dict[str, Any] = {
        "accuracy": acc,
        "lambda_max": lam,
        "examples": {m: _mean([r["examples"] for r in runs]) for m, runs in sched.items()},
        "sgd_steps": {m: _mean([r["sgd_steps"] for r in runs]) for m, runs in sched.items()},
    }
    for growth in ("batch_growth", "batch_growth_equal_examples"):
        if growth not in sched:
            continue
        paired = [
            a["test_accuracy"] - b["test_accuracy"]
            for a, b in zip(sched["lr_decay"], sched[growth], strict=True)
        ]
        gap = abs(acc["lr_decay"] - acc[growth])
        ratio = lam[growth] / lam["lr_decay"]
        out[growth] = {
            "paired_acc_diff": paired,
            "acc_gap": gap,
            "lambda_ratio": ratio,
            "met": bool(gap <= SCHEDULE_ACC and abs(ratio - 1) <= SCHEDULE_LAMBDA),
        }
    return out


def verdicts(out: dict[str, Any]) -> dict[str, Any]:
    spec = out["spec"]
    v: dict[str, Any] = {}
    for task, sweeps in out["sweeps"].items():
        for protocol in PROTOCOLS:
            v[f"{task}_{protocol}"] = _protocol_verdicts(sweeps, protocol, spec["seeds"])
    if out["schedules"]:
        v["schedule"] = _schedule_verdicts(out["schedules"])
    return v


# ---------------------------------------------------------------------------------------- output


def _f(x: float, fmt: str = ".3g") -> str:
    return format(x, fmt) if math.isfinite(x) else "—"


def _seeds(xs: list[float]) -> str:
    return ", ".join(_f(x, ".2f") for x in xs)


def _matched_reading(out: dict[str, Any], m: dict[str, Any]) -> list[str]:
    """The reading of the matched-loss protocol on the bench's task."""
    spec = out["spec"]
    task = spec["task"]
    lines = []
    lam = (m["eta_rho_lambda"], m["batch_rho_lambda"])
    verdict = "reproduces" if m["lambda_met"] else "does **not** reproduce"
    lines.append(
        f"- {task}, matched loss: a higher η/S finds flatter minima (Spearman(η/S, λ_max) "
        f"{lam[0]:.2f} in "
        f"the η sweep, {lam[1]:.2f} in the S sweep) — the paper's sharpness finding {verdict} here."
    )
    acc = m["pooled_rho_acc"]
    if acc >= RHO_ACC_MIN:
        text = f"flatter minima generalise better (Spearman(η/S, test accuracy) {acc:.2f}): reproduces."
    elif acc <= -0.3:
        text = (
            "the generalisation finding does **not** reproduce at this scale: at the same training "
            "loss a "
            f"higher η/S gives *lower* test accuracy (pooled Spearman {acc:.2f}), so the flatter minima "
            "found here do not generalise better."
        )
    else:
        text = f"no clear relation between η/S and test accuracy (pooled Spearman {acc:.2f}): not reproduced"
    lines.append(f"- {task}, matched loss: {text}")
    for g in m.get("same_ratio", []):
        lines.append(
            f"- Same η/S = {g['ratio']:.3g} across S ∈ {{{', '.join(map(str, spec['ratio_batches']))}}}: "
            "λ_max "
            f"within {100 * g['lambda_dev']:.1f}% of the group's median, test accuracy within "
            f"{100 * g['acc_spread']:.1f} points (matched loss)."
        )
    if "ratio_10x_lambda_factor" in m:
        lines.append(
            f"- A 10× lower η/S gives a {m['ratio_10x_lambda_factor']:.2f}× larger λ_max (matched loss)."
        )
    rows = sweep_table(out["sweeps"][task]["eta"], "matched") + sweep_table(
        out["sweeps"][task]["batch"], "matched"
    )
    rows = [r for r in rows if math.isfinite(r["epochs"])]
    if rows:
        fastest = min(rows, key=lambda r: r["epochs"])
        noisiest = max(rows, key=lambda r: r["ratio"])
        lines.append(
            f"- Epochs to the matched loss are not monotone in η/S: fewest ({fastest['epochs']:.0f}) at "
            f"η/S = {fastest['ratio']:.3g}; the noisiest setting (η/S = {noisiest['ratio']:.3g}) needs "
            f"{noisiest['epochs']:.0f}, its noise keeps it above the target longer."
        )
    return lines


def _digits_reading(out: dict[str, Any]) -> list[str]:
    spec, v = out["spec"], out["verdicts"]
    lines: list[str] = []
    d_m, d_f = v.get("digits_matched"), v.get("digits_fixed")
    if d_m and d_f and spec["task"] != "digits":
        lines.append(
            f"- digits: at a fixed budget Spearman(η/S, λ_max) is {d_f['eta_rho_lambda']:.2f} / "
            f"{d_f['batch_rho_lambda']:.2f} (η / S sweep) and Spearman(η/S, test accuracy) "
            f"{d_f['pooled_rho_acc']:.2f}; "
            f"at matched loss ({spec['digits_target_loss']:g}) they become {d_m['eta_rho_lambda']:.2f} / "
            f"{d_m['batch_rho_lambda']:.2f} and {d_m['pooled_rho_acc']:.2f}"
            + (
                ": the fixed-budget correlation measures training progress, not the minimum's sharpness."
                if d_f["lambda_met"] and not d_m["lambda_met"]
                else "."
            )
        )
    return lines


def _schedule_reading(v: dict[str, Any]) -> list[str]:
    lines = []
    s = v.get("schedule", {})
    for growth, label in (
        ("batch_growth_equal_examples", "equal examples"),
        ("batch_growth", "equal SGD steps"),
    ):
        if growth in s:
            g = s[growth]
            verdict = "equivalent within the targets" if g["met"] else "**not** equivalent within the targets"
            lines.append(
                f"- Schedules at {label}: lr decay vs batch growth test accuracy differs by "
                f"{100 * g['acc_gap']:.2f} "
                f"points, λ_max ratio {g['lambda_ratio']:.2f} — {verdict}."
            )
    return lines


def reading(out: dict[str, Any]) -> list[str]:
    """What reproduces and what does not, read off the verdicts (generated, so it never goes stale)."""
    spec, v = out["spec"], out["verdicts"]
    task = spec["task"]
    lines = ["## Reading", ""]
    m, f = v.get(f"{task}_matched"), v.get(f"{task}_fixed")
    if m:
        lines += _matched_reading(out, m)
    if f and m:
        lines.append(
            f"- {task}, fixed budget ({spec['fixed_epochs']:g} epochs): Spearman(η/S, λ_max) "
            f"{f['eta_rho_lambda']:.2f} / {f['batch_rho_lambda']:.2f}, Spearman(η/S, test accuracy) "
            f"{f['pooled_rho_acc']:.2f} (the runs are at different training losses)."
        )
    lines += _digits_reading(out)
    lines += _schedule_reading(v)
    return [*lines, ""]


def _setting_lines(out: dict[str, Any]) -> list[str]:
    spec = out["spec"]
    return [
        "# Three factors: noise scale η/S, sharpness and generalisation (MNIST-1D, digits)",
        "",
        f"Regenerate: `{out['command']}` (report only: add `--report-only`; per-run JSON in `sharpness/`).",
        "",
        (
            f"Setting: {spec['task']} ({spec['model']}, {spec['hidden']} hidden units; MNIST-1D: 3000 "
            "training signals "
            "generated offline by the `mnist1d` package, its 1000 test signals), plain SGD without L2, "
            f"minibatches drawn with replacement, {spec['seeds']} seeds (seed = init and minibatch order, "
            "shared by all settings). **Matched loss**: measured the first time the full-batch training "
            f"loss is ≤ {spec['target_loss']:g} (checked every {spec['check_epochs']:g} epoch, at most "
            f"{spec['max_epochs']:g} epochs). **Fixed budget**: measured after {spec['fixed_epochs']:g} "
            "epochs. "
            f"λ_max: Lanczos, {spec['lanczos_iterations']} Hessian-vector products on a fixed probe of "
            f"{spec['probe']} training examples."
        ),
        "",
    ]


def _same_ratio_rows(spec: dict[str, Any], protocol: str, tv: dict[str, Any]) -> list[str]:
    """The same-η/S targets of one protocol: one row per group, their joint verdict, the 10× row."""
    lines = []
    for g in tv["same_ratio"]:
        lines.append(
            md_row(
                f"η/S = {g['ratio']:.3g} with S ∈ {{{', '.join(map(str, spec['ratio_batches']))}}}: "
                "λ_max within "
                f"±{100 * SAME_RATIO_LAMBDA:.0f}%, accuracy within {100 * SAME_RATIO_ACC:g} points",
                protocol,
                f"λ_max {', '.join(_f(x) for x in g['lambda'])} (max deviation from median "
                f"{_f(100 * g['lambda_dev'], '.1f')}%); accuracy "
                f"{', '.join(_f(100 * x, '.1f') for x in g['acc'])} "
                f"(spread {_f(100 * g['acc_spread'], '.1f')})",
                "",
            )
        )
    devs = [x for g in tv["same_ratio"] for x in (g["lambda_dev"], g["acc_spread"])]
    lines.append(md_row("… both groups", protocol, "", met(tv["same_ratio_met"], *devs)))
    if "ratio_10x_lambda_factor" in tv:
        lines.append(
            md_row(
                f"10× lower η/S raises λ_max ≥ {RATIO_10X_LAMBDA:g}×",
                protocol,
                f"{_f(tv['ratio_10x_lambda_factor'])}×",
                met(tv["ratio_10x_met"], tv["ratio_10x_lambda_factor"]),
            )
        )
    return lines


def _sweep_target_rows(spec: dict[str, Any], protocol: str, tv: dict[str, Any]) -> list[str]:
    """The target rows of one protocol's η and S sweeps (and same-ratio groups, where run)."""
    lines = [
        md_row(
            f"Spearman(η/S, λ_max) ≤ {RHO_LAMBDA_MAX} in the η and the S sweep",
            protocol,
            f"η sweep {_f(tv['eta_rho_lambda'])} (per seed {_seeds(tv['eta_rho_lambda_per_seed'])}); "
            f"S sweep {_f(tv['batch_rho_lambda'])} (per seed {_seeds(tv['batch_rho_lambda_per_seed'])})",
            met(tv["lambda_met"], tv["eta_rho_lambda"], tv["batch_rho_lambda"]),
        ),
        md_row(
            f"Spearman(η/S, test accuracy) ≥ {RHO_ACC_MIN} (both sweeps pooled)",
            protocol,
            f"{_f(tv['pooled_rho_acc'])} (η sweep {_f(tv['eta_rho_acc'])}, "
            f"S sweep {_f(tv['batch_rho_acc'])})",
            met(tv["acc_met"], tv["pooled_rho_acc"]),
        ),
    ]
    if "same_ratio" in tv:
        lines += _same_ratio_rows(spec, protocol, tv)
    return lines


def _schedule_target_rows(v: dict[str, Any]) -> list[str]:
    if "schedule" not in v:
        return []
    s = v["schedule"]
    lines = []
    for growth, protocol in (
        ("batch_growth_equal_examples", "equal examples (the paper's)"),
        ("batch_growth", "equal SGD steps"),
    ):
        if growth not in s:
            continue
        g = s[growth]
        lines.append(
            md_row(
                f"lr_decay vs batch growth: test accuracy within {100 * SCHEDULE_ACC:g} points, "
                f"λ_max within ±{100 * SCHEDULE_LAMBDA:.0f}%",
                protocol,
                f"accuracy {100 * s['accuracy']['lr_decay']:.2f} vs {100 * s['accuracy'][growth]:.2f} "
                f"(paired differences {', '.join(f'{100 * d:+.1f}' for d in g['paired_acc_diff'])}); "
                "λ_max "
                f"{s['lambda_max']['lr_decay']:.3g} vs {s['lambda_max'][growth]:.3g} "
                f"(ratio {g['lambda_ratio']:.2f})",
                met(g["met"]),
            )
        )
    return lines


def _targets_lines(out: dict[str, Any]) -> list[str]:
    spec, v = out["spec"], out["verdicts"]
    lines = ["## Targets", "", "| target | protocol | measured | verdict |", "|---|---|---|---|"]
    for protocol in PROTOCOLS:
        tv = v.get(f"{spec['task']}_{protocol}")
        if tv:
            lines += _sweep_target_rows(spec, protocol, tv)
    return lines + _schedule_target_rows(v)


def _sweep_row(sweep: str, t_: dict[str, Any]) -> str:
    return md_row(
        sweep,
        f"{t_['lr']:.4g}",
        t_["batch_size"],
        f"{t_['ratio']:.3g}",
        f"{t_['reached']}/{t_['seeds']}" + (f" ({t_['diverged']} div.)" if t_["diverged"] else ""),
        _f(t_["epochs"], ".1f"),
        _f(t_["train_loss"], ".3f"),
        _f(t_["lambda_max"]),
        _f(t_["lambda_min"]),
        _f(100 * t_["test_accuracy"], ".2f"),
    )


def _sweep_tables(out: dict[str, Any]) -> list[str]:
    """One table per task and protocol: every setting's means over seeds, then its rank correlations."""
    v = out["verdicts"]
    lines: list[str] = []
    for t, sweeps in out["sweeps"].items():
        for protocol in PROTOCOLS:
            lines += [
                "",
                f"## {t}, {protocol} {'loss' if protocol == 'matched' else 'budget'} (means over seeds)",
                "",
                "| sweep | η | S | η/S | reached | epochs | train loss | λ_max | λ_min | test acc % |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
            for sweep, rows in sweeps.items():
                lines += [_sweep_row(sweep, t_) for t_ in sweep_table(rows, protocol)]
            tv = v.get(f"{t}_{protocol}", {})
            if tv:
                lines += [
                    "",
                    f"Spearman(η/S, λ_max): η sweep {_f(tv['eta_rho_lambda'])}, "
                    f"S sweep {_f(tv['batch_rho_lambda'])}; "
                    f"Spearman(η/S, test accuracy) pooled {_f(tv['pooled_rho_acc'])}.",
                ]
    return lines


def _schedule_section(out: dict[str, Any]) -> list[str]:
    spec, v = out["spec"], out["verdicts"]
    if "schedule" not in v:
        return []
    s = v["schedule"]
    return [
        "",
        "## Schedules through the agent loop (`hpo-schedule` on `rlcv/OnlineHPO-v0`)",
        "",
        (
            f"From η = {spec['schedule_lr']:g}, S = {spec['schedule_batch']}, η/S drops 2× at 50 % and "
            f"75 % of {spec['schedule_steps']} SGD steps, by η (lr_decay) or by S (batch_growth). "
            "The env counts its budget in SGD steps: at equal steps batch growth processes "
            f"{s['examples']['batch_growth']:.0f} examples against lr decay's "
            f"{s['examples']['lr_decay']:.0f}; `batch_growth_equal_examples` stops at "
            f"{s['sgd_steps'].get('batch_growth_equal_examples', math.nan):.0f} steps, with lr decay's "
            f"{s['examples'].get('batch_growth_equal_examples', math.nan):.0f} examples (the paper's "
            "comparison, at equal epochs). Both runs of a seed are identical up to the first milestone "
            "(same init, same minibatches): the comparison is of what the schedules do after it."
        ),
    ]


def markdown(out: dict[str, Any]) -> str:
    lines = [*_setting_lines(out), *_targets_lines(out), "", *reading(out)]
    lines += _sweep_tables(out)
    lines += _schedule_section(out)
    lines += [
        "",
        "Figures: `sharpness_grid.png` (λ_max and test accuracy vs η/S, matched loss vs fixed budget), "
        "`sharpness_curves.png` (full-batch training loss vs epochs of the η and S sweeps, seed 0).",
        "",
        f"Runs took {run_minutes(out):.1f} min of wall time in all (summed from the per-run records), on a "
        "shared 2-core machine, one thread.",
        "",
    ]
    return "\n".join(lines)


def run_minutes(out: dict[str, Any]) -> float:
    runs = [r for sw in out["sweeps"].values() for rows in sw.values() for rs in rows for r in rs]
    runs += [r for rs in out["schedules"].values() for r in rs]
    return sum(r["wall_s"] for r in runs) / 60


MARKERS = {"eta": ("o", "η sweep"), "batch": ("s", "S sweep"), "ratio": ("^", "same η/S, S ∈ {8, 32, 128}")}


def _draw_grid(axes: Any, task: str, sweeps: dict[str, Any]) -> None:
    """λ_max (top) and test accuracy (bottom) against η/S, one column per protocol."""
    from matplotlib.ticker import NullFormatter

    for j, protocol in enumerate(PROTOCOLS):
        for i, (sweep, rows) in enumerate(sweeps.items()):
            m, label = MARKERS[sweep]
            for runs in rows:
                for r in runs:
                    snap = r.get(protocol)
                    if snap:
                        axes[0][j].scatter(r["ratio"], snap["lambda_max"], marker=m, color=f"C{i}", s=14)
                        axes[1][j].scatter(
                            r["ratio"], 100 * snap["test_accuracy"], marker=m, color=f"C{i}", s=14
                        )
            axes[0][j].scatter([], [], marker=m, color=f"C{i}", label=label)
        axes[0][j].set(xscale="log", yscale="log", ylabel="λ_max", title=f"{task}: {protocol}")
        axes[1][j].set(xscale="log", xlabel="η / S", ylabel="test accuracy %")
        axes[1][j].xaxis.set_minor_formatter(NullFormatter())  # labels overlap otherwise
    axes[0][0].legend(fontsize=8)


def _draw_curves(axes: Any, sweeps: dict[str, Any], target_loss: float) -> None:
    """Training-loss curves of seed 0 in the η and S sweeps, the matched-loss target dotted."""
    for ax, sweep in zip(axes, ("eta", "batch"), strict=True):
        for runs in sweeps.get(sweep, []):
            curve = np.asarray(runs[0]["loss_curve"])
            if len(curve):
                ax.plot(curve[:, 0], curve[:, 1], label=f"η {runs[0]['lr']:g}, S {runs[0]['batch_size']}")
        ax.axhline(target_loss, color="grey", ls=":")
        ax.set(xscale="log", yscale="log", xlabel="epochs", title=f"{sweeps and sweep} sweep (seed 0)")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("full-batch training loss")


def plot(out: dict[str, Any], folder: Path) -> None:
    task = out["spec"]["task"]
    sweeps = out["sweeps"][task]
    with figure(folder / "sharpness_grid.png", 2, 2, figsize=(10, 7), sharex=True) as (_, axes):
        _draw_grid(axes, task, sweeps)
    with figure(folder / "sharpness_curves.png", 1, 2, figsize=(10, 3.8), sharey=True) as (_, axes):
        _draw_curves(axes, sweeps, out["spec"]["target_loss"])


def write_outputs(out: dict[str, Any], spec: SharpnessSpec) -> None:
    folder = Path(spec.out)
    folder.mkdir(parents=True, exist_ok=True)

    def slim(r: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in r.items() if k != "loss_curve"}

    compact = {
        **out,
        "sweeps": {
            t: {s: [[slim(r) for r in runs] for runs in rows] for s, rows in sw.items()}
            for t, sw in out["sweeps"].items()
        },
        "schedules": {m: [slim(r) for r in runs] for m, runs in out["schedules"].items()},
    }
    (folder / "sharpness.json").write_text(json.dumps(compact, indent=1, default=float))
    (folder / "sharpness.md").write_text(markdown(out))
    plot(out, folder)
    print(f"wrote {folder / 'sharpness.md'}, {folder / 'sharpness.json'}, {folder}/sharpness_*.png")
