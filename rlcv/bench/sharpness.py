"""`rlcv bench sharpness`: "Three Factors Influencing Minima in SGD" (Jastrzębski et al., arXiv
1711.04623) on MNIST-1D (and digits): does the noise scale η/S decide how sharp a minimum SGD finds?

Every run (:func:`rlcv.hpo.landscape_runs.sharp_run`) is measured at a **fixed budget** and at a
**matched training loss** — at a fixed budget sharpness mostly measures training progress, at matched
loss it compares minima of equal depth. Sweeps: η at S = ``--eta-sweep-batch``, S at η =
``--batch-sweep-lr``, equal η/S across ``--ratio-batches``; lr decay vs batch growth through the agent
loop (:func:`rlcv.hpo.landscape_runs.schedule_run`); with ``--digits-target-loss`` the η and S sweeps on
digits too. One JSON per run in OUT/sharpness/ (resumable, :func:`rlcv.bench.runs.run_tasks`); the
page OUT/sharpness.md (``templates/sharpness.md.j2``), OUT/sharpness.json, OUT/sharpness_*.png.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rlcv.bench.checks import nonneg_float, out_dir, positive_float, positive_int, seed_count
from rlcv.bench.figures import sharpness_figures as plot
from rlcv.bench.flags import command_line, flag, spec_of
from rlcv.bench.report import add_bench
from rlcv.bench.runs import SummaryStore, Task, add_pool_flags, pool_of, run_tasks
from rlcv.hpo.landscape_records import SNAPSHOT_PROTOCOLS, finite_mean
from rlcv.hpo.noise_scale import ratio_rho, same_ratio_groups, sweep_table

# Targets of the issue.
RHO_LAMBDA_MAX = -0.8  # Spearman(η/S, λ_max) ≤ −0.8 in both sweeps, at matched loss
RHO_ACC_MIN = 0.7  # Spearman(η/S, test accuracy) ≥ 0.7
SAME_RATIO_LAMBDA = 0.25  # λ_max within ±25 % across S at the same η/S
SAME_RATIO_ACC = 0.015  # test accuracy within 1.5 points across S at the same η/S
RATIO_10X_LAMBDA = 2.0  # a 10× ratio change moves λ_max by ≥ 2×
SCHEDULE_ACC = 0.015  # lr_decay vs batch_growth: test accuracy within 1.5 points
SCHEDULE_LAMBDA = 0.30  # and λ_max within ±30 %
PROTOCOLS = SNAPSHOT_PROTOCOLS  # matched loss / fixed steps


def register(sub: argparse._SubParsersAction) -> None:
    about = "'Three factors': η/S vs λ_max and test accuracy (MNIST-1D, digits)"
    p = add_bench(sub, "sharpness", SharpnessSpec, run, help=about)
    add_pool_flags(p)


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
    from rlcv.hpo import landscape_runs  # torch: not while the CLI's parser is built

    common = {k: getattr(spec, k) for k in ("model", "fixed_epochs", "max_epochs", "check_epochs", "probe")}
    common["lanczos_iterations"] = spec.lanczos_iterations
    rows = []
    for lr, batch in settings:
        seeds = []
        for seed in range(spec.seeds):
            params = {**common, "task": task, "hidden": hidden, "lr": lr, "batch": batch, "seed": seed}
            params["target_loss"] = target
            job = functools.partial(landscape_runs.sharp_run, **params)
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


SCHEDULE_PARAMS = ("task", "model", "hidden", "schedule_steps", "schedule_lr", "schedule_batch", "probe")


def _schedules(spec: SharpnessSpec, fetch: Fetch) -> dict[str, list[dict[str, Any]]]:
    from rlcv.hpo import landscape_runs

    common = {k: getattr(spec, k) for k in SCHEDULE_PARAMS} | {"lanczos_iterations": spec.lanczos_iterations}
    out: dict[str, list[dict[str, Any]]] = {}
    for mode in landscape_runs.SCHEDULE_MODES:
        for seed in range(spec.seeds):
            params = {**common, "mode": mode, "seed": seed}
            job = functools.partial(landscape_runs.schedule_run, **params)
            out.setdefault(mode, []).append(fetch(f"schedule_{mode}_s{seed}", params, job))
    return out


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


# ------------------------------------------------------- verdicts (the readings: rlcv.hpo.noise_scale)


def _same_ratio_verdicts(table: list[dict[str, Any]]) -> dict[str, Any]:
    """Groups of settings with the same η/S against their targets: λ_max deviation and accuracy spread,
    and the 10× factor."""
    same = same_ratio_groups(table)
    tv: dict[str, Any] = {"same_ratio": same}
    tv["same_ratio_met"] = bool(
        all(g["lambda_dev"] <= SAME_RATIO_LAMBDA and g["acc_spread"] <= SAME_RATIO_ACC for g in same)
    )
    if len(same) >= 2:
        hi, lo = finite_mean(same[0]["lambda"]), finite_mean(same[-1]["lambda"])
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
        tv[f"{sweep}_rho_lambda"] = ratio_rho(table, "lambda_max")
        tv[f"{sweep}_rho_lambda_per_seed"] = [ratio_rho(table, "lambda_max", s) for s in range(seeds)]
        tv[f"{sweep}_rho_acc"] = ratio_rho(table, "test_accuracy")
    both = sweep_table(sweeps["eta"], protocol) + sweep_table(sweeps["batch"], protocol)
    tv["pooled_rho_acc"] = ratio_rho(both, "test_accuracy")
    tv["lambda_met"] = bool(max(tv["eta_rho_lambda"], tv["batch_rho_lambda"]) <= RHO_LAMBDA_MAX)
    tv["acc_met"] = bool(tv["pooled_rho_acc"] >= RHO_ACC_MIN)
    if "ratio" in sweeps:
        tv.update(_same_ratio_verdicts(sweep_table(sweeps["ratio"], protocol)))
    return tv


def _schedule_verdicts(sched: dict[str, Any]) -> dict[str, Any]:
    from rlcv.stats import mean_t

    acc = {m: finite_mean([r["test_accuracy"] for r in runs]) for m, runs in sched.items()}
    lam = {m: finite_mean([r["lambda_max"] for r in runs]) for m, runs in sched.items()}
    out: dict[str, Any] = {
        "accuracy": acc,
        "lambda_max": lam,
        "examples": {m: finite_mean([r["examples"] for r in runs]) for m, runs in sched.items()},
        "sgd_steps": {m: finite_mean([r["sgd_steps"] for r in runs]) for m, runs in sched.items()},
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
            # mean and 95 % t-interval of the paired differences (lr decay − growth), in points
            "paired_acc_ci": [100 * x for x in mean_t(paired).as_tuple()],
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


def _epoch_extremes(out: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The matched-loss settings (η and S sweeps) that got there in the fewest epochs, and the noisiest."""
    sweeps = out["sweeps"][out["spec"]["task"]]
    rows = [
        r for sw in ("eta", "batch") for r in sweep_table(sweeps[sw], "matched") if math.isfinite(r["epochs"])
    ]
    if not rows:
        return None, None
    return min(rows, key=lambda r: r["epochs"]), max(rows, key=lambda r: r["ratio"])


