"""`rlcv bench hpo`: online hyper-parameter controllers vs Optuna TPE vs a fixed-lr grid.

Everything trains the same inner problem, ``rlcv/OnlineHPO-v0`` (an MLP on digits with SGD, a fixed
split, ``budget`` inner SGD steps per full run), and for bench seed s every method starts from the
same inner seed (network init, minibatch order): the env is reset with seed s.

- ``grid``: the best of a few fixed learning rates (batch size and L2 weight at the env defaults),
  chosen by final validation loss; ``default`` is the grid's run at the env's initial lr, i.e. what
  the online controllers start from if they never act.
- ``optuna-tpe``: Optuna's TPE sampler, ``trials`` full runs over (lr, batch size, L2 weight) log-uniform
  in the env's clipping ranges; objective = final validation loss; the best trial's test numbers.
- ``hpo-ucb1``, ``hpo-dts``, ``hpo-hd``, ``hpo-forward``, ``hpo-floor``: one inner run each through the
  agent loop (``rlcv train``), starting from the env's default hyper-parameters.
- ``hpo-pbt``: a population of ``--pbt-population`` runs through the loop (random initial
  configurations); the member with the best final validation loss is reported.
- ``ppo``: PPO meta-trained through the loop for ``meta_episodes`` inner runs on other inner seeds
  (bench seed 1000 + s), then one deterministic run on the bench seed's inner run.

Test numbers are read from the env's episode log (the test set is only used when a run ends).
Compute = inner SGD steps actually executed (a forward-mode step also costs two Hessian-vector
products; a PBT member copy costs none). Every method is also timed.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from rlcv.bench.checks import int_range, out_dir, positive_float, positive_int, seed_count
from rlcv.bench.flags import add_flags, command_line, flag, spec_of
from rlcv.bench.runs import SummaryStore, Task, add_pool_flags, pool_of, run_tasks
from rlcv.cli_args import parse_env_kwargs
from rlcv.hpo.runners import ENV_ID, _suggest, read_log, timed_train

CONTROLLERS = ("hpo-ucb1", "hpo-dts", "hpo-hd", "hpo-forward", "hpo-floor")
ALL_METHODS = ("grid", "optuna-tpe", *CONTROLLERS, "hpo-pbt", "ppo")
# The question the table answers: does an online controller get within MAX_ACCURACY_GAP of Optuna's
# test accuracy (a fraction: 0.01 = 1 percentage point of the mean over seeds) while spending at most
# MAX_COMPUTE_RUNS full runs' compute? (Optuna spends --trials full runs.) The JSON keeps the answer
# under "target" / "target_by_examples".
MAX_ACCURACY_GAP = 0.01
MAX_COMPUTE_RUNS = 2.0


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


@dataclass(kw_only=True)
class HPOBenchSpec:
    seeds: int = flag(5, type=seed_count, help="seeds 0..N-1 (each fixes the inner run's seed)")
    budget: int = flag(1500, type=positive_int, help="inner SGD steps per full run")
    steps_per_action: int = flag(50, type=positive_int, help="inner SGD steps per controller decision")
    trials: int = flag(20, type=positive_int, help="Optuna TPE trials (full runs) per seed")
    grid: list[float] = flag(
        [0.01, 0.03, 0.1, 0.3, 1.0, 3.0], type=positive_float, help="fixed learning rates"
    )
    meta_episodes: int = flag(100, type=positive_int, help="inner runs of PPO meta-training per seed")
    pbt_population: list[int] = flag([4, 2], type=int_range(2), help="PBT population sizes")
    methods: list[str] = flag(list(ALL_METHODS))
    env_kwargs: dict[str, Any] = flag({}, type=parse_env_kwargs, help="extra env kwargs for every method")
    out: str = flag("results/hpo_v1", type=out_dir, help="writes OUT/hpo.md, OUT/hpo.json, OUT/hpo.png")
    work_dir: str | None = flag(
        None,
        command=False,
        type=out_dir,
        help="new folder for run directories and episode logs (default: a temp dir)",
    )

    def command(self) -> str:
        """The `rlcv bench hpo` command line that regenerates these results."""
        return command_line("rlcv bench hpo", self)


# ------------------------------------------------------------------------------- single runs


def _env_kwargs(spec: HPOBenchSpec, **extra: Any) -> dict[str, Any]:
    return {**spec.env_kwargs, "budget": spec.budget, "steps_per_action": spec.steps_per_action, **extra}


def fixed_run(spec: HPOBenchSpec, seed: int, hparams: dict[str, float]) -> dict[str, Any]:
    """One full inner run with constant hyper-parameters (the env stepped with the 'no change' action)."""
    from rlcv.envs.online_hpo import OnlineHPOEnv

    env = OnlineHPOEnv(**_env_kwargs(spec))
    env.reset(seed=seed, options={"hparams": hparams})
    shape = env.action_space.shape
    assert shape is not None, "OnlineHPOEnv's action space is a Box"
    zero = np.zeros(shape, np.float32)
    while True:
        _, _, terminated, truncated, info = env.step(zero)
        if terminated or truncated:
            return info["episode"]


def _best(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The record with the lowest final validation loss (diverged runs have +inf)."""
    return min(records, key=lambda r: r["val_loss"])


