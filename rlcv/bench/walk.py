"""`rlcv bench walk`: "A Walk with SGD" (Xing et al., arXiv 1802.08770) on the digits MLP.

For every measured step D_t = θ_{t+1} − θ_t the full training loss is evaluated along
θ_t + α D_t, α ∈ {0, 0.1, …, 1} (:func:`rlcv.hpo.landscape.interpolate_step`; the paper's grid is
{0, …, 0.9}, ours adds the step's end so "floor strictly inside" reads 0 < α* < 1). Runs
(:class:`rlcv.bench.sgd_paths.InnerRun`, no L2 term, ``--seeds`` seeds, each seed one init and one
minibatch order):

- full-batch GD at ``--gd-lrs`` for as many steps as SGD takes in ``--epochs`` epochs at batch 32;
- SGD at batch 32 with ``--sgd-lrs`` for ``--epochs`` epochs (fraction of steps with the floor
  inside; mean height L(θ_t) − floor vs η);
- the isotropic-noise control at ``--iso-lrs``: full-batch gradient + isotropic noise of SGD's
  per-step noise norm at batch 32;
- SGD at lr ``--distance-lr`` with ``--batch-sizes`` for ``--epochs`` epochs: ‖θ_T − θ_0‖ vs S;
- λ_max (Lanczos, ``--lanczos-iterations``) every ``--lambda-every`` steps along every run;
- the wall-clock overhead of ``rlcv/OnlineHPO-v0``'s landscape observations (CPU time of whole
  episodes with and without them, alternated, median of ``--overhead-repeats``).

Writes OUT/walk.md, OUT/walk.json, OUT/walk_*.png and one JSON per run in OUT/walk/ (resumable).
Runs are launched by :func:`rlcv.bench.runs.run_tasks` (``--workers N`` processes or ``--backend ray``);
the overhead timing runs alone in this process.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlcv.bench.checks import nonneg_int, out_dir, positive_float, positive_int, seed_count
from rlcv.bench.flags import add_flags, command_line, flag, spec_of
from rlcv.bench.report import figure, md_row, met
from rlcv.bench.runs import SummaryStore, Task, add_pool_flags, pool_of, run_tasks

# Targets of the issue, read plainly in the report.
GD_INSIDE_MAX = 0.05  # full-batch GD: floor strictly inside in ≤ 5 % of steps
SGD_INSIDE_MIN = {1.0: 0.25, 10.0: 0.50}  # SGD batch 32: ≥ 25 % at lr 1, ≥ 50 % at lr 10
HEIGHT_RHO_MIN = 0.8  # Spearman(η, mean height) ≥ 0.8
DISTANCE_RHO_MAX = -0.9  # Spearman(S, ‖θ_T − θ_0‖) ≤ −0.9
OVERHEAD_MAX = 0.30  # landscape observations add ≤ 30 % wall-clock to an episode


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "walk", help="'A walk with SGD': step interpolation, height, distance, λ_max (digits MLP)"
    )
    add_flags(p, WalkSpec)
    add_pool_flags(p)
    p.set_defaults(bench_run=run)


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


# ----------------------------------------------------------------------------------- one run


def walk_run(
    spec: WalkSpec, *, lr: float, batch: int, seed: int, noise: str, interpolate: bool
) -> dict[str, Any]:
    """One run; every ``measure_every``-th step interpolated (when ``interpolate``), λ_max along it."""
    from rlcv.bench.sgd_paths import InnerRun
    from rlcv.hpo import landscape as ls

    r = InnerRun(
        task=spec.task, model="mlp", lr=lr, batch_size=batch, seed=seed, noise=noise, hidden=spec.hidden,
        n_train=spec.n_train,
    )  # fmt: skip
    steps = _run_steps(spec, batch)
    f = r.loss_fn("train")
    alpha_star, inside, convex, heights, shapes = [], [], [], [], {}
    lam: list[list[float]] = []
    curve: list[list[float]] = []
    diverged = False
    start = time.perf_counter()
    shape_steps = {1, steps // 2, steps - 1}
    for t in range(steps):
        if t % spec.lambda_every == 0:
            ext = ls.hessian_extremes(f, r.theta, iterations=spec.lanczos_iterations, seed=seed)
            lam.append([t, ext.lambda_max, ext.lambda_min])
            curve.append([t, float(f(r.theta.detach()))])
        before, after = r.step()
        if not bool(torch_isfinite(after)):
            diverged = True
            break
        if interpolate and (t % spec.measure_every == 0 or t in shape_steps):
            res = ls.interpolate_step(f, before, after - before)
            if not math.isfinite(res.losses[0]) or not all(math.isfinite(v) for v in res.losses):
                diverged = True
                break
            if t % spec.measure_every == 0:
                alpha_star.append(res.alpha_star)
                inside.append(res.inside)
                convex.append(res.convex)
                heights.append(res.height)
            if t in shape_steps:
                shapes[str(t)] = list(res.losses)
    out: dict[str, Any] = {"lr": lr, "batch_size": batch, "seed": seed, "noise": noise}
    out.update(_final_record(r, diverged))
    out.update({"lambda": lam, "loss_curve": curve, "wall_s": time.perf_counter() - start})
    if interpolate:
        out.update(_interpolation_record(alpha_star, inside, convex, heights, shapes))
    return out


def _final_record(r: Any, diverged: bool) -> dict[str, Any]:
    """A finished run's size, losses and accuracies (diverged also when its final loss is not finite)."""
    train_loss, train_acc = r.evaluate("train")
    test_loss, test_acc = r.evaluate("test")
    diverged = diverged or not math.isfinite(train_loss) or train_loss > 1e3
    return {
        "steps": r.steps,
        "epochs": r.epochs,
        "diverged": diverged,
        "dist_init": float((r.theta - r.theta0).norm()) if not diverged else math.nan,
        "train_loss": train_loss,
        "train_accuracy": train_acc,
        "test_accuracy": test_acc,
        "test_loss": test_loss,
    }


