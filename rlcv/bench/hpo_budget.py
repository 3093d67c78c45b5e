"""`rlcv bench hpo-budget`: online HPO controllers vs equal-budget baselines, paired seeds, explicit units.

Inner problem ``rlcv/OnlineHPO-v0`` (any ``--env-kwargs``); bench seed s is the inner seed of every run
of every method. Methods, all runners of :mod:`rlcv.hpo.runners` (one summary per method and seed under
OUT/per_run, resumable, launched by :func:`rlcv.bench.runs.run_tasks`):

- ``fixed`` / ``cosine``: each ``--grid`` lr (constant / cosine schedule; ``--cosine-grid``: the cosine
  runs' own grid); ``fixed-best`` /
  ``cosine-best``: the grid point with the lowest *mean* validation loss over seeds.
- ``random-{2,20}``, ``tpe-{2,20}``: the first 2 / all ``--trials`` trials of one study seeded with s
  (TPE's first 10 trials are its random start-up, so TPE-2 *is* random-2: common random numbers).
- ``sh-2``: synchronous successive halving within 2 runs; ``pbt-8``: PBT, 8 members (:data:`PBT`).
- controllers (:data:`CONTROLLERS`): 1 run each; ``ppo``: PPO meta-trained once on inner seeds of
  :data:`rlcv.hpo.runners.META_SEED_RANGE` only (``per_run/ppo-meta.json``; compute reported apart),
  then its deterministic policy for 1 run per evaluation seed.
- issue 30 (:mod:`rlcv.hpo.cosine_methods`): ``hpo-range``, ``hpo-sweep``, ``ppo-x`` and the
  equal-examples baselines ``sh-2-b32`` / ``pbt-2-b32`` / ``pb2-2-b32``; their targets:
  :mod:`rlcv.hpo.budget_targets`.

One run = one default run of the same seed, in each unit (SGD steps, examples, gradient passes, env
wall-clock); comparisons are paired 95 % t-intervals and their verdicts (:mod:`rlcv.hpo.method_results`). The
page: ``templates/hpo_budget.md.j2``. ``rlcv bench hpo-tuning`` (:func:`run_tuning`) tables this bench's
sweeps on the tuning seeds and the settings kept.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rlcv.bench.checks import (
    int_range,
    out_dir,
    out_file,
    positive_float,
    positive_int,
    seed_count,
    seed_value,
)
from rlcv.bench.flags import command_line, flag, spec_of
from rlcv.bench.report import add_bench
from rlcv.bench.runs import ResultStore, Task, add_pool_flags, pool_of, run_tasks
from rlcv.cli_args import parse_env_kwargs
from rlcv.hpo import method_results as mr
from rlcv.hpo.cosine_methods import COSINE_METHODS
from rlcv.hpo.runners import UNITS
from rlcv.hpo.sweep_cosine import config_arg
from rlcv.stats import jsonable

METHODS = ("fixed", "cosine", "random", "tpe", "sh-2", "pbt-8", *mr.CONTROLLERS, "ppo", *COSINE_METHODS)
PBT = {"n_steps": 3, "perturb": [0.5, 2.0]}


def _ppo_x(spec: Any) -> bool:
    return "ppo-x" in spec.methods


def _ppo_res(spec: Any) -> bool:
    return "ppo-res" in spec.methods


def _ppo(spec: Any) -> bool:
    return "ppo" in spec.methods


@dataclass(kw_only=True)
class BudgetFlags:
    """The flags of `rlcv bench hpo-budget`, in the order its pages' command lines write them."""

    seeds: int = flag(20, type=seed_count, help="inner seeds 0..N-1, paired across methods")
    budget: int = flag(1500, type=positive_int, help="SGD steps of one full run")
    first_seed: int = flag(
        0,
        type=seed_value,
        help="seeds FIRST..FIRST+N-1 (tuning seeds: 100)",
        show=lambda s: s.first_seed != 0,
    )
    cosine_lr: list[float] | None = flag(
        None,
        type=positive_float,
        nargs="+",
        help="cosine lr(s) chosen on tuning seeds (report: each compared; the first is target 1's)",
    )
    range_config: dict[str, Any] | None = flag(
        None,
        type=json.loads,
        help="hpo-range settings (JSON; default: tuned)",
        show=lambda s: s.range_config is not None,
    )
    sweep_config: dict[str, Any] | None = flag(
        None,
        type=config_arg,
        help="hpo-sweep settings (JSON; default: tuned)",
        show=lambda s: s.sweep_config is not None,
    )
    ppo_x_dir: str = flag(
        "results/hpo_budget/ppo_x", help="ppo-x's meta-training (shared by benches)", show=_ppo_x
    )
    ppo_x_episodes: int = flag(200, type=positive_int, help="inner runs of ppo-x meta-training", show=_ppo_x)
    ppo_res_dir: str = flag(
        "results/hpo_budget/ppo_res", help="ppo-res's meta-training (shared by benches)", show=_ppo_res
    )
    ppo_res_episodes: int = flag(
        200, type=positive_int, help="inner runs of ppo-res meta-training", show=_ppo_res
    )
    steps_per_action: int = flag(50, type=positive_int)
    grid: list[float] = flag([0.01, 0.03, 0.1, 0.3, 1.0, 3.0], type=positive_float)
    cosine_grid: list[float] | None = flag(
        None, type=positive_float, nargs="+", help="learning rates of the cosine runs (default: --grid)"
    )
    trials: int = flag(20, type=int_range(2), help="trials of random search / TPE (k=2 is read too)")
    methods: list[str] = flag(list(METHODS), choices=METHODS)
    meta_episodes: int = flag(100, type=positive_int, help="inner runs of PPO meta-training", show=_ppo)
    meta_seed: int = flag(0, type=seed_value, help="training seed of PPO meta-training", show=_ppo)
    env_kwargs: dict[str, Any] = flag({}, type=parse_env_kwargs, help="extra env kwargs for every run")
    per_run: str | None = flag(
        None, help="read / write per-run summaries here (default OUT/per_run)", show=lambda s: bool(s.per_run)
    )
    out: str = flag(
        "results/hpo_budget", type=out_dir, help="OUT/per_run/*.json, OUT/report.md, OUT/anytime.png"
    )
    report_only: bool = flag(False, command=False, help="rewrite the report from OUT/runs")


