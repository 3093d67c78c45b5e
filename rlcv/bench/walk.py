"""`rlcv bench walk`: "A Walk with SGD" (Xing et al., arXiv 1802.08770) on the digits MLP.

Runs (:func:`rlcv.hpo.landscape_runs.walk_run`, one JSON summary each in OUT/walk/, launched by
:func:`rlcv.bench.runs.run_tasks`): full-batch GD at ``--gd-lrs``, SGD at batch 32 with ``--sgd-lrs``, the
isotropic-noise control at ``--iso-lrs``, SGD at ``--distance-lr`` with ``--batch-sizes`` (distance
from init), every ``--measure-every``-th step interpolated and λ_max every ``--lambda-every`` steps;
then the CPU overhead of ``rlcv/OnlineHPO-v0``'s landscape observations, alone in this process. Their
readings and targets: :func:`rlcv.hpo.landscape_records.walk_verdicts`; the page OUT/walk.md
(``templates/walk.md.j2``, which states the protocol), OUT/walk.json and OUT/walk_*.png.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rlcv.bench.checks import nonneg_int, out_dir, positive_float, positive_int, seed_count
from rlcv.bench.figures import walk_figures as plot
from rlcv.bench.flags import command_line, flag, spec_of
from rlcv.bench.report import add_bench, render
from rlcv.bench.runs import SummaryStore, Task, add_pool_flags, pool_of, run_tasks
from rlcv.hpo.landscape_records import WALK_TARGETS, walk_tables, walk_verdicts


def register(sub: argparse._SubParsersAction) -> None:
    about = "'A walk with SGD': step interpolation, height, distance, λ_max (digits MLP)"
    add_pool_flags(add_bench(sub, "walk", WalkSpec, run, help=about))


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


# What a run's summary depends on besides its job (a summary made with other settings is refused).
RUN_PARAMS = ("epochs", "measure_every", "lambda_every", "lanczos_iterations", "task", "hidden", "n_train")


def _overhead_rows(repeats: int) -> dict[str, Any]:
    from rlcv.hpo.landscape_runs import landscape_overhead

    return {"rows": landscape_overhead(repeats)}


def _walk_run(spec: WalkSpec, **job: Any) -> dict[str, Any]:
    """One run; full-batch GD runs as many SGD steps as SGD with the bench's batch size."""
    from rlcv.hpo.landscape_runs import walk_run

    keys = ("task", "hidden", "n_train", "measure_every", "lambda_every", "lanczos_iterations")
    steps = math.ceil(
        spec.epochs * spec.n_train / (job["batch"] if job["batch"] < spec.n_train else spec.sgd_batch)
    )
    return walk_run(steps=steps, **{k: getattr(spec, k) for k in keys}, **job)


def run_bench(spec: WalkSpec, **pool: Any) -> dict[str, Any]:
    """Every run through :func:`rlcv.bench.runs.run_tasks` (``pool``: its workers / backend / address
    keywords), then the overhead measurement alone in this process (a timing: nothing beside it), then
    the report from the summaries."""
    import torch

    torch.set_num_threads(1)
    store = SummaryStore(Path(spec.out) / "walk")
    start = time.perf_counter()
    params = {k: getattr(spec, k) for k in (*RUN_PARAMS, "sgd_batch")}
    tasks = [Task(name, {**params, **job}, partial(_walk_run, spec, **job)) for name, job in _jobs(spec)]
    results = run_tasks(store, tasks, report_only=spec.report_only, **pool)
    over: dict[str, Any] = {"rows": []}
    if (n := spec.overhead_repeats) > 0:
        timing = Task("overhead", {"repeats": n}, partial(_overhead_rows, n))
        over = run_tasks(store, [timing], report_only=spec.report_only)["overhead"]
    out = {
        "spec": asdict(spec),
        "command": spec.command(),
        "results": results,
        "overhead": over["rows"],
        "wall_s": time.perf_counter() - start,
    }
    out["verdicts"] = walk_verdicts(results, over["rows"], spec.seeds)
    write_outputs(out, spec)
    return out


# ----------------------------------------------------------------------------------------- output


def markdown(out: dict[str, Any]) -> str:
    """The page (``templates/walk.md.j2``) from the runs' summaries and the verdicts
    (:func:`rlcv.hpo.landscape_records.walk_verdicts`, :func:`~rlcv.hpo.landscape_records.walk_tables`)."""
    spec, v = out["spec"], out["verdicts"]
    return render(
        "walk.md.j2",
        command=out["command"],
        spec=spec,
        v=v,
        t=WALK_TARGETS,
        sgd_steps=math.ceil(spec["epochs"] * spec["n_train"] / spec["sgd_batch"]),
        gd_ok={lr: all(x <= WALK_TARGETS["gd_inside_max"] for x in xs) for lr, xs in v["gd_inside"].items()},
        overhead=out["overhead"],
        run_minutes=sum(r["wall_s"] for r in out["results"].values()) / 60,
        **walk_tables(out["results"]),
    )


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
