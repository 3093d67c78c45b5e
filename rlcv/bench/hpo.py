"""`rlcv bench hpo`: online hyper-parameter controllers vs Optuna TPE vs a fixed-lr grid (the first HPO
bench; `rlcv bench hpo-budget` is its successor, with paired intervals and explicit compute units).

Every method trains ``rlcv/OnlineHPO-v0`` (an MLP on digits with SGD unless ``--env-kwargs`` say
otherwise; ``budget`` inner SGD steps per full run) through the runners of :mod:`rlcv.hpo.runners`,
the same ones as `hpo-budget`: for bench seed s every run's inner seed (init, minibatch order) is s.

- ``grid``: every ``--grid`` learning rate (batch size and L2 at the env defaults), the one with the
  lowest final validation loss reported per seed; ``default``: the grid's run at the env's initial lr,
  where the online controllers start.
- ``optuna-tpe``: Optuna's TPE sampler, ``--trials`` full runs over (lr, batch size, L2 weight).
- ``hpo-ucb1``, ``hpo-dts``, ``hpo-hd``, ``hpo-forward``, ``hpo-floor``: one run each through the loop.
- ``hpo-pbt``: a population of ``--pbt-population`` runs through the loop; the best member reported.
- ``ppo``: PPO meta-trained once (``--meta-episodes`` inner runs on seeds of
  :data:`rlcv.hpo.runners.META_SEED_RANGE`), then its deterministic policy once per bench seed.

Summaries: one per (method, seed) under OUT/per_run (a rerun resumes); OUT/hpo.json holds the records
the page (``templates/hpo.md.j2``) and OUT/hpo.png are made from, and ``--report-only`` rebuilds them
from it. Pages made before the runners were merged (hpo.json without ``runner``) say so.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import statistics
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rlcv.bench.checks import int_range, out_dir, positive_float, positive_int, seed_count
from rlcv.bench.flags import add_flags, command_line, flag, spec_of
from rlcv.bench.runs import SummaryStore, Task, add_pool_flags, pool_of, run_tasks
from rlcv.cli_args import parse_env_kwargs

CONTROLLERS = ("hpo-ucb1", "hpo-dts", "hpo-hd", "hpo-forward", "hpo-floor")
ALL_METHODS = ("grid", "optuna-tpe", *CONTROLLERS, "hpo-pbt", "ppo")
# The question the table answers: does an online controller get within MAX_ACCURACY_GAP of Optuna's
# test accuracy (a fraction: 0.01 = 1 percentage point of the mean over seeds) while spending at most
# MAX_COMPUTE_RUNS full runs' compute? The JSON keeps the answer under "target" / "target_by_examples".
MAX_ACCURACY_GAP = 0.01
MAX_COMPUTE_RUNS = 2.0
RUNNER = "rlcv.hpo.runners"  # hpo.json's "runner": pages made before the merge have none


@dataclass(kw_only=True)
class HPOBenchSpec:
    seeds: int = flag(5, type=seed_count, help="seeds 0..N-1 (each fixes the inner run's seed)")
    budget: int = flag(1500, type=positive_int, help="inner SGD steps per full run")
    steps_per_action: int = flag(50, type=positive_int, help="inner SGD steps per controller decision")
    trials: int = flag(20, type=positive_int, help="Optuna TPE trials (full runs) per seed")
    grid: list[float] = flag(
        [0.01, 0.03, 0.1, 0.3, 1.0, 3.0], type=positive_float, help="fixed learning rates"
    )
    meta_episodes: int = flag(100, type=positive_int, help="inner runs of PPO meta-training")
    pbt_population: list[int] = flag([4, 2], type=int_range(2), help="PBT population sizes")
    methods: list[str] = flag(list(ALL_METHODS))
    env_kwargs: dict[str, Any] = flag({}, type=parse_env_kwargs, help="extra env kwargs for every method")
    out: str = flag("results/hpo_v1", type=out_dir, help="writes OUT/hpo.md, OUT/hpo.json, OUT/hpo.png")
    work_dir: str | None = flag(
        None, command=False, type=out_dir, help="new folder for PPO's meta-trained policy (default: OUT/runs)"
    )

    def command(self) -> str:
        """The `rlcv bench hpo` command line that regenerates these results."""
        return command_line("rlcv bench hpo", self)

    def env_kwargs_full(self) -> dict[str, Any]:
        return {**self.env_kwargs, "budget": self.budget, "steps_per_action": self.steps_per_action}


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``rlcv bench hpo`` to the bench subparsers."""
    hpo = sub.add_parser(
        "hpo", help="online HPO controllers vs Optuna TPE vs a fixed-lr grid (rlcv/OnlineHPO-v0)"
    )
    add_flags(hpo, HPOBenchSpec)
    hpo.add_argument(
        "--report-only", action="store_true", help="rebuild OUT/hpo.md and OUT/hpo.png from OUT/hpo.json"
    )
    add_pool_flags(hpo)
    hpo.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    if args.report_only:
        print(report_only(Path(args.out)))
        return 0
    run_bench(spec_of(HPOBenchSpec, args), **pool_of(args))
    return 0