def _run_steps(spec: WalkSpec, batch: int) -> int:
    """SGD steps of a run: full-batch GD runs as many steps as SGD with the bench's batch size."""
    if batch >= spec.n_train:
        return math.ceil(spec.epochs * spec.n_train / spec.sgd_batch)
    return math.ceil(spec.epochs * spec.n_train / batch)


def _interpolation_record(
    alpha_star: list[float], inside: list[bool], convex: list[bool], heights: list[float], shapes: dict
) -> dict[str, Any]:
    """What a run's interpolated steps add to its record."""
    from rlcv.hpo import landscape as ls

    return dict(
        measured_steps=len(inside),
        inside_fraction=float(np.mean(inside)) if inside else math.nan,
        convex_fraction=float(np.mean(convex)) if convex else math.nan,
        alpha_star_hist={f"{a:g}": int(np.sum(np.isclose(alpha_star, a))) for a in ls.DEFAULT_ALPHAS},
        height_mean=float(np.mean(heights)) if heights else math.nan,
        height_median=float(np.median(heights)) if heights else math.nan,
        shapes=shapes,
    )


def torch_isfinite(theta: Any) -> bool:
    import torch

    return bool(torch.isfinite(theta).all())


# ------------------------------------------------------------------------------------ overhead


def overhead(repeats: int) -> list[dict[str, Any]]:
    """CPU seconds of whole OnlineHPO-v0 episodes (zero action) with and without the landscape fields."""
    from rlcv.envs.online_hpo import OnlineHPOEnv

    def episode(**kw: Any) -> float:
        env = OnlineHPOEnv(**kw)
        env.reset(seed=0)
        start = time.process_time()
        while True:
            *_, terminated, _, _ = env.step(np.zeros(3, np.float32))
            if terminated:
                return time.process_time() - start

    rows = []
    for label, base_kw in (
        ("digits mlp", {}),
        ("mnist1d mlp", {"task": "mnist1d"}),
        ("mnist1d cnn", {"task": "mnist1d", "model": "cnn"}),
    ):
        for every in (2, 1):  # the default cadence, then every env step
            episode(**base_kw, landscape=True, landscape_every=every)  # warm-up (first-call set-up)
            ratios, base_s = [], []
            for _ in range(repeats):
                b = episode(**base_kw)
                lsc = episode(**base_kw, landscape=True, landscape_every=every)
                ratios.append(lsc / b - 1.0)
                base_s.append(b)
            rows.append(
                {
                    "setting": label,
                    "landscape_every": every,
                    "base_cpu_s": statistics.median(base_s),
                    "overhead_median": statistics.median(ratios),
                    "overhead_all": ratios,
                }
            )
    return rows


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


