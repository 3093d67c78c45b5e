"""`rlcv bench dualcutout`: no regulariser vs Cutout vs DualCutout, and α tuned online, on paired seeds.

Per inner seed (shared by every arm) one full run of ``rlcv/OnlineHPO-v0`` per arm: ``none`` /
``cutout`` / ``dualcutout`` at fixed hyper-parameters (``--lr``, DualCutout at ``--alpha``), ``ctrl-none``
/ ``ctrl-dual``: the online ``--controller`` without a regulariser, and with DualCutout and α as a 4th
action. Runs: :mod:`rlcv.hpo.runners` (OUT/per_run, resumable); comparisons:
:mod:`rlcv.hpo.method_results`; the page: ``templates/dualcutout.md.j2`` (mean test error, paired 95 %
t-intervals, the DualCutout / Cutout step-cost ratio).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rlcv.bench.checks import out_dir, positive_float, positive_int, seed_count
from rlcv.bench.flags import command_line, flag, spec_of
from rlcv.bench.report import add_bench, render
from rlcv.bench.runs import ResultStore, Task, add_pool_flags, pool_of, run_tasks
from rlcv.errors import RlcvError
from rlcv.hpo import method_results as mr
from rlcv.stats import jsonable

ARMS = ("none", "cutout", "dualcutout", "ctrl-none", "ctrl-dual")
# Controllers that can take α as a 4th action (the hypergradient ones only know lr / L2).
ALPHA_CONTROLLERS = ("hpo-ucb1", "hpo-dts", "hpo-ucb1-joint", "hpo-ts")
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
    about = "none vs Cutout vs DualCutout (and α tuned online), paired seeds"
    add_pool_flags(add_bench(sub, "dualcutout", DualcutoutFlags, run, help=about))


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


def run_arm(args: argparse.Namespace, arm: str, seed: int) -> dict[str, Any]:
    from rlcv.hpo import runners as R

    kw = _env_kwargs(args)
    if arm in ("none", "cutout", "dualcutout"):
        return R.run_fixed({**kw, "regularizer": arm, "dual_alpha": args.alpha}, seed, args.lr)
    if arm == "ctrl-none":
        return R.run_controller(kw, seed, args.controller)
    dual = {**kw, "regularizer": "dualcutout", "tune_dual_alpha": True, "dual_alpha": args.alpha}
    controlled = {"controlled": ["lr", "batch_size", "weight_decay", "dual_alpha"]}
    return R.run_controller(dual, seed, args.controller, overrides=controlled)


def run(args: argparse.Namespace) -> int:
    from rlcv.bench.checks import check_algos, require_summaries

    # the flags' ranges are checked by their argparse types (rlcv.bench.checks) before this runs
    if any(arm.startswith("ctrl-") for arm in args.arms):
        from rlcv.agents import AGENTS

        check_algos([args.controller], [a for a in AGENTS if a.startswith("hpo-")], flag="--controller")
    if args.controller not in ALPHA_CONTROLLERS and "ctrl-dual" in args.arms:
        raise RlcvError(
            f"--controller {args.controller} cannot set DualCutout's α; choose one of "
            f"{', '.join(ALPHA_CONTROLLERS)} or leave ctrl-dual out of --arms."
        )
    out = Path(args.out)
    if args.report_only:
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


def write_report(args: argparse.Namespace, out: Path) -> None:
    """OUT/report.md (``templates/dualcutout.md.j2``) and OUT/summary.json from OUT/per_run."""
    res, seeds = mr.read_results(out / "per_run", args.arms, list(range(args.seeds)))
    command = command_line("rlcv bench dualcutout", spec_of(DualcutoutFlags, args))
    page = {"command": command, "seeds": seeds, "a": args, "g": lambda x: f"{x:g}"}
    if not seeds:
        (out / "report.md").write_text(render("dualcutout.md.j2", **page))
        return
    pairs, order = mr.error_pairs(res, args.arms, seeds)
    summary: dict[str, Any] = {"seeds": seeds, "command": command}
    summary["pairs"] = {k.replace(" − ", "-"): v for k, v in pairs.items()}
    if order is not None:
        summary["paper_order_reproduced"] = order["reproduced"]
    cost_path = out / "step_cost.json"
    cost = json.loads(cost_path.read_text()) if cost_path.is_file() else None
    if cost is not None:
        summary["step_cost"] = cost
    rows = mr.arm_rows(res, args.arms, seeds)
    text = render(
        "dualcutout.md.j2", **page, arms=rows, pairs=pairs, order=order, cost=cost, bound=STEP_COST_BOUND
    )
    (out / "report.md").write_text(text)
    (out / "summary.json").write_text(json.dumps(jsonable(summary), indent=1))
    print(f"wrote {out / 'report.md'}")