# --------------------------------------------------------------------------------------- the runs


def run_grid(env_kwargs: dict[str, Any], seed: int, grid: list[float]) -> dict[str, Any]:
    """Every grid learning rate on inner seed ``seed`` (:func:`rlcv.hpo.runners.run_fixed`), by lr."""
    from rlcv.hpo.runners import run_fixed

    return {f"{lr:g}": run_fixed(env_kwargs, seed, lr) for lr in grid}


def _ppo_dir(spec: HPOBenchSpec) -> Path:
    return Path(spec.work_dir or Path(spec.out) / "runs") / "ppo-meta"


def _tasks(spec: HPOBenchSpec) -> list[Task]:
    """Every run, seed-major (an interrupted bench holds complete seeds); a PBT size is a run of its own."""
    from rlcv.hpo import runners as R

    kw = spec.env_kwargs_full()
    params = {k: getattr(spec, k) for k in ("budget", "steps_per_action", "trials", "grid", "meta_episodes")}
    params["env_kwargs"] = spec.env_kwargs
    tasks = []
    for seed in range(spec.seeds):
        for m in spec.methods:
            if m == "hpo-pbt":
                for n in spec.pbt_population:
                    compute = partial(R.run_controller, kw, seed, "hpo-pbt", n_envs=n)
                    tasks.append(Task(f"hpo-pbt-n{n}_s{seed}", params, compute))
                continue
            compute = {
                "grid": partial(run_grid, kw, seed, spec.grid),
                "optuna-tpe": partial(R.run_search, kw, seed, "tpe", spec.trials),
                "ppo": partial(R.run_ppo, kw, seed, _ppo_dir(spec)),
            }.get(m, partial(R.run_controller, kw, seed, m))
            tasks.append(Task(f"{m}_s{seed}", params, compute))
    return tasks


def _record(summary: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A runner's summary as the page's record: final numbers, hyper-parameters, compute, trace."""
    keys = ("test_accuracy", "test_loss", "val_loss", "diverged")
    cost = {k: summary["cost"][k] for k in ("sgd_steps", "examples", "wall_s")}
    return {
        **{k: summary[k] for k in keys},
        **summary["hparams"],
        **cost,
        "trace": summary.get("trace", []),
        **extra,
    }


def _grid_records(runs: dict[str, dict[str, Any]], default_lr: float) -> dict[str, Any]:
    """The grid's reported record (lowest final validation loss, every grid run's compute) and its run at
    the env's default lr (None when that lr is not on the grid)."""
    best = min(runs.values(), key=lambda r: r["val_loss"])
    spent = {k: sum(r["cost"][k] for r in runs.values()) for k in ("sgd_steps", "examples", "wall_s")}
    trials = [
        {"lr": float(lr), "val_loss": r["val_loss"], "test_accuracy": r["test_accuracy"]}
        for lr, r in runs.items()
    ]
    default = next((_record(r) for lr, r in runs.items() if math.isclose(float(lr), default_lr)), None)
    return {"grid": {**_record(best), **spent, "trials": trials}, "default": default}


def _results(
    spec: HPOBenchSpec, done: dict[str, dict[str, Any]], meta: dict[str, Any] | None
) -> dict[str, list[dict[str, Any]]]:
    """Method name (grid and default apart, one per PBT size) → its records over seeds."""
    from rlcv.hpo.runners import first_k

    pbt = [f"hpo-pbt-n{k}" for k in spec.pbt_population]
    names = [n for m in spec.methods for n in {"grid": ["grid", "default"], "hpo-pbt": pbt}.get(m, [m])]
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for seed in range(spec.seeds):
        for name in (n for n in names if n != "default"):
            r = done[f"{name}_s{seed}"]
            if name == "grid":
                grid = _grid_records(r, _env_default(spec, "lr_init"))
                results["grid"].append(grid["grid"])
                results["default"] += [grid["default"]] if grid["default"] is not None else []
            elif name == "optuna-tpe":
                results[name].append(_record(first_k(r, spec.trials), trials=r["trials"]))
            elif name == "ppo" and meta:
                results[name].append(
                    _record(r, meta_sgd_steps=meta["cost"]["sgd_steps"], meta_wall_s=meta["cost"]["wall_s"])
                )
            else:
                results[name].append(_record(r))
    return {k: v for k, v in results.items() if v}