def _summary(best: dict[str, Any], spent: list[dict[str, Any]], wall: float, **extra: Any) -> dict[str, Any]:
    """The reported run ``best`` and the compute of every run in ``spent`` (SGD steps, examples)."""
    keys = (
        "test_accuracy",
        "test_loss",
        "val_loss",
        "val_accuracy",
        "diverged",
        "lr",
        "batch_size",
        "weight_decay",
        "inner_seed",
        "trace",
    )
    return {
        **{k: best[k] for k in keys},
        "sgd_steps": sum(r["sgd_steps"] for r in spent),
        "examples": sum(r["examples"] for r in spent),
        "wall_s": wall,
        **extra,
    }


def run_grid(spec: HPOBenchSpec, seed: int) -> dict[str, Any]:
    """{"grid": best-of-grid, "default": the run at the env's default lr if it is on the grid, else None}."""
    start = time.perf_counter()
    runs = {lr: fixed_run(spec, seed, {"lr": lr}) for lr in spec.grid}
    wall = time.perf_counter() - start
    best = _best(list(runs.values()))
    trials = [
        {"lr": lr, "val_loss": r["val_loss"], "test_accuracy": r["test_accuracy"]} for lr, r in runs.items()
    ]
    grid = _summary(best, list(runs.values()), wall, trials=trials)
    from rlcv.envs.online_hpo import OnlineHPOEnv

    default_lr = spec.env_kwargs.get("lr_init", inspect.signature(OnlineHPOEnv).parameters["lr_init"].default)
    default = None
    for lr, r in runs.items():
        if math.isclose(lr, default_lr):
            default = _summary(r, [r], wall / len(runs))
    return {"grid": grid, "default": default}


def run_optuna(spec: HPOBenchSpec, seed: int) -> dict[str, Any]:
    import optuna  # run_bench has checked that it is installed

    from rlcv.envs.online_hpo import OnlineHPOEnv

    ranges = OnlineHPOEnv(**_env_kwargs(spec)).ranges
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    records: list[dict[str, Any]] = []

    def objective(trial: Any) -> float:
        record = fixed_run(spec, seed, _suggest(trial, ranges))
        records.append(record)
        # A diverged run is the worst possible outcome, as a finite number TPE can model.
        return record["val_loss"] if math.isfinite(record["val_loss"]) else 1e3

    start = time.perf_counter()
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=spec.trials)
    wall = time.perf_counter() - start
    keys = ("lr", "batch_size", "weight_decay", "val_loss", "test_accuracy")
    return _summary(_best(records), records, wall, trials=[{k: r[k] for k in keys} for r in records])


def _train(
    spec: HPOBenchSpec,
    algo: str,
    seed: int,
    steps: int,
    run_dir: Path,
    log: Path,
    overrides: dict[str, Any] | None = None,
) -> float:
    overrides = {"env_kwargs": _env_kwargs(spec, episode_log=str(log)), **(overrides or {})}
    command = [
        "train",
        "--algo",
        algo,
        "--env",
        ENV_ID,
        "--steps",
        str(steps),
        "--seed",
        str(seed),
        "--run-dir",
        str(run_dir),
    ]
    return timed_train(algo, seed, steps, run_dir, overrides, command)


def episode_env_steps(spec: HPOBenchSpec) -> int:
    return math.ceil(spec.budget / spec.steps_per_action)