def register(sub: argparse._SubParsersAction) -> None:
    about = "online HPO controllers vs equal-budget baselines (paired seeds)"
    add_pool_flags(add_bench(sub, "hpo-budget", BudgetFlags, run, help=about))
    # `rlcv bench hpo-tuning`: the table of this bench's sweeps on the tuning seeds
    p = sub.add_parser("hpo-tuning", help="settings tried on the HPO tuning seeds and the ones chosen")
    p.add_argument(
        "--dir",
        nargs="+",
        default=["results/hpo_tuning"],
        help="DIR/<model>/<setting>/per_run/*.json; several: one section (and one choice) per DIR, in order",
    )
    p.add_argument("--out", type=out_file, default="results/hpo_tuning.md", help="the markdown page to write")
    p.set_defaults(bench_run=run_tuning)


def _command(args: argparse.Namespace) -> str:
    return command_line("rlcv bench hpo-budget", spec_of(BudgetFlags, args))


def _env_kw(args: argparse.Namespace) -> dict[str, Any]:
    """The inner env's kwargs of every run: ``--env-kwargs`` with the budget flags."""
    return {**args.env_kwargs, "budget": args.budget, "steps_per_action": args.steps_per_action}


def _tasks(args: argparse.Namespace, seed: int) -> list[Task]:
    """Every run of one seed, cheapest first (a pool pickles them: partials of module functions)."""
    from rlcv.hpo import runners as R

    kw = _env_kw(args)
    out: list[Task] = []
    for m in args.methods:
        if m in ("fixed", "cosine"):
            grid = args.cosine_grid if m == "cosine" and args.cosine_grid else args.grid
            for lr in grid:
                out.append(
                    Task(f"{m}-lr{lr:g}_s{seed}", {}, partial(R.run_fixed, kw, seed, lr, cos=m == "cosine"))
                )
            continue
        if m in ("random", "tpe"):
            compute = partial(R.run_search, kw, seed, m, args.trials)
        elif m == "sh-2":
            compute = partial(R.run_successive_halving, kw, seed, 2.0)
        elif m == "pbt-8":
            compute = partial(R.run_controller, kw, seed, "hpo-pbt", n_envs=8, overrides=PBT)
        elif m == "ppo":
            compute = partial(R.run_ppo, kw, seed, Path(args.out) / "runs" / "ppo-meta")
        elif m in COSINE_METHODS:
            compute = partial(_cosine_method, args, m, kw, seed)
        else:
            compute = partial(R.run_controller, kw, seed, m)
        out.append(Task(f"{m}_s{seed}", {}, compute))
    return out