def _env_default(spec: HPOBenchSpec, name: str) -> Any:
    """An ``OnlineHPOEnv`` setting as this bench runs it: ``--env-kwargs`` or the env's default."""
    from rlcv.envs.online_hpo import OnlineHPOEnv

    return spec.env_kwargs.get(name, inspect.signature(OnlineHPOEnv).parameters[name].default)


def _check_spec(spec: HPOBenchSpec) -> None:
    """Every refusal before the first run: unknown methods, Optuna, the work folder, the env."""
    from rlcv.bench.checks import check_online_hpo
    from rlcv.errors import RlcvError

    unknown = [m for m in spec.methods if m not in ALL_METHODS]
    if unknown:
        raise RlcvError(f"unknown --methods {unknown}; choose from {', '.join(ALL_METHODS)}.")
    tpe = "the optuna-tpe baseline (or leave it out of --methods)" if "optuna-tpe" in spec.methods else None
    check_online_hpo(spec.env_kwargs_full(), optuna=tpe)
    if spec.work_dir and Path(spec.work_dir).exists() and any(Path(spec.work_dir).iterdir()):
        raise RlcvError(
            f"--work-dir '{spec.work_dir}' is not empty; pass a new folder (run directories are never "
            "overwritten)."
        )


def _meta(spec: HPOBenchSpec, per_run: Path) -> dict[str, Any] | None:
    """PPO meta-trained once (``per_run/ppo-meta.json``, the policy in :func:`_ppo_dir`), when ppo runs."""
    if "ppo" not in spec.methods:
        return None
    from rlcv.bench.hpo_budget import meta_trained
    from rlcv.hpo.runners import ppo_meta_train

    train = partial(ppo_meta_train, spec.env_kwargs_full(), _ppo_dir(spec), spec.meta_episodes, 0)
    return meta_trained(per_run, "ppo-meta", _ppo_dir(spec), train)


def run_bench(spec: HPOBenchSpec, **pool: Any) -> dict[str, Any]:
    """Every run through :func:`rlcv.bench.runs.run_tasks` (summaries in OUT/per_run, so a rerun
    resumes; ``pool``: its workers / backend / address), then the page."""
    from rlcv.envs.online_hpo import OnlineHPOEnv

    _check_spec(spec)
    import torch

    torch.set_num_threads(1)  # as every training run does: tiny matmuls, and a shared machine
    start = time.perf_counter()
    per_run = Path(spec.out) / "per_run"
    meta = _meta(spec, per_run)
    done = run_tasks(SummaryStore(per_run), _tasks(spec), **pool)
    results = _results(spec, done, meta)
    out: dict[str, Any] = {
        "spec": asdict(spec),
        "command": spec.command(),
        "runner": RUNNER,
        "env_id": "rlcv/OnlineHPO-v0",
        "n_test": len(OnlineHPOEnv(**spec.env_kwargs_full()).data["test"][1]),
        "default_batch_size": int(_env_default(spec, "batch_size_init")),
        "wall_s": time.perf_counter() - start,
        "results": results,
    }
    out["table"] = summarise(results, spec.budget, out["default_batch_size"])
    out["target"] = budget_verdict(out["table"])
    out["target_by_examples"] = budget_verdict(out["table"], "example_runs")
    write_outputs(out, Path(spec.out))
    return out


# ---------------------------------------------------------------------------------------- the table