def run_controller(spec: HPOBenchSpec, algo: str, seed: int, work: Path, n_envs: int = 1) -> dict[str, Any]:
    """One episode per env through the loop; the best member (by validation loss) is reported."""
    name = algo if algo != "hpo-pbt" else f"{algo}-n{n_envs}"
    log = work / f"{name}_s{seed}.jsonl"
    overrides = {"n_envs": n_envs} if algo == "hpo-pbt" else {}
    steps = episode_env_steps(spec) * n_envs
    wall = _train(spec, algo, seed, steps, work / f"{name}_s{seed}", log, overrides)
    records = read_log(log)
    finished = [r for r in records if r["steps_done"] >= spec.budget] or records
    return _summary(_best(finished), records, wall, population=n_envs)


def run_ppo(spec: HPOBenchSpec, seed: int, work: Path) -> dict[str, Any]:
    """Meta-train PPO on other inner seeds, then run its deterministic policy once on the bench seed."""
    from rlcv.config import preset
    from rlcv.evaluation import evaluate, load_policy

    run_dir, meta_log, test_log = (
        work / f"ppo_s{seed}",
        work / f"ppo_s{seed}_meta.jsonl",
        work / f"ppo_s{seed}.jsonl",
    )
    steps = spec.meta_episodes * episode_env_steps(spec)
    # The preset's rollout (n_steps) spans 5 default runs; never collect more than the meta-training budget.
    n_steps = min(int(preset("ppo", ENV_ID).get("n_steps", steps)), steps)
    wall = _train(spec, "ppo", 1000 + seed, steps, run_dir, meta_log, {"n_steps": n_steps})
    start = time.perf_counter()
    _, policy, normalizer = load_policy(run_dir)
    evaluate(
        policy,
        ENV_ID,
        episodes=1,
        obs_normalizer=normalizer,
        seed=seed,
        env_kwargs=_env_kwargs(spec, episode_log=str(test_log)),
    )
    wall_test = time.perf_counter() - start
    test = read_log(test_log)[-1]
    meta_records = read_log(meta_log)

    def mean_accuracy(records: list[dict[str, Any]]) -> float | None:
        return float(np.mean([r["test_accuracy"] for r in records])) if records else None

    return _summary(
        test,
        [test],
        wall_test,
        meta_sgd_steps=sum(r["sgd_steps"] for r in meta_records),
        meta_wall_s=wall,
        meta_episodes=len(meta_records),
        meta_first10_test_accuracy=mean_accuracy(meta_records[:10]),
        meta_last10_test_accuracy=mean_accuracy(meta_records[-10:]),
    )


# ------------------------------------------------------------------------------------ the bench


def method_names(spec: HPOBenchSpec) -> list[str]:
    names: list[str] = []
    for m in spec.methods:
        if m == "grid":
            names += ["grid", "default"]
        elif m == "hpo-pbt":
            names += [f"hpo-pbt-n{n}" for n in spec.pbt_population]
        else:
            names.append(m)
    return names


def _check_spec(spec: HPOBenchSpec) -> None:
    """Every refusal before the first run: unknown methods, sizes, Optuna, the work folder, the env."""
    from rlcv.errors import RlcvError

    unknown = [m for m in spec.methods if m not in ALL_METHODS]
    if unknown:
        raise RlcvError(f"unknown --methods {unknown}; choose from {', '.join(ALL_METHODS)}.")
    if spec.seeds < 1 or spec.trials < 1 or spec.budget < 1 or not spec.grid:
        raise RlcvError("--seeds, --trials and --budget must be >= 1 and --grid non-empty.")
    if "optuna-tpe" in spec.methods:
        try:
            import optuna  # noqa: F401
        except ImportError as exc:
            raise RlcvError(
                "the optuna-tpe baseline needs Optuna: pip install 'rlcv[hpo]' (or leave "
                "optuna-tpe out of --methods)."
            ) from exc
    if spec.work_dir and Path(spec.work_dir).exists() and any(Path(spec.work_dir).iterdir()):
        raise RlcvError(
            f"--work-dir '{spec.work_dir}' is not empty; pass a new folder (run directories are never "
            "overwritten)."
        )
    from rlcv.envs.online_hpo import OnlineHPOEnv

    try:  # every method builds this env: bad --env-kwargs fail here, before any run
        OnlineHPOEnv(**_env_kwargs(spec))
    except (TypeError, ValueError) as exc:
        raise RlcvError(f"--env-kwargs rejected by {ENV_ID}: {exc}") from exc