def _cosine_method(args: argparse.Namespace, method: str, kw: dict[str, Any], seed: int) -> dict[str, Any]:
    from rlcv.hpo.cosine_methods import RANGE_CONFIG, run_method

    config = RANGE_CONFIG if args.range_config is None else args.range_config
    res_dir = Path(args.ppo_res_dir)
    return run_method(method, kw, seed, Path(args.ppo_x_dir), config, args.sweep_config, res_dir)


def _trained(folder: Path, name: str, run_dir: Path, train: Any) -> dict[str, Any]:
    """The meta-training summary ``folder/NAME.json`` (committed), made by ``train()`` through
    :func:`rlcv.bench.runs.run_tasks` when it is missing, or when the policy it made (``run_dir``, not
    committed) is: the policy is then retrained, deterministically, and the summary rewritten."""
    from rlcv.run_dir import RunDir

    store = ResultStore(folder)
    if RunDir(run_dir).final_policy is None:
        store.path(name).unlink(missing_ok=True)
    return run_tasks(store, [Task(name, {}, train)])[name]


def _meta_train(args: argparse.Namespace, runs: Path) -> None:
    """``ppo`` meta-trained on training inner seeds once per OUT (``per_run/ppo-meta.json``), checked
    disjoint from the evaluation seeds; ``ppo-x`` and ``ppo-res`` once per ``--ppo-x-dir`` / ``--ppo-res-dir``
    (its ``meta.json``, shared by benches, copied beside the runs so that the report regenerates from
    OUT/per_run alone)."""
    from rlcv.errors import RlcvError
    from rlcv.hpo.cosine_methods import meta_train_ppo_res, meta_train_ppo_x
    from rlcv.hpo.runners import ppo_meta_train

    kw = _env_kw(args)
    if "ppo" in args.methods:
        run_dir = Path(args.out) / "runs" / "ppo-meta"
        train = partial(ppo_meta_train, kw, run_dir, args.meta_episodes, args.meta_seed)
        seen = set(_trained(runs, "ppo-meta", run_dir, train)["inner_seeds"]) & set(_seeds(args))
        if seen:
            raise RlcvError(
                f"PPO was meta-trained on evaluation seeds {sorted(seen)}: delete "
                f"'{runs / 'ppo-meta.json'}' and rerun."
            )
    meta = {"ppo-x": (args.ppo_x_dir, meta_train_ppo_x, args.ppo_x_episodes)}
    meta["ppo-res"] = (args.ppo_res_dir, meta_train_ppo_res, args.ppo_res_episodes)
    for method, (folder, meta_train, episodes) in meta.items():
        if method in args.methods:
            run_dir = Path(folder) / "runs" / "policy"
            train = partial(meta_train, kw, run_dir, episodes, args.meta_seed)
            (runs / f"{method}-meta.json").write_text(
                json.dumps(_trained(Path(folder), "meta", run_dir, train), default=float)
            )


def run(args: argparse.Namespace) -> int:
    # the flags' ranges are checked by their argparse types (rlcv.bench.checks) before this runs
    from rlcv.errors import RlcvError
    from rlcv.hpo.runners import META_SEED_RANGE

    meta = any(m in args.methods for m in ("ppo", "ppo-x", "ppo-res"))
    if meta and args.first_seed + args.seeds > META_SEED_RANGE[0]:
        raise RlcvError(
            f"with ppo: --first-seed + --seeds <= {META_SEED_RANGE[0]} (evaluation seeds stay below PPO's "
            "meta-training seeds)."
        )
    runs = _per_run(args)
    if not args.report_only:
        _sweep(args, runs)
    if not runs.is_dir():
        raise RlcvError(f"no runs under '{runs}': run the bench without --report-only first.")
    write_report(args, Path(args.out))
    return 0


