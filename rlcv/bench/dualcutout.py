"""`rlcv bench dualcutout`: no regulariser vs Cutout vs DualCutout, and α tuned online, on paired seeds.

Per inner seed (shared by every arm) one full run of ``rlcv/OnlineHPO-v0`` per arm: ``none`` /
``cutout`` / ``dualcutout`` at fixed hyper-parameters (``--lr``, DualCutout at ``--alpha``), ``ctrl-none``
/ ``ctrl-dual``: the online ``--controller`` without a regulariser, and with DualCutout and α as a 4th
action. Runs: :mod:`rlcv.hpo.runners` (OUT/per_run, resumable); the page: ``templates/dualcutout.md.j2``
(mean test error, paired 95 % t-intervals, the DualCutout / Cutout step-cost ratio).
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rlcv.bench.checks import out_dir, positive_float, positive_int, seed_count
from rlcv.bench.flags import add_flags, command_line, flag, spec_of
from rlcv.bench.runs import ResultStore, Task, add_pool_flags, pool_of, run_tasks
from rlcv.hpo.method_results import Results
from rlcv.stats import jsonable

ARMS = ("none", "cutout", "dualcutout", "ctrl-none", "ctrl-dual")
# Controllers that can take α as a 4th action (the hypergradient ones only know lr / L2).
ALPHA_CONTROLLERS = ("hpo-ucb1", "hpo-dts", "hpo-ucb1-joint", "hpo-ts")
PAIRS = (("dualcutout", "cutout"), ("cutout", "none"), ("dualcutout", "none"), ("ctrl-dual", "ctrl-none"))
STEP_COST_BOUND = 2.2  # the bound on a DualCutout step / a single-cutout step (wall-clock)


@dataclass(kw_only=True)
class DualcutoutFlags:
    """The flags of `rlcv bench dualcutout`, in the order its pages' command lines write them."""

    task: str = flag("digits", help="inner task (digits; mnist1d with the inner-task module)")
    # `--model` before issue 26 ("model" means the dynamics model only)
    model: str = flag("mlp", name="--network", old="--model", help="inner-task network (mlp or cnn)")
    seeds: int = flag(20, type=seed_count)
    budget: int = flag(1500, type=positive_int)
    steps_per_action: int = flag(50, type=positive_int)
    lr: float = flag(0.1, type=positive_float, help="learning rate of the fixed arms")
    alpha: float = flag(0.1, type=positive_float, help="DualCutout α of the fixed arm (and α's start)")
    controller: str = flag("hpo-ts", help="online controller of the ctrl-* arms")
    arms: list[str] = flag(list(ARMS), choices=ARMS)
    cutout_size: int | None = flag(None, type=positive_int, help="box side per dimension (default: half)")
    out: str = flag("results/dualcutout", type=out_dir)
    report_only: bool = flag(False, command=False)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dualcutout", help="none vs Cutout vs DualCutout (and α tuned online), paired seeds")
    add_flags(p, DualcutoutFlags)
    add_pool_flags(p)
    p.set_defaults(bench_run=run)


def _env_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kw: dict[str, Any] = {"budget": args.budget, "steps_per_action": args.steps_per_action}
    # Only non-default tasks are passed, so this bench also runs where the env has no task kwarg yet.
    if args.task != "digits":
        kw["task"] = args.task
    if args.model != "mlp":
        kw["network"] = args.model
    if args.cutout_size is not None:
        kw["cutout_size"] = args.cutout_size
    return kw


def _command(args: argparse.Namespace) -> str:
    return command_line("rlcv bench dualcutout", spec_of(DualcutoutFlags, args))


def run_arm(args: argparse.Namespace, arm: str, seed: int) -> dict[str, Any]:
    from rlcv.hpo import runners as R

    kw = _env_kwargs(args)
    if arm in ("none", "cutout", "dualcutout"):
        return R.run_fixed({**kw, "regularizer": arm, "dual_alpha": args.alpha}, seed, args.lr)
    if arm == "ctrl-none":
        return R.run_controller(kw, seed, args.controller)
    dual = {**kw, "regularizer": "dualcutout", "tune_dual_alpha": True, "dual_alpha": args.alpha}
    return R.run_controller(
        dual,
        seed,
        args.controller,
        overrides={"controlled": ["lr", "batch_size", "weight_decay", "dual_alpha"]},
    )


def run(args: argparse.Namespace) -> int:
    from rlcv.errors import RlcvError

    # the flags' ranges are checked by their argparse types (rlcv.bench.checks) before this runs
    if any(arm.startswith("ctrl-") for arm in args.arms):
        from rlcv.agents import AGENTS
        from rlcv.bench.checks import check_algos

        check_algos([args.controller], [a for a in AGENTS if a.startswith("hpo-")], flag="--controller")
    if args.controller not in ALPHA_CONTROLLERS and "ctrl-dual" in args.arms:
        raise RlcvError(
            f"--controller {args.controller} cannot set DualCutout's α; choose one of "
            f"{', '.join(ALPHA_CONTROLLERS)} or leave ctrl-dual out of --arms."
        )
    out = Path(args.out)
    if args.report_only:
        from rlcv.bench.checks import require_summaries

        require_summaries(out / "per_run", "*_s*.json", "per-run results")
    else:
        _sweep(args, out)
    write_report(args, out)
    return 0