def _mean_std(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.inf, 0.0
    return statistics.fmean(finite), statistics.pstdev(finite) if len(finite) > 1 else 0.0


def summarise(results: dict[str, list[dict[str, Any]]], budget: int, batch_size: int) -> list[dict[str, Any]]:
    """One row per method: means (± std of test accuracy) over seeds; compute in runs of SGD steps and of
    examples (a default run: ``budget`` steps at ``batch_size``)."""
    rows = []
    for name, runs in results.items():
        acc = _mean_std([r["test_accuracy"] for r in runs])
        row = {
            "method": name,
            "seeds": len(runs),
            "test_accuracy_mean": acc[0],
            "test_accuracy_std": acc[1],
            "test_loss_mean": _mean_std([r["test_loss"] for r in runs])[0],
            "val_loss_mean": _mean_std([r["val_loss"] for r in runs])[0],
            "diverged": sum(bool(r["diverged"]) for r in runs),
            "compute_runs": statistics.fmean(r["sgd_steps"] for r in runs) / budget,
            "example_runs": statistics.fmean(r["examples"] for r in runs) / (budget * batch_size),
            "wall_s": statistics.fmean(r["wall_s"] for r in runs),
            "online": name.startswith("hpo-") or name == "ppo",
        }
        if name == "ppo":
            row["meta_compute_runs"] = statistics.fmean(r["meta_sgd_steps"] for r in runs) / budget
            row["meta_wall_s"] = statistics.fmean(r["meta_wall_s"] for r in runs)
        rows.append(row)
    return rows


def budget_verdict(table: list[dict[str, Any]], measure: str = "compute_runs") -> dict[str, Any]:
    """Is the best online controller within MAX_ACCURACY_GAP of Optuna's test accuracy at at most
    MAX_COMPUTE_RUNS runs' compute? ``measure``: ``compute_runs`` (SGD steps executed) or
    ``example_runs`` (training examples processed, which also charges for larger batches)."""
    by_name = {r["method"]: r for r in table}
    if "optuna-tpe" not in by_name:
        return {"evaluated": False, "reason": "optuna-tpe was not run"}
    eligible = [r for r in table if r["online"] and r[measure] <= MAX_COMPUTE_RUNS + 1e-9]
    if not eligible:
        return {
            "evaluated": False,
            "reason": f"no online controller within {MAX_COMPUTE_RUNS:g} runs ({measure})",
        }
    best = max(eligible, key=lambda r: r["test_accuracy_mean"])
    optuna_acc = by_name["optuna-tpe"]["test_accuracy_mean"]
    gap = optuna_acc - best["test_accuracy_mean"]
    return {
        "evaluated": True,
        "measure": measure,
        "best_online": best["method"],
        "best_online_accuracy": best["test_accuracy_mean"],
        "optuna_accuracy": optuna_acc,
        "gap": gap,
        "compute_runs": best["compute_runs"],
        "example_runs": best["example_runs"],
        "met": bool(gap <= MAX_ACCURACY_GAP),
        "meta_training_compute_runs": best.get("meta_compute_runs"),
    }


# ---------------------------------------------------------------------------------------- output


def markdown(out: dict[str, Any]) -> str:
    """The page (``templates/hpo.md.j2``) from hpo.json's content."""
    from rlcv.bench.report import render
    from rlcv.bench.stats import paired_t

    results = out["results"]
    optuna = [r["test_accuracy"] for r in results.get("optuna-tpe", [])]
    gaps = {  # Optuna − controller per seed (paired: the same inner seed), where both ran every seed
        m: paired_t(optuna, [r["test_accuracy"] for r in recs])
        for m, recs in results.items()
        if len(recs) == len(optuna) and m != "optuna-tpe"
    }
    return render(
        "hpo.md.j2",
        out=out,
        gaps={m: _points(iv) for m, iv in gaps.items()},
        env_json=json.dumps(out["spec"]["env_kwargs"]),
        spec=out["spec"],
        superseded=out.get("runner") != RUNNER,
        n_test=out.get("n_test", 397),
        gap=MAX_ACCURACY_GAP,
        runs=MAX_COMPUTE_RUNS,
        pct=lambda v: f"{100 * v:.2f}" if math.isfinite(v) else "—",
        g=lambda x: f"{x:g}",
    )


def _points(iv: Any) -> Any:
    """An interval of accuracy fractions in points."""
    from dataclasses import replace

    return replace(iv, point=100 * iv.point, low=100 * iv.low, high=100 * iv.high)


def plot(out: dict[str, Any], path: Path) -> None:
    """The hyper-parameter schedules of seed 0 (learning rate, batch size), fixed ones dashed."""
    import numpy as np

    from rlcv.bench.report import figure

    with figure(path, 1, 2, dpi=120, figsize=(11, 4)) as (_, axes):
        for name, runs in out["results"].items():
            trace = np.asarray(runs[0].get("trace", []), dtype=float)
            style = "-" if name.startswith("hpo-") or name == "ppo" else "--"
            for ax, col in zip(axes, (1, 2), strict=True):
                if len(trace):
                    ax.step(trace[:, 0], trace[:, col], where="post", ls=style, label=name)
        for ax, label in zip(axes, ("learning rate", "batch size"), strict=True):
            ax.set(yscale="log", xlabel="inner SGD step", ylabel=label)
        axes[0].set_title("seed 0 (dashed: fixed configurations)")
        axes[1].legend(fontsize=7, ncol=2)


def report_only(out_dir: Path) -> str:
    """Rebuild OUT/hpo.md and OUT/hpo.png from OUT/hpo.json (no training); returns the page."""
    from rlcv.errors import RlcvError

    if not (out_dir / "hpo.json").is_file():
        raise RlcvError(
            f"--report-only: {out_dir / 'hpo.json'} not found; run the bench without --report-only first "
            "(or point --out at the folder that holds it)."
        )
    out = json.loads((out_dir / "hpo.json").read_text())
    (out_dir / "hpo.md").write_text(markdown(out))
    plot(out, out_dir / "hpo.png")
    return markdown(out)


def write_outputs(out: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "hpo.json").write_text(json.dumps(out, indent=1, default=float))
    (out_dir / "hpo.md").write_text(markdown(out))
    plot(out, out_dir / "hpo.png")
    print(f"wrote {out_dir / 'hpo.md'}, {out_dir / 'hpo.json'}, {out_dir / 'hpo.png'}")