def _sweep(args: argparse.Namespace, runs: Path) -> None:
    """Meta-training where a method needs it, then every missing run, seed-major (an interrupted sweep
    holds complete paired seeds)."""
    from rlcv.bench.checks import check_online_hpo

    check_online_hpo(_env_kw(args), optuna="this bench")
    import torch

    torch.set_num_threads(1)
    runs.mkdir(parents=True, exist_ok=True)
    _meta_train(args, runs)
    tasks = [task for seed in _seeds(args) for task in _tasks(args, seed)]
    run_tasks(ResultStore(runs), tasks, **pool_of(args))


def _per_run(args: argparse.Namespace) -> Path:
    """Where the per-run summaries live: OUT/per_run, or --per-run (a report over another sweep's runs)."""
    return Path(args.per_run) if getattr(args, "per_run", None) else Path(args.out) / "per_run"


def _seeds(args: argparse.Namespace) -> range:
    return range(args.first_seed, args.first_seed + args.seeds)


# --------------------------------------------------------------------------------------- report


def load(args: argparse.Namespace) -> tuple[mr.Results, list[int]]:
    """{method: {seed: summary}} over the seeds for which *every* method finished (paired seeds)."""
    seeds = list(_seeds(args))
    names = [task.name.rsplit("_s", 1)[0] for task in _tasks(args, seeds[0])]
    return mr.read_methods(_per_run(args), names, seeds, args.trials)


# How the verdicts against the best fixed / cosine setting are worded: metric, scale, unit.
VERDICT_WORDS = {"acc": ("test accuracy", 100.0, " points"), "val": ("validation loss", 1.0, "")}


def verdict_text(c: dict[str, Any], tuned: str, fixed: str, key: str) -> str:
    """The sentence of a :func:`rlcv.hpo.method_results.compare` of tuned − fixed on ``key`` ("acc" /
    "val"; ``templates/hpo_verdict.md.j2``): a winner only when the interval excludes 0."""
    from rlcv.bench.report import render

    metric, scale, unit = VERDICT_WORDS[key]
    words = {"metric": metric, "scale": scale, "unit": unit}
    return render("hpo_verdict.md.j2", c=c, tuned=tuned, fixed=fixed, **words).strip()


def _meta(args: argparse.Namespace, results: mr.Results, method: str) -> dict[str, Any] | None:
    """The meta-training summary of ``ppo`` / ``ppo-x`` / ``ppo-res`` beside the per-run summaries."""
    path = _per_run(args) / f"{method}-meta.json"
    return json.loads(path.read_text()) if method in results and path.is_file() else None


