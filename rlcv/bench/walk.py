"""`rlcv bench walk`: "A Walk with SGD" (Xing et al., arXiv 1802.08770) on the digits MLP.

Runs (:func:`rlcv.hpo.landscape_runs.walk_run`, one JSON summary each in OUT/walk/, launched by
:func:`rlcv.bench.runs.run_tasks`): full-batch GD at ``--gd-lrs``, SGD at batch 32 with ``--sgd-lrs``, the
isotropic-noise control at ``--iso-lrs``, SGD at ``--distance-lr`` with ``--batch-sizes`` (distance
from init), every ``--measure-every``-th step interpolated and λ_max every ``--lambda-every`` steps;
then the CPU overhead of ``rlcv/OnlineHPO-v0``'s landscape observations, alone in this process. The
targets below are read in OUT/walk.md (``templates/walk.md.j2``, which states the protocol),
OUT/walk.json and OUT/walk_*.png.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rlcv.bench.checks import nonneg_int, out_dir, positive_float, positive_int, seed_count
from rlcv.bench.figures import walk_figures as plot
from rlcv.bench.flags import command_line, flag, spec_of
from rlcv.bench.report import add_bench
from rlcv.bench.runs import SummaryStore, Task, add_pool_flags, pool_of, run_tasks
from rlcv.hpo.landscape_records import finite_mean, group_runs, walk_setting

# Targets of the issue, read plainly in the report.
GD_INSIDE_MAX = 0.05  # full-batch GD: floor strictly inside in ≤ 5 % of steps
SGD_INSIDE_MIN = {1.0: 0.25, 10.0: 0.50}  # SGD batch 32: ≥ 25 % at lr 1, ≥ 50 % at lr 10
HEIGHT_RHO_MIN = 0.8  # Spearman(η, mean height) ≥ 0.8
DISTANCE_RHO_MAX = -0.9  # Spearman(S, ‖θ_T − θ_0‖) ≤ −0.9
OVERHEAD_MAX = 0.30  # landscape observations add ≤ 30 % wall-clock to an episode


def register(sub: argparse._SubParsersAction) -> None:
    about = "'A walk with SGD': step interpolation, height, distance, λ_max (digits MLP)"
    p = add_bench(sub, "walk", WalkSpec, run, help=about)
    add_pool_flags(p)


@dataclass(kw_only=True)
class WalkSpec:
    seeds: int = flag(3, type=seed_count)
    epochs: float = flag(20.0, type=positive_float, help="SGD epochs (GD runs as many steps as batch 32)")
    sgd_lrs: list[float] = flag([0.1, 0.3, 1.0, 3.0, 10.0], type=positive_float)
    gd_lrs: list[float] = flag([0.1, 1.0, 3.0], type=positive_float)
    iso_lrs: list[float] = flag([1.0], type=positive_float)
    batch_sizes: list[int] = flag([8, 16, 32, 64, 128, 256], type=positive_int)
    distance_lr: float = flag(0.3, type=positive_float)
    measure_every: int = flag(2, type=positive_int, help="interpolate every N-th step")
    lambda_every: int = flag(25, type=positive_int)
    lanczos_iterations: int = flag(20, type=positive_int)
    overhead_repeats: int = flag(5, type=nonneg_int, help="0 skips the overhead measurement")
    out: str = flag("results", type=out_dir, help="writes OUT/walk.md, OUT/walk.json, OUT/walk_*.png")
    report_only: bool = flag(False, command=False, help="rebuild the report from OUT/walk/*.json")
    # Fixed sizes (the setting): digits, 1000 training examples, tanh MLP with 64 units.
    task: str = "digits"
    hidden: int = 64
    n_train: int = 1000
    sgd_batch: int = 32

    def command(self) -> str:
        return command_line("rlcv bench walk", self)


def run(args: argparse.Namespace) -> int:
    # every flag's range is checked by its argparse type (rlcv.bench.checks) before this runs
    run_bench(spec_of(WalkSpec, args), **pool_of(args))
    return 0


# ----------------------------------------------------------------------------------- the bench


def _jobs(spec: WalkSpec) -> list[tuple[str, dict[str, Any]]]:
    """(name, walk_run keywords) of every run, seed by seed: GD, SGD, the isotropic control, distance."""

    def job(
        name: str, lr: float, batch: int, seed: int, noise: str = "minibatch", interpolate: bool = True
    ) -> tuple[str, dict[str, Any]]:
        return name, {"lr": lr, "batch": batch, "seed": seed, "noise": noise, "interpolate": interpolate}

    jobs = []
    for seed in range(spec.seeds):
        jobs += [job(f"gd_lr{lr:g}_s{seed}", lr, spec.n_train, seed) for lr in spec.gd_lrs]
        jobs += [job(f"sgd_lr{lr:g}_s{seed}", lr, spec.sgd_batch, seed) for lr in spec.sgd_lrs]
        jobs += [job(f"iso_lr{lr:g}_s{seed}", lr, spec.sgd_batch, seed, "isotropic") for lr in spec.iso_lrs]
        jobs += [
            job(f"dist_bs{bs}_s{seed}", spec.distance_lr, bs, seed, interpolate=False)
            for bs in spec.batch_sizes
        ]
    return jobs


RUN_PARAMS = ("epochs", "measure_every", "lambda_every", "lanczos_iterations", "task", "hidden", "n_train")


def _run_params(spec: WalkSpec, job: dict[str, Any]) -> dict[str, Any]:
    """What a run's summary depends on (a summary made with others is refused, not mixed in)."""
    return {**{k: getattr(spec, k) for k in RUN_PARAMS}, "sgd_batch": spec.sgd_batch, **job}


