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
import json
import math
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rlcv.bench.checks import nonneg_float, out_dir, positive_float, positive_int, seed_count
from rlcv.bench.figures import sharpness_figures as plot
from rlcv.bench.flags import command_line, flag, spec_of
from rlcv.bench.report import add_bench, render
from rlcv.bench.runs import SummaryStore, Task, add_pool_flags, pool_of, run_tasks
from rlcv.hpo import noise_scale as ns


def register(sub: argparse._SubParsersAction) -> None:
    about = "'Three factors': η/S vs λ_max and test accuracy (MNIST-1D, digits)"
    add_pool_flags(add_bench(sub, "sharpness", SharpnessSpec, run, help=about))


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

SWEEP_PARAMS = ("model", "fixed_epochs", "max_epochs", "check_epochs", "probe", "lanczos_iterations")
SCHEDULE_PARAMS = ("task", "model", "hidden", "schedule_steps", "schedule_lr", "schedule_batch", "probe")


def _plan(spec: SharpnessSpec) -> tuple[list[Task], dict[str, Any]]:
    """Every run as a task, and where its summary goes: ``sweeps[task][sweep]``: per (η, S) setting,
    the names of its seeds' runs; ``schedules[mode]``: per seed. The η, S and equal-ratio sweeps on the
    bench's task; the η and S sweeps on digits too when ``--digits-target-loss`` asks for them."""
    from rlcv.hpo import landscape_runs as runs  # torch: not while the CLI's parser is built

    tasks: list[Task] = []

    def task(name: str, job: Any, params: dict[str, Any]) -> str:
        tasks.append(Task(name, params, partial(job, **params)))
        return name

    settings = {
        "eta": [(lr, spec.eta_sweep_batch) for lr in spec.eta_sweep],
        "batch": [(spec.batch_sweep_lr, s) for s in spec.batch_sweep],
        "ratio": [(ratio * s, s) for ratio in spec.ratios for s in spec.ratio_batches],
    }
    on: list[tuple[str, int, float, tuple[str, ...]]] = [
        (spec.task, spec.hidden, spec.target_loss, ("eta", "batch", "ratio"))
    ]
    if spec.digits_target_loss > 0 and spec.task != "digits":
        on.append(("digits", 64, spec.digits_target_loss, ("eta", "batch")))
    common = {k: getattr(spec, k) for k in SWEEP_PARAMS}
    sweeps: dict[str, Any] = {}
    for t, hidden, target, which in on:
        sweeps[t] = {sweep: [] for sweep in which}
        for sweep in which:
            for lr, batch in settings[sweep]:
                seeds = []
                for seed in range(spec.seeds):
                    params = {**common, "task": t, "hidden": hidden, "lr": lr, "batch": batch, "seed": seed}
                    params["target_loss"] = target
                    seeds.append(task(f"{t}_lr{lr:.6g}_bs{batch}_s{seed}", runs.sharp_run, params))
                sweeps[t][sweep].append(seeds)
    common = {k: getattr(spec, k) for k in (*SCHEDULE_PARAMS, "lanczos_iterations")}
    schedules = {
        mode: [
            task(f"schedule_{mode}_s{seed}", runs.schedule_run, {**common, "mode": mode, "seed": seed})
            for seed in range(spec.seeds)
        ]
        for mode in runs.SCHEDULE_MODES
    }
    return tasks, {"sweeps": sweeps, "schedules": schedules}


def _filled(layout: Any, done: dict[str, dict[str, Any]]) -> Any:
    """``layout`` (:func:`_plan`) with each run's name replaced by its summary."""
    if isinstance(layout, str):
        return done[layout]
    if isinstance(layout, list):
        return [_filled(x, done) for x in layout]
    return {k: _filled(x, done) for k, x in layout.items()}


def run_bench(spec: SharpnessSpec, **pool: Any) -> dict[str, Any]:
    """Every run of the bench through :func:`rlcv.bench.run_tasks` (``pool``: its workers /
    backend / address keywords), then the report from their summaries."""
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    tasks, layout = _plan(spec)
    store = SummaryStore(Path(spec.out) / "sharpness")
    runs = _filled(layout, run_tasks(store, tasks, report_only=spec.report_only, **pool))
    out: dict[str, Any] = {"spec": asdict(spec), "command": spec.command(), **runs}
    out["wall_s"] = time.perf_counter() - start
    out["verdicts"] = ns.verdicts(out["sweeps"], out["schedules"], spec.seeds)
    write_outputs(out, spec)
    return out


# ---------------------------------------------------------------------------------------- output


def _f(x: float, fmt: str = ".3g") -> str:
    return format(x, fmt) if math.isfinite(x) else "—"


def markdown(out: dict[str, Any]) -> str:
    """The page (``templates/sharpness.md.j2``) from the runs' summaries and the verdicts."""
    spec, v = out["spec"], out["verdicts"]
    same_devs = {  # the values the same-ratio target rests on, per protocol (not measured if one is NaN)
        p: [x for g in tv.get("same_ratio", []) for x in (g["lambda_dev"], g["acc_spread"])]
        for p in ns.SNAPSHOT_PROTOCOLS
        if (tv := v.get(f"{spec['task']}_{p}"))
    }
    fastest, noisiest = ns.epoch_extremes(out["sweeps"][spec["task"]])
    return render(
        "sharpness.md.j2",
        command=out["command"],
        spec=spec,
        t=ns.TARGETS,
        v=v,
        protocols=ns.SNAPSHOT_PROTOCOLS,
        same_devs=same_devs,
        fastest=fastest,
        noisiest=noisiest,
        tables=ns.tables(out["sweeps"], v),
        run_minutes=run_minutes(out),
        f=_f,
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