def _tables(out: dict[str, Any]) -> list[dict[str, Any]]:
    """One table per task and protocol: every setting's means over seeds, and its verdicts."""
    return [
        {
            "task": t,
            "protocol": protocol,
            "rows": [
                {"sweep": sw, **row} for sw, rows in sweeps.items() for row in sweep_table(rows, protocol)
            ],
            "tv": out["verdicts"].get(f"{t}_{protocol}", {}),
        }
        for t, sweeps in out["sweeps"].items()
        for protocol in PROTOCOLS
    ]


TARGETS = {
    "rho_lambda": RHO_LAMBDA_MAX,
    "rho_acc": RHO_ACC_MIN,
    "same_lambda": SAME_RATIO_LAMBDA,
    "same_acc": SAME_RATIO_ACC,
    "ratio_10x": RATIO_10X_LAMBDA,
    "schedule_acc": SCHEDULE_ACC,
    "schedule_lambda": SCHEDULE_LAMBDA,
}


def markdown(out: dict[str, Any]) -> str:
    """The page (``templates/sharpness.md.j2``) from the runs' summaries and the verdicts."""
    from rlcv.bench.report import render

    spec, v = out["spec"], out["verdicts"]
    task = spec["task"]
    targets = [(p, v[f"{task}_{p}"]) for p in PROTOCOLS if v.get(f"{task}_{p}")]
    same_devs = {
        p: [x for g in tv.get("same_ratio", []) for x in (g["lambda_dev"], g["acc_spread"])]
        for p, tv in targets
    }
    fastest, noisiest = _epoch_extremes(out)
    return render(
        "sharpness.md.j2",
        command=out["command"],
        spec=spec,
        t=TARGETS,
        targets=targets,
        same_devs=same_devs,
        sched=v.get("schedule", {}),
        schedule_protocols=(
            ("batch_growth_equal_examples", "equal examples (the paper's)"),
            ("batch_growth", "equal SGD steps"),
        ),
        m=v.get(f"{task}_matched"),
        fx=v.get(f"{task}_fixed"),
        d_m=v.get("digits_matched"),
        d_f=v.get("digits_fixed"),
        fastest=fastest,
        noisiest=noisiest,
        tables=_tables(out),
        run_minutes=run_minutes(out),
        f=_f,
        g=lambda x: f"{x:g}",
        ci=lambda iv: (
            f"{iv[0]:+.2f} [{iv[1]:+.2f}, {iv[2]:+.2f}]" if math.isfinite(iv[1]) else f"{iv[0]:+.2f}"
        ),
        nan=math.nan,
    )


def run_minutes(out: dict[str, Any]) -> float:
    runs = [r for sw in out["sweeps"].values() for rows in sw.values() for rs in rows for r in rs]
    runs += [r for rs in out["schedules"].values() for r in rs]
    return sum(r["wall_s"] for r in runs) / 60


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