def _overhead_rows(repeats: int) -> dict[str, Any]:
    from rlcv.hpo.landscape_runs import landscape_overhead

    return {"rows": landscape_overhead(repeats)}


def _walk_run(spec: WalkSpec, **job: Any) -> dict[str, Any]:
    from rlcv.hpo.landscape_runs import walk_run

    keys = ("task", "hidden", "n_train", "measure_every", "lambda_every", "lanczos_iterations")
    return walk_run(steps=_run_steps(spec, job["batch"]), **{k: getattr(spec, k) for k in keys}, **job)


def _run_steps(spec: WalkSpec, batch: int) -> int:
    """SGD steps of a run: full-batch GD runs as many steps as SGD with the bench's batch size."""
    if batch >= spec.n_train:
        return math.ceil(spec.epochs * spec.n_train / spec.sgd_batch)
    return math.ceil(spec.epochs * spec.n_train / batch)


def run_bench(spec: WalkSpec, **pool: Any) -> dict[str, Any]:
    """Every run through :func:`rlcv.bench.runs.run_tasks` (``pool``: its workers / backend / address
    keywords), then the overhead measurement alone in this process (a timing: nothing beside it), then
    the report from the summaries."""
    import torch

    torch.set_num_threads(1)
    store = SummaryStore(Path(spec.out) / "walk")
    start = time.perf_counter()
    tasks = [
        Task(name, _run_params(spec, job), functools.partial(_walk_run, spec, **job))
        for name, job in _jobs(spec)
    ]
    results = run_tasks(store, tasks, report_only=spec.report_only, **pool)
    over: dict[str, Any] = {"rows": []}
    if spec.overhead_repeats > 0:
        timing = Task(
            "overhead",
            {"repeats": spec.overhead_repeats},
            functools.partial(_overhead_rows, spec.overhead_repeats),
        )
        over = run_tasks(store, [timing], report_only=spec.report_only)["overhead"]
    out = {
        "spec": asdict(spec),
        "command": spec.command(),
        "results": results,
        "overhead": over["rows"],
        "wall_s": time.perf_counter() - start,
    }
    out["verdicts"] = verdicts(out)
    write_outputs(out, spec)
    return out


# --------------------------------------------------------------------------------------- analysis