def _sweep(args: argparse.Namespace, out: Path) -> None:
    """The DualCutout / Cutout step cost (OUT/step_cost.json), then every missing run, seed-major (an
    interrupted sweep holds complete paired seeds)."""
    from rlcv.bench.checks import check_online_hpo
    from rlcv.hpo.runners import dualcutout_step_cost

    check_online_hpo({**_env_kwargs(args), "regularizer": "dualcutout"})  # --task / --network / --cutout-size
    import torch

    torch.set_num_threads(1)
    (out / "per_run").mkdir(parents=True, exist_ok=True)
    cost = dualcutout_step_cost(_env_kwargs(args))
    (out / "step_cost.json").write_text(json.dumps(cost, indent=1))
    print(f"dual / single cutout step wall-clock: {cost['ratio_median']:.2f}x", flush=True)
    seeds_arms = [(seed, arm) for seed in range(args.seeds) for arm in args.arms]
    tasks = [Task(f"{arm}_s{seed}", {}, partial(run_arm, args, arm, seed)) for seed, arm in seeds_arms]
    run_tasks(ResultStore(out / "per_run"), tasks, **pool_of(args))


def _load(args: argparse.Namespace, out: Path) -> tuple[Results, list[int]]:
    """Every arm's finished runs by seed, and the seeds every arm has finished."""
    res: Results = {a: {} for a in args.arms}
    store = ResultStore(out / "per_run")
    for arm in args.arms:
        for seed in range(args.seeds):
            found = store.get(f"{arm}_s{seed}", {})
            if found is not None:
                res[arm][seed] = found
    return res, [s for s in range(args.seeds) if all(s in res[a] for a in args.arms)]


def _arm_rows(args: argparse.Namespace, res: Results, seeds: list[int], err: dict) -> list[dict[str, Any]]:
    """Each arm's means over seeds; its compute in runs of the first arm (`none`)."""
    base = res[args.arms[0]]

    def runs(a: str, unit: str) -> float:
        return statistics.fmean(res[a][s]["cost"][unit] / base[s]["cost"][unit] for s in seeds)

    return [
        {
            "arm": a,
            "error": statistics.fmean(err[a]),
            "test_loss": statistics.fmean(res[a][s]["test_loss"] for s in seeds),
            "val_loss": statistics.fmean(res[a][s]["val_loss"] for s in seeds),
            "grads": runs(a, "example_grads"),
            "wall": runs(a, "compute_s"),
        }
        for a in args.arms
    ]


def _pairs(err: dict[str, list[float]], summary: dict[str, Any]) -> dict[str, Any] | None:
    """Paired differences of test error (:func:`rlcv.stats.paired_t` and its verdict) into
    ``summary["pairs"]``; the paper's order, where all three fixed arms ran (also recorded in ``summary``)."""
    from rlcv.bench.paired import outcome
    from rlcv.stats import paired_t

    for x, y in PAIRS:
        if x in err and y in err:
            ci = paired_t(err[x], err[y])
            summary["pairs"][f"{x} − {y}"] = {"paired_t": ci, "outcome": outcome(ci, higher_is_better=False)}
    if not all(a in err for a in ("none", "cutout", "dualcutout")):
        return None
    m = {a: statistics.fmean(err[a]) for a in ("none", "cutout", "dualcutout")}
    resolved = summary["pairs"].get("dualcutout − cutout", {}).get("outcome") == "better"
    summary["paper_order_reproduced"] = bool(m["dualcutout"] < m["cutout"] < m["none"] and resolved)
    return {**m, "reproduced": summary["paper_order_reproduced"]}


def write_report(args: argparse.Namespace, out: Path) -> None:
    """OUT/report.md (``templates/dualcutout.md.j2``) and OUT/summary.json from OUT/per_run."""
    from rlcv.bench.report import render

    res, seeds = _load(args, out)
    page = {"command": _command(args), "seeds": seeds, "a": args, "g": lambda x: f"{x:g}"}
    if not seeds:
        (out / "report.md").write_text(render("dualcutout.md.j2", **page))
        return
    err = {a: [100 * (1 - res[a][s]["test_accuracy"]) for s in seeds] for a in args.arms}
    summary: dict[str, Any] = {"seeds": seeds, "command": _command(args), "pairs": {}}
    order = _pairs(err, summary)
    pairs = dict(summary["pairs"])
    summary["pairs"] = {k.replace(" − ", "-"): v for k, v in pairs.items()}
    cost_path = out / "step_cost.json"
    cost = json.loads(cost_path.read_text()) if cost_path.is_file() else None
    if cost is not None:
        summary["step_cost"] = cost
    rows = _arm_rows(args, res, seeds, err)
    text = render(
        "dualcutout.md.j2", **page, arms=rows, pairs=pairs, order=order, cost=cost, bound=STEP_COST_BOUND
    )
    (out / "report.md").write_text(text)
    (out / "summary.json").write_text(json.dumps(jsonable(summary), indent=1))
    print(f"wrote {out / 'report.md'}")