def write_report(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """OUT/report.md (``templates/hpo_budget.md.j2``), OUT/summary.json and OUT/anytime.png."""
    from rlcv.bench.report import render
    from rlcv.hpo.budget_targets import issue30_targets

    results, seeds = load(args)
    out.mkdir(parents=True, exist_ok=True)  # with --per-run the runs live elsewhere and OUT may be new
    if not seeds:
        (out / "report.md").write_text(render("hpo_budget.md.j2", seeds=[]))
        return {}
    a = mr.analyse(results, seeds, args.trials)
    v = a["verdicts"]
    for prefix in ("fixed", "cosine"):
        for key, c in v.get(f"vs_{prefix}-best", {}).items():
            fixed = mr.best_grid_point(results, prefix) or f"{prefix}-best"
            c["text"] = verdict_text(c, v["best_online"], fixed, key)
    targets = None
    if any(m in results for m in COSINE_METHODS):  # benches without the issue-30 methods keep their page
        targets = issue30_targets(results, a["rows"], seeds, args.cosine_lr)
    meta, meta_x = _meta(args, results, "ppo"), _meta(args, results, "ppo-x")
    meta_res = _meta(args, results, "ppo-res")
    page = render(
        "hpo_budget.md.j2",
        command=_command(args),
        seeds=seeds,
        env_json=json.dumps(args.env_kwargs),
        budget=args.budget,
        ref=a["reference"],
        rows=sorted(a["rows"], key=lambda r: (r["online"], r["method"])),
        v=v,
        units=UNITS,
        baselines=mr.BASELINES,
        targets=targets,
        ppo_meta=mr.meta_cost(meta, a["unit_run"], seeds) if meta else None,
        ppo_x=mr.meta_tasks(meta_x) if meta_x else None,
        ppo_res=mr.meta_tasks(meta_res) if meta_res else None,
        fixed_grid=mr.fixed_grid(results, seeds),
        mean=statistics.fmean,
    )
    (out / "report.md").write_text(page)
    summary = {
        "seeds": seeds,
        "rows": a["rows"],
        "verdicts": v,
        **({"issue30_targets": targets} if targets is not None else {}),
        "ppo_meta": {k: x for k, x in meta.items() if k != "inner_seeds"} if meta else None,
        "command": _command(args),
    }
    (out / "summary.json").write_text(json.dumps(jsonable(summary), indent=1))
    if all(math.isfinite(x) for units in a["unit_run"].values() for x in units.values()):
        plot_anytime(results, seeds, a["unit_run"], out / "anytime.png")
    print(f"wrote {out / 'report.md'}, {out / 'summary.json'}, {out / 'anytime.png'}")
    return a


def plot_anytime(results: mr.Results, seeds: list[int], unit_run: dict, path: Path) -> None:
    """Best validation loss so far (median over seeds, top) and the incumbent's test accuracy (mean over
    seeds where known, bottom) against each compute unit, in runs (:func:`mr.anytime`)."""
    from rlcv.bench.report import figure

    show = [m for m in results if not m.startswith(("fixed-lr", "cosine-lr"))]
    with figure(path, 2, len(UNITS), figsize=(4 * len(UNITS), 7), sharey="row") as (_, axes):
        import matplotlib.pyplot as plt

        for i, m in enumerate(show):
            style, color = "-" if m in mr.ONLINE else "--", plt.get_cmap("tab20")(i % 20)
            for j, u in enumerate(UNITS):
                r = mr.anytime([results[m][s]["curve"] for s in seeds], [unit_run[s][u] for s in seeds], u)
                axes[0, j].plot(r["grid"], r["best_val"], style, label=m, color=color)
                if r["xs"] is not None:
                    axes[1, j].plot(r["xs"], 100 * r["accuracy"], style, marker="o", ms=3, color=color)
                axes[1, j].set_xlabel(f"{u} (runs)")
        for ax in axes.flat:
            ax.set_xscale("log")
        axes[0, 0].set_yscale("log")
        axes[0, 0].set_ylabel("best val loss so far")
        axes[1, 0].set_ylabel("incumbent test accuracy %")
        axes[0, -1].legend(fontsize=6, ncol=2)


def run_tuning(args: argparse.Namespace) -> int:
    """`rlcv bench hpo-tuning`: every setting tried on the tuning seeds (``--first-seed 100`` sweeps in
    DIR/<model>/<setting>/) and the one kept (:mod:`rlcv.hpo.setting_choice`), with each sweep's command
    (its summary.json); the page: ``templates/hpo_tuning.md.j2``. Each ``--dir`` is one round of tuning,
    with its own section and its own choice: a round's settings share its seeds, so the rule compares
    them paired, and rounds on other seeds are not mixed into it."""
    from rlcv.bench.report import render
    from rlcv.errors import RlcvError
    from rlcv.hpo.setting_choice import chosen, model_table

    rounds = []
    for root in map(Path, args.dir):
        models = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        if not models:
            raise RlcvError(
                f"no tuning sweeps under '{root}': run `rlcv bench hpo-budget --first-seed 100` first."
            )
        tables = [model_table(model) for model in models]
        for model, table in zip(models, tables, strict=True):
            made = {n: model / n / "summary.json" for n in table["settings"]}
            table["commands"] = [
                (n, json.loads(p.read_text())["command"] if p.is_file() else "(no summary.json)")
                for n, p in made.items()
            ]
        rounds.append({"root": root, "models": tables, "tuned": chosen(tables)})
    out = None if args.out == "results/hpo_tuning.md" else args.out  # the page names a non-default --out
    Path(args.out).write_text(render("hpo_tuning.md.j2", rounds=rounds, out=out))
    print(f"wrote {args.out}")
    return 0