def verdicts(out: dict[str, Any]) -> dict[str, Any]:
    from rlcv.hpo.sgd_paths import spearman

    res = out["results"]
    gd, sgd, dist = group_runs(res, "gd_"), group_runs(res, "sgd_"), group_runs(res, "dist_")
    v: dict[str, Any] = {}
    v["gd_inside"] = {lr: [r["inside_fraction"] for r in runs] for lr, runs in gd.items()}
    v["gd_met"] = all(x <= GD_INSIDE_MAX for xs in v["gd_inside"].values() for x in xs if math.isfinite(x))
    v["sgd_inside"] = {lr: [r["inside_fraction"] for r in runs] for lr, runs in sgd.items()}
    v["sgd_diverged"] = {lr: sum(r["diverged"] for r in runs) for lr, runs in sgd.items()}
    v["sgd_met"] = {
        lr: bool(
            lr in v["sgd_inside"]
            and v["sgd_diverged"][lr] == 0
            and all(x >= need for x in v["sgd_inside"][lr])
        )
        for lr, need in SGD_INSIDE_MIN.items()
    }
    ok = [lr for lr, runs in sgd.items() if not any(r["diverged"] for r in runs)]
    heights = [finite_mean([r["height_mean"] for r in sgd[lr]]) for lr in ok]
    v["height_lrs"], v["height_means"] = ok, heights
    v["height_rho"] = spearman(ok, heights) if len(ok) >= 3 else math.nan
    seeds = out["spec"]["seeds"]
    v["height_rho_per_seed"] = [
        spearman(ok, [sgd[lr][s]["height_mean"] for lr in ok]) if len(ok) >= 3 else math.nan
        for s in range(seeds)
    ]
    v["height_met"] = bool(math.isfinite(v["height_rho"]) and min(v["height_rho_per_seed"]) >= HEIGHT_RHO_MIN)
    sizes = list(dist)
    v["distance_sizes"] = sizes
    v["distance_means"] = [finite_mean([r["dist_init"] for r in dist[s]]) for s in sizes]
    v["distance_rho_per_seed"] = [
        spearman(sizes, [dist[s][i]["dist_init"] for s in sizes]) for i in range(seeds)
    ]
    v["distance_met"] = bool(max(v["distance_rho_per_seed"]) <= DISTANCE_RHO_MAX)
    iso = group_runs(res, "iso_")
    v["iso_inside"] = {lr: [r["inside_fraction"] for r in runs] for lr, runs in iso.items()}
    v["overhead_met"] = {
        f"{r['setting']} every {r['landscape_every']}": r["overhead_median"] <= OVERHEAD_MAX
        for r in out["overhead"]
    }
    return v


# ----------------------------------------------------------------------------------------- output


def markdown(out: dict[str, Any]) -> str:
    """The page (``templates/walk.md.j2``) from the runs' summaries and the verdicts."""
    from rlcv.bench.report import render

    res, spec, v = out["results"], out["spec"], out["verdicts"]
    groups = (("GD", "gd_"), ("SGD b32", "sgd_"), ("isotropic b32", "iso_"))
    settings = [
        walk_setting(label, lr, runs) for label, pre in groups for lr, runs in group_runs(res, pre).items()
    ]
    distance = [
        {"batch": s, "steps": runs[0]["steps"], **{k: finite_mean([r[k] for r in runs]) for k in DIST_KEYS}}
        for s, runs in group_runs(res, "dist_").items()
    ]
    return render(
        "walk.md.j2",
        command=out["command"],
        spec=spec,
        v=v,
        sgd_steps=math.ceil(spec["epochs"] * spec["n_train"] / spec["sgd_batch"]),
        gd_ok={lr: all(x <= GD_INSIDE_MAX for x in xs) for lr, xs in v["gd_inside"].items()},
        gd_max=GD_INSIDE_MAX,
        sgd_min=SGD_INSIDE_MIN,
        height_min=HEIGHT_RHO_MIN,
        distance_max=DISTANCE_RHO_MAX,
        overhead_max=OVERHEAD_MAX,
        overhead=out["overhead"],
        settings=settings,
        distance=distance,
        run_minutes=sum(r["wall_s"] for r in res.values()) / 60,
    )


DIST_KEYS = ("dist_init", "train_loss", "test_accuracy")


def write_outputs(out: dict[str, Any], spec: WalkSpec) -> None:
    folder = Path(spec.out)
    folder.mkdir(parents=True, exist_ok=True)
    slim = {
        **out,
        "results": {
            k: {kk: vv for kk, vv in r.items() if kk not in ("shapes", "lambda", "loss_curve")}
            for k, r in out["results"].items()
        },
    }
    (folder / "walk.json").write_text(json.dumps(slim, indent=1, default=float))
    (folder / "walk.md").write_text(markdown(out))
    plot(out, folder)
    print(f"wrote {folder / 'walk.md'}, {folder / 'walk.json'}, {folder}/walk_*.png")