def _tasks(spec: HPOBenchSpec, work: Path) -> list[Task]:
    """Every run of the bench, seed-major (an interrupted bench holds complete paired seeds); a PBT
    population size is a run of its own."""
    params = {k: getattr(spec, k) for k in ("budget", "steps_per_action", "trials", "grid", "meta_episodes")}
    params["env_kwargs"] = spec.env_kwargs
    tasks = []
    for seed in range(spec.seeds):
        for m in spec.methods:
            if m == "hpo-pbt":
                for n in spec.pbt_population:
                    compute = partial(run_controller, spec, m, seed, work, n_envs=n)
                    tasks.append(Task(f"hpo-pbt-n{n}_s{seed}", params, compute))
                continue
            if m == "grid":
                compute = partial(run_grid, spec, seed)
            elif m == "optuna-tpe":
                compute = partial(run_optuna, spec, seed)
            elif m == "ppo":
                compute = partial(run_ppo, spec, seed, work)
            else:
                compute = partial(run_controller, spec, m, seed, work)
            tasks.append(Task(f"{m}_s{seed}", params, compute))
    return tasks


def _results(spec: HPOBenchSpec, done: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Method name (grid and default apart, one per PBT size) → its records over seeds."""
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in method_names(spec)}
    for seed in range(spec.seeds):
        for name in method_names(spec):
            if name == "default":
                continue
            r = done[f"{name}_s{seed}"]
            if name == "grid":
                results["default"] += [r["default"]] if r["default"] is not None else []
                r = r["grid"]
            results[name].append(r)
    return {k: v for k, v in results.items() if v}


def run_bench(spec: HPOBenchSpec, **pool: Any) -> dict[str, Any]:
    """Every run through :func:`rlcv.bench.runs.run_tasks` (summaries in OUT/per_run, so a rerun
    resumes; ``pool``: its workers / backend / address), then the page."""
    _check_spec(spec)
    work = Path(spec.work_dir) if spec.work_dir else Path(tempfile.mkdtemp(prefix="rlcv-bench-hpo-"))
    work.mkdir(parents=True, exist_ok=True)
    import torch

    torch.set_num_threads(1)  # as every training run does: tiny matmuls, and a shared machine
    start = time.perf_counter()
    done = run_tasks(SummaryStore(Path(spec.out) / "per_run"), _tasks(spec, work), **pool)
    results = _results(spec, done)
    out: dict[str, Any] = {
        "spec": asdict(spec),
        "command": spec.command(),
        "env_id": ENV_ID,
        "n_test": n_test_examples(spec),
        "default_batch_size": default_batch_size(spec),
        "work_dir": str(work),
        "wall_s": time.perf_counter() - start,
        "results": results,
        "table": summarise(results, spec),
    }
    out["target"] = budget_verdict(out["table"])
    out["target_by_examples"] = budget_verdict(out["table"], "example_runs")
    write_outputs(out, spec)
    return out


def _mean_std(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.inf, 0.0
    return statistics.fmean(finite), statistics.pstdev(finite) if len(finite) > 1 else 0.0


def n_test_examples(spec: HPOBenchSpec) -> int:
    from rlcv.envs.online_hpo import OnlineHPOEnv

    return len(OnlineHPOEnv(**_env_kwargs(spec)).data["test"][1])


def default_batch_size(spec: HPOBenchSpec) -> int:
    from rlcv.envs.online_hpo import OnlineHPOEnv

    return int(
        spec.env_kwargs.get(
            "batch_size_init", inspect.signature(OnlineHPOEnv).parameters["batch_size_init"].default
        )
    )


def summarise(results: dict[str, list[dict[str, Any]]], spec: HPOBenchSpec) -> list[dict[str, Any]]:
    rows = []
    default_examples = spec.budget * default_batch_size(spec)
    for name, runs in results.items():
        acc = [r["test_accuracy"] for r in runs]
        row = {
            "method": name,
            "seeds": len(runs),
            "test_accuracy_mean": _mean_std(acc)[0],
            "test_accuracy_std": _mean_std(acc)[1],
            "test_loss_mean": _mean_std([r["test_loss"] for r in runs])[0],
            "val_loss_mean": _mean_std([r["val_loss"] for r in runs])[0],
            "diverged": sum(bool(r["diverged"]) for r in runs),
            "compute_runs": statistics.fmean(r["sgd_steps"] for r in runs) / spec.budget,
            "example_runs": statistics.fmean(r["examples"] for r in runs) / default_examples,
            "wall_s": statistics.fmean(r["wall_s"] for r in runs),
            "online": name.startswith("hpo-") or name == "ppo",
        }
        if name == "ppo":
            row["meta_compute_runs"] = statistics.fmean(r["meta_sgd_steps"] for r in runs) / spec.budget
            row["meta_wall_s"] = statistics.fmean(r["meta_wall_s"] for r in runs)
        rows.append(row)
    return rows


def budget_verdict(table: list[dict[str, Any]], measure: str = "compute_runs") -> dict[str, Any]:
    """Is the best online controller within MAX_ACCURACY_GAP of Optuna's test accuracy at at most
    MAX_COMPUTE_RUNS runs' compute?

    ``measure`` is the compute column: ``compute_runs`` (SGD steps executed) or ``example_runs``
    (training examples processed, which also charges for larger batches)."""
    by_name = {r["method"]: r for r in table}
    if "optuna-tpe" not in by_name:
        return {"evaluated": False, "reason": "optuna-tpe was not run"}
    optuna_acc = by_name["optuna-tpe"]["test_accuracy_mean"]
    eligible = [r for r in table if r["online"] and r[measure] <= MAX_COMPUTE_RUNS + 1e-9]
    if not eligible:
        return {
            "evaluated": False,
            "reason": f"no online controller within {MAX_COMPUTE_RUNS:g} runs ({measure})",
        }
    best = max(eligible, key=lambda r: r["test_accuracy_mean"])
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


def _pct(v: float) -> str:
    return f"{100 * v:.2f}" if math.isfinite(v) else "—"


def _verdict_line(t: dict[str, Any], trials: int, unit: str) -> list[str]:
    if not t["evaluated"]:
        return [f"- By {unit}: not evaluated ({t['reason']})."]
    verdict = "**met**" if t["met"] else "**not met**"
    line = (
        f"- By {unit}: best online controller within {MAX_COMPUTE_RUNS:g} runs is `{t['best_online']}` at "
        f"{_pct(t['best_online_accuracy'])}% test accuracy ({t['compute_runs']:.2f} runs of SGD steps, "
        f"{t['example_runs']:.2f} runs of examples) vs Optuna TPE's best configuration "
        f"{_pct(t['optuna_accuracy'])}% ({trials} trials): gap {100 * t['gap']:+.2f} points → {verdict}."
    )
    if t.get("meta_training_compute_runs"):
        line += f" (Its compute excludes {t['meta_training_compute_runs']:.0f} runs of meta-training.)"
    return [line]


def _intro_lines(out: dict[str, Any]) -> list[str]:
    spec = out["spec"]
    n_test = out.get("n_test", 397)
    return [
        "# Online hyper-parameter optimisation: controllers vs Optuna TPE vs a fixed-lr grid",
        "",
        f"Regenerate: `{out['command']}`",
        "",
        (
            f"Inner problem `{out['env_id']}`: one-hidden-layer tanh MLP on scikit-learn digits (fixed "
            f"split, {n_test} test examples), SGD for **{spec['budget']} steps per full run**, "
            f"{spec['steps_per_action']} inner steps per controller decision; bench seed s fixes the "
            f"inner seed (init, minibatch order) for every method. {spec['seeds']} seeds; mean ± std over "
            "seeds. "
            "Online controllers start from the env defaults (lr 0.01, batch 32, L2 1e-4); PBT members start "
            "from random configurations. Selection everywhere is by final validation loss; the test set "
            "is read once per finished run."
        ),
        "",
        (
            "Compute is counted two ways, in full runs: **SGD steps** executed and "
            f"training **examples** processed, in units of a default run ({spec['budget']} steps × batch "
            f"{out.get('default_batch_size', 32)}), which also charges a controller for growing the batch."
        ),
        "",
        (
            "| method | SGD steps (runs) | examples (runs) | test accuracy % | test loss | final val loss "
            "| diverged | wall s / seed |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]


def _method_row(r: dict[str, Any]) -> str:
    compute = f"{r['compute_runs']:.2f}"
    if "meta_compute_runs" in r:
        compute += f" (+{r['meta_compute_runs']:.0f} meta-training)"
    wall = f"{r['wall_s']:.1f}" + (f" (+{r['meta_wall_s']:.0f} meta)" if "meta_wall_s" in r else "")
    accuracy = f"{_pct(r['test_accuracy_mean'])} ± {100 * r['test_accuracy_std']:.2f}"
    return (
        f"| {r['method']} | {compute} | {r['example_runs']:.2f} | {accuracy} | "
        f"{r['test_loss_mean']:.4f} | {r['val_loss_mean']:.4f} | {r['diverged']}/{r['seeds']} | "
        f"{wall} |"
    )


def _target_lines(out: dict[str, Any]) -> list[str]:
    spec = out["spec"]
    lines: list[str] = []
    lines += [
        "",
        (
            f"## Best online controller within {100 * MAX_ACCURACY_GAP:g}% test accuracy of Optuna at "
            f"≤ {MAX_COMPUTE_RUNS:g} full runs"
        ),
        "",
        f"{100 * MAX_ACCURACY_GAP:g}% is read as {100 * MAX_ACCURACY_GAP:g} percentage point of mean test "
        "accuracy over seeds.",
        "",
    ]
    lines += _verdict_line(out["target"], spec["trials"], "SGD steps")
    if "target_by_examples" in out:
        lines += _verdict_line(out["target_by_examples"], spec["trials"], "examples processed")
    return lines


def _per_seed_lines(out: dict[str, Any]) -> list[str]:
    spec = out["spec"]
    lines: list[str] = []
    lines += [
        "",
        "Per seed (test accuracy %):",
        "",
        "| method | " + " | ".join(f"s{s}" for s in range(spec["seeds"])) + " |",
        "|---|" + "---|" * spec["seeds"],
    ]
    for name, runs in out["results"].items():
        lines.append(f"| {name} | " + " | ".join(_pct(r["test_accuracy"]) for r in runs) + " |")
    return lines


def _notes_lines(out: dict[str, Any]) -> list[str]:
    n_test = out.get("n_test", 397)
    return [
        "",
        "Notes:",
        "",
        (
            f"- One test example is {100 / n_test:.2f} points of accuracy, so the "
            f"{100 * MAX_ACCURACY_GAP:g}-point gap is {n_test * MAX_ACCURACY_GAP:.1f} examples."
        ),
        "- `default` is the grid's run at lr 0.01, where the online controllers start.",
        (
            "- A forward-mode step also computes two Hessian-vector products (≈3× the wall time of a "
            "plain step); PBT's copies cost no SGD steps. PPO's meta-training runs on other inner seeds "
            "than the test run."
        ),
        (
            f"- Wall times are of a shared machine. Total {out['wall_s'] / 60:.1f} min. Per-seed records "
            "(final hyper-parameters, traces, Optuna / grid trials): `hpo.json`; schedules of seed 0: "
            "`hpo.png`."
        ),
        "",
    ]


def markdown(out: dict[str, Any]) -> str:
    lines = [*_intro_lines(out), *(_method_row(r) for r in out["table"])]
    lines += _target_lines(out)
    lines += _per_seed_lines(out)
    lines += _notes_lines(out)
    return "\n".join(lines)


def plot(out: dict[str, Any], path: Path) -> None:
    from rlcv.bench.report import figure

    with figure(path, 1, 2, dpi=120, figsize=(11, 4)) as (_, axes):
        for name, runs in out["results"].items():
            trace = np.asarray(runs[0]["trace"], dtype=float)
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

    path = out_dir / "hpo.json"
    if not path.is_file():
        raise RlcvError(
            f"--report-only: {path} not found; run the bench without --report-only first (or point --out "
            "at the folder that holds it)."
        )
    out = json.loads(path.read_text())
    text = markdown(out)
    (out_dir / "hpo.md").write_text(text)
    plot(out, out_dir / "hpo.png")
    return text


def write_outputs(out: dict[str, Any], spec: HPOBenchSpec) -> None:
    out_dir = Path(spec.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "hpo.json").write_text(json.dumps(out, indent=1, default=float))
    (out_dir / "hpo.md").write_text(markdown(out))
    plot(out, out_dir / "hpo.png")
    print(f"wrote {out_dir / 'hpo.md'}, {out_dir / 'hpo.json'}, {out_dir / 'hpo.png'}")