def _run_params(spec: WalkSpec, job: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "epochs",
        "measure_every",
        "lambda_every",
        "lanczos_iterations",
        "task",
        "hidden",
        "n_train",
        "sgd_batch",
    )
    return {**{k: getattr(spec, k) for k in keys}, **job}


def _overhead_rows(repeats: int) -> dict[str, Any]:
    return {"rows": overhead(repeats)}


def run_bench(spec: WalkSpec, **pool: Any) -> dict[str, Any]:
    """Every run through :func:`rlcv.bench.runs.run_tasks` (``pool``: its workers / backend / address
    keywords), then the overhead measurement alone in this process (a timing: nothing beside it), then
    the report from the summaries."""
    import torch

    torch.set_num_threads(1)
    store = SummaryStore(Path(spec.out) / "walk")
    start = time.perf_counter()
    tasks = [
        Task(name, _run_params(spec, job), functools.partial(walk_run, spec, **job))
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


def _by(results: dict[str, dict[str, Any]], prefix: str) -> dict[float, list[dict[str, Any]]]:
    groups: dict[float, list[dict[str, Any]]] = {}
    for name, r in results.items():
        if name.startswith(prefix):
            key = float(r["batch_size"]) if prefix == "dist_" else float(r["lr"])
            groups.setdefault(key, []).append(r)
    return dict(sorted(groups.items()))


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def verdicts(out: dict[str, Any]) -> dict[str, Any]:
    from rlcv.bench.sgd_paths import spearman

    res = out["results"]
    gd, sgd, dist = _by(res, "gd_"), _by(res, "sgd_"), _by(res, "dist_")
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
    heights = [_mean([r["height_mean"] for r in sgd[lr]]) for lr in ok]
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
    v["distance_means"] = [_mean([r["dist_init"] for r in dist[s]]) for s in sizes]
    v["distance_rho_per_seed"] = [
        spearman(sizes, [dist[s][i]["dist_init"] for s in sizes]) for i in range(seeds)
    ]
    v["distance_met"] = bool(max(v["distance_rho_per_seed"]) <= DISTANCE_RHO_MAX)
    iso = _by(res, "iso_")
    v["iso_inside"] = {lr: [r["inside_fraction"] for r in runs] for lr, runs in iso.items()}
    v["overhead_met"] = {
        f"{r['setting']} every {r['landscape_every']}": r["overhead_median"] <= OVERHEAD_MAX
        for r in out["overhead"]
    }
    return v


# ----------------------------------------------------------------------------------------- output


def _fmt_list(xs: list[float], pct: bool = True) -> str:
    return ", ".join(f"{100 * x:.0f}%" if pct else f"{x:.3g}" for x in xs)


def _m(runs: list[dict[str, Any]], key: str) -> float:
    return _mean([r[key] for r in runs])


def _uphill(r: dict[str, Any]) -> float:
    """Fraction of measured steps with α* = 0: the loss rose from the very start of the step."""
    hist = r.get("alpha_star_hist", {})
    total = sum(hist.values())
    return hist.get("0", 0) / total if total else math.nan


def _setting_lines(out: dict[str, Any]) -> list[str]:
    spec = out["spec"]
    steps_sgd = math.ceil(spec["epochs"] * spec["n_train"] / spec["sgd_batch"])
    return [
        "# A walk with SGD: step interpolation, height, distance and λ_max (digits MLP)",
        "",
        f"Regenerate: `{out['command']}` (report only: add `--report-only`; per-run JSON in `walk/`).",
        "",
        (
            f"Setting: scikit-learn digits, {spec['n_train']} training examples, tanh MLP with "
            f"{spec['hidden']} hidden units, plain SGD (no L2), {spec['seeds']} seeds (seed = init and "
            f"minibatch order). SGD: batch {spec['sgd_batch']}, {spec['epochs']:g} epochs = {steps_sgd} "
            f"steps; full-batch GD runs the same {steps_sgd} steps. One step in {spec['measure_every']} is "
            "interpolated on the full training loss at α ∈ {0, 0.1, …, 1.0} (the paper's {0, …, 0.9} "
            "plus the step's end); *floor inside* = 0 < α* < 1 on that grid (α* = 0, a step that goes "
            "uphill from its start, is counted apart as *uphill*). λ_max: Lanczos "
            f"({spec['lanczos_iterations']} Hessian-vector products on the full training set) every "
            f"{spec['lambda_every']} steps. The isotropic control replaces SGD's minibatch noise by "
            "isotropic Gaussian noise of the same norm per step (batch 32)."
        ),
        "",
    ]


def _floor_target_rows(v: dict[str, Any]) -> list[str]:
    """GD's and SGD's floor-inside targets, one row per learning rate."""
    lines = []
    for lr, xs in v["gd_inside"].items():
        ok = all(x <= GD_INSIDE_MAX for x in xs)
        lines.append(
            md_row(
                f"GD lr {lr:g}: floor inside ≤ {100 * GD_INSIDE_MAX:.0f}% of steps", _fmt_list(xs), met(ok)
            )
        )
    for lr, need in SGD_INSIDE_MIN.items():
        xs = v["sgd_inside"].get(lr, [])
        div = v["sgd_diverged"].get(lr, 0)
        note = f" ({div} diverged)" if div else ""
        target = f"SGD batch 32 lr {lr:g}: floor inside ≥ {100 * need:.0f}%"
        lines.append(md_row(target, _fmt_list(xs) + note, met(v["sgd_met"][lr])))
    return lines


def _targets_lines(out: dict[str, Any]) -> list[str]:
    spec, v = out["spec"], out["verdicts"]
    lines = ["## Targets", "", "| target | measured (per seed) | verdict |", "|---|---|---|"]
    lines += _floor_target_rows(v)
    etas = ", ".join(f"{x:g}" for x in v["height_lrs"])
    lines.append(
        md_row(
            f"Spearman(η, mean height) ≥ {HEIGHT_RHO_MIN} over η ∈ {{{etas}}}",
            f"{_fmt_list(v['height_rho_per_seed'], False)} (seed means: {v['height_rho']:.3g})",
            met(v["height_met"]),
        )
    )
    lines.append(
        md_row(
            f"Spearman(S, ‖θ_T − θ_0‖) ≤ {DISTANCE_RHO_MAX} at {spec['epochs']:g} epochs, "
            f"lr {spec['distance_lr']:g}",
            _fmt_list(v["distance_rho_per_seed"], False),
            met(v["distance_met"]),
        )
    )
    for r in out["overhead"]:
        lines.append(
            md_row(
                f"landscape observations ≤ {100 * OVERHEAD_MAX:.0f}% CPU time, {r['setting']}, "
                f"landscape_every {r['landscape_every']}",
                f"median {100 * r['overhead_median']:+.0f}% ({_fmt_list(r['overhead_all'])})",
                met(r["overhead_median"] <= OVERHEAD_MAX),
            )
        )
    return lines


SETTING_COLUMNS = (
    "run",
    "lr",
    "floor inside",
    "uphill (α* = 0)",
    "roughly convex",
    "mean height",
    "final train loss",
    "test acc %",
    "‖θ_T − θ_0‖",
    "final λ_max",
    "diverged",
)


def _setting_row(label: str, lr: float, runs: list[dict[str, Any]]) -> str:
    lam = _mean([r["lambda"][-1][1] for r in runs if r["lambda"]])
    return md_row(
        label,
        f"{lr:g}",
        f"{100 * _m(runs, 'inside_fraction'):.1f}%",
        f"{100 * _mean([_uphill(r) for r in runs]):.1f}%",
        f"{100 * _m(runs, 'convex_fraction'):.1f}%",
        f"{_m(runs, 'height_mean'):.3g}",
        f"{_m(runs, 'train_loss'):.4f}",
        f"{100 * _m(runs, 'test_accuracy'):.2f}",
        f"{_m(runs, 'dist_init'):.3g}",
        f"{lam:.3g}",
        f"{sum(r['diverged'] for r in runs)}/{len(runs)}",
    )


def _settings_lines(res: dict[str, dict[str, Any]]) -> list[str]:
    """Means over seeds of every GD / SGD / isotropic setting, then the distance-by-batch table."""
    gd, sgd, iso = _by(res, "gd_"), _by(res, "sgd_"), _by(res, "iso_")
    lines = ["", "## Per setting (means over seeds)", "", md_row(*SETTING_COLUMNS), "|---" * 11 + "|"]
    for label, groups in (("GD", gd), ("SGD b32", sgd), ("isotropic b32", iso)):
        lines += [_setting_row(label, lr, runs) for lr, runs in groups.items()]
    lines += [
        "",
        "Distance from initialisation after a fixed number of epochs:",
        "",
        "| batch size | steps | ‖θ_T − θ_0‖ (mean) | final train loss | test acc % |",
        "|---|---|---|---|---|",
    ]
    for s, runs in _by(res, "dist_").items():
        lines.append(
            md_row(
                f"{s:g}",
                runs[0]["steps"],
                f"{_m(runs, 'dist_init'):.3g}",
                f"{_m(runs, 'train_loss'):.4f}",
                f"{100 * _m(runs, 'test_accuracy'):.2f}",
            )
        )
    return lines


def markdown(out: dict[str, Any]) -> str:
    lines = [*_setting_lines(out), *_targets_lines(out), *_settings_lines(out["results"])]
    lines += [
        "",
        "Figures: `walk_shapes.png` (loss along three steps of seed 0, GD vs SGD vs isotropic; below, the "
        "distribution of α* over all measured steps and seeds), `walk_height.png` "
        "(mean height and floor-inside fraction vs η), `walk_distance.png` (‖θ_T − θ_0‖ vs S), "
        "`walk_lambda.png` (λ_max along training, GD's 2/η stability bound dotted).",
        "",
        f"Runs took {sum(r['wall_s'] for r in out['results'].values()) / 60:.1f} min of wall time in all "
        "(summed from the per-run records; the overhead measurement comes on top), on a shared 2-core "
        "machine, one thread.",
        "",
    ]
    return "\n".join(lines)


def _plot_shapes(res: dict[str, dict[str, Any]], folder: Path) -> None:
    """Loss along three steps of seed 0 per setting (top), where the floor lies over all steps (below)."""
    gd, sgd, iso = _by(res, "gd_"), _by(res, "sgd_"), _by(res, "iso_")
    panels = (
        [(f"GD lr {lr:g}", runs) for lr, runs in gd.items()]
        + [(f"SGD lr {lr:g}", runs) for lr, runs in sgd.items() if lr in (1.0, 10.0)]
        + [(f"isotropic lr {lr:g}", runs) for lr, runs in iso.items()]
    )
    size = (3.2 * len(panels), 5.6)
    with figure(folder / "walk_shapes.png", 2, len(panels), figsize=size, squeeze=False) as (_, axes):
        _draw_shapes(axes, panels)


def _draw_shapes(axes: Any, panels: list[tuple[str, list[dict[str, Any]]]]) -> None:
    from rlcv.hpo.landscape import DEFAULT_ALPHAS

    for k, (title, runs) in enumerate(panels):
        ax = axes[0][k]
        for t, losses in sorted(runs[0].get("shapes", {}).items(), key=lambda kv: int(kv[0])):
            ls_ = np.asarray(losses) - losses[0]
            if np.all(np.isfinite(ls_)) and np.abs(ls_).max() > 0:
                # Each curve scaled to its own largest change: the shape, not the size, is compared.
                ax.plot(DEFAULT_ALPHAS, ls_ / np.abs(ls_).max(), marker=".", label=f"step {t}")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(f"{title} (seed 0)", fontsize=9)
        # Below: where the floor lies, over every measured step of every seed.
        counts = np.array([sum(r["alpha_star_hist"].get(f"{a:g}", 0) for r in runs) for a in DEFAULT_ALPHAS])
        axes[1][k].bar(DEFAULT_ALPHAS, counts / max(counts.sum(), 1), width=0.08)
        axes[1][k].set_xlabel("α* (position of the floor along the step)")
    axes[0][0].set_ylabel("[L(θ_t + α D_t) − L(θ_t)] / max |·|")
    axes[1][0].set_ylabel("fraction of steps")
    axes[0][-1].legend(fontsize=7)


def _plot_height(res: dict[str, dict[str, Any]], folder: Path) -> None:
    """Mean height and floor-inside fraction against the learning rate."""
    with figure(folder / "walk_height.png", 1, 2, figsize=(9, 3.5)) as (_, axes):
        _draw_height(axes, res)


def _draw_height(axes: Any, res: dict[str, dict[str, Any]]) -> None:
    gd, sgd, iso = _by(res, "gd_"), _by(res, "sgd_"), _by(res, "iso_")
    for lr, runs in sgd.items():
        for r in runs:
            if not r["diverged"]:
                axes[0].scatter(lr, r["height_mean"], color="C0", s=12)
            axes[1].scatter(lr, r["inside_fraction"], color="C0", s=12)
    for lr, runs in gd.items():
        for r in runs:
            axes[0].scatter(lr, r["height_mean"], color="C1", marker="s", s=12)
            axes[1].scatter(lr, r["inside_fraction"], color="C1", marker="s", s=12)
    for lr, runs in iso.items():
        for r in runs:
            axes[1].scatter(lr, r["inside_fraction"], color="C2", marker="^", s=12)
    axes[0].set(xscale="log", yscale="log", xlabel="learning rate", ylabel="mean height L(θ_t) − floor")
    axes[1].set(xscale="log", xlabel="learning rate", ylabel="fraction of steps with floor inside")
    axes[1].scatter([], [], color="C0", label="SGD b32")
    axes[1].scatter([], [], color="C1", marker="s", label="GD")
    axes[1].scatter([], [], color="C2", marker="^", label="isotropic b32")
    axes[1].legend(fontsize=8)


def _plot_distance(out: dict[str, Any], folder: Path) -> None:
    dist = _by(out["results"], "dist_")
    with figure(folder / "walk_distance.png", figsize=(4.5, 3.5)) as (_, ax):
        for s, runs in dist.items():
            ax.scatter([s] * len(runs), [r["dist_init"] for r in runs], color="C0", s=12)
        ax.set(
            xscale="log",
            xlabel="batch size S",
            ylabel="‖θ_T − θ_0‖",
            title=f"{out['spec']['epochs']:g} epochs, lr {out['spec']['distance_lr']:g}",
        )


def _plot_lambda(res: dict[str, dict[str, Any]], folder: Path) -> None:
    """λ_max along training (seed 0), GD's 2/η stability bound dotted."""
    gd, sgd = _by(res, "gd_"), _by(res, "sgd_")
    with figure(folder / "walk_lambda.png", figsize=(6, 4)) as (_, ax):
        for i, (lr, runs) in enumerate(gd.items()):
            lam = np.asarray(runs[0]["lambda"])
            ax.plot(lam[:, 0], lam[:, 1], color=f"C{i}", ls="-", label=f"GD lr {lr:g}")
            ax.axhline(2 / lr, color=f"C{i}", ls=":", lw=0.8)
        for j, (lr, runs) in enumerate(sgd.items()):
            lam = np.asarray(runs[0]["lambda"])
            if len(lam):
                ax.plot(lam[:, 0], lam[:, 1], color=f"C{len(gd) + j}", ls="--", label=f"SGD b32 lr {lr:g}")
        ax.set(
            yscale="log", xlabel="step", ylabel="λ_max (training loss)", title="seed 0; dotted: 2/η for GD"
        )
        ax.legend(fontsize=7)


def plot(out: dict[str, Any], folder: Path) -> None:
    res = out["results"]
    _plot_shapes(res, folder)
    _plot_height(res, folder)
    _plot_distance(out, folder)
    _plot_lambda(res, folder)


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
