"""`rlcv bench bgan`: BGAN vs REINFORCE vs Gumbel-ST generators on BGAN-Digits, against density models.

Training. Every (algo, seed) is a plain ``rlcv train`` in its own process (one torch thread) with
the *same* preset (``rlcv/presets/bgan.yaml``; the baselines inherit it), the same ``--steps`` and
``--set`` overrides, so every generator takes the same number of updates (``steps / n_steps``) on
the same number of images per update, and its env trains the discriminator on as much generated
data. ``checkpoint_freq`` is set so each run saves ``--curve-points`` step checkpoints (the last is
the final generator): the learning curves. Runs go to ``RUNS/ENV/ALGO/sSEED``
(:mod:`rlcv.bench.runs`: a finished run made with the same arguments is reused).

Scoring. Each checkpoint's generator is scored by :func:`rlcv.envs.bgan_digits.score_digits` (what
``rlcv eval`` reports): 1000 images of the evaluation latents (seed 0, the same for every run) and
100 latents × 10 images for the within-latent collapse check, against the 450 held-out images
(``--against held-out``) or against 450 *training* images (``--against train``: what a schedule is
chosen on, so the held-out images never steer a setting). A run's scores are written to
``OUT/NAME/summaries/ALGO_sSEED.json`` as soon as it is scored (commit them; a re-invocation skips a run
whose summary was made with the same arguments).

Reference rows (per seed, scored by the same function on the same latents): ``real`` — 1000
training images (the floor: real vs real); ``independent`` — independent pixels (a K = 1 product
mixture: Bernoulli / categorical per pixel, a Gaussian for grey-scale); ``mixture`` — a product
mixture with K chosen by validation likelihood on a split of the training images
(:mod:`rlcv.gan.density_baselines`), EM started from the seed.

Statistics: mean and 95 % t-interval over seeds of every metric; paired differences (same seed) of
BGAN against every other row at equal generator updates (final checkpoints) and at equal
wall-clock (per seed, every generator at its last checkpoint within the shortest run's training
time).

Outputs (NAME = ``--name``): ``OUT/NAME.md``, ``OUT/NAME.json`` (all numbers, seeds, platform),
``OUT/NAME/*.png`` (sample grids, learning curves), ``OUT/NAME/summaries/*.json`` (per-run summaries).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from rlcv.bench.checks import check_bgan_run
from rlcv.bench.report import md_table, met
from rlcv.bench.runs import RunJob, default_workers, train_then_score
from rlcv.bench.stats import Interval, mean_t, paired_t
from rlcv.errors import RlcvError
from rlcv.run_dir import RunDir

EVAL_SEED = 0
EVAL_EPISODES = 1000
GENERATORS = ("bgan", "bgan-reinforce", "bgan-gumbel")
REFERENCES = ("real", "independent", "mixture")
# What each seed seeds, stored in the bench's JSON.
SEED_ROLES = {
    "training": "each run's seed (rlcv train --seed): generator init, env RNG, discriminator init",
    "evaluation_latents": EVAL_SEED,
    "collapse_group_latents": EVAL_SEED + 1,
    "c2st_1nn_mmd_permutations": EVAL_SEED,
    "mixture_k_selection_split": 0,
    "reference_rows": "each row's seed: EM initialisation, pixel draws, the real-digit subset",
}
TRAIN_DIAGNOSTICS = ("log_w_mean", "log_w_var", "ess", "log_z", "entropy", "disc_real_acc", "disc_fake_acc")
LABELS = {
    "bgan": "BGAN (self-normalised weights)",
    "bgan-reinforce": "REINFORCE + moving-average baseline",
    "bgan-gumbel": "Gumbel-softmax, straight-through",
    "real": "real training digits (floor)",
    "independent": "independent pixels",
    "mixture": "product mixture (EM)",
}
# (key, column title, lower is better?) of the tables, in order; None: no direction.
METRICS: tuple[tuple[str, str, bool | None], ...] = (
    ("c2st_accuracy", "C2ST acc (RF) ↓", True),
    ("nn1_accuracy", "1-NN acc ↓", True),
    ("mmd2", "MMD² ↓", True),
    ("confident_coverage", "confident classes ↑", False),
    ("confident_share", "confident share", None),
    ("class_coverage", "classes ≥ 2 %", False),
    ("label_entropy", "label entropy", None),
    ("unique_fraction", "unique fraction", None),
    ("across_latent_distance", "L1 across latents", None),
    ("within_latent_distance", "L1 within a latent", None),
)
CURVE_KEYS = (
    "c2st_accuracy",
    "nn1_accuracy",
    "mmd2",
    "confident_coverage",
    "confident_share",
    "unique_fraction",
)


# ---------------------------------------------------------------------------- running


def _train_args(args: argparse.Namespace, algo: str, seed: int) -> list[str]:
    """``rlcv train`` arguments of one run (the runner adds ``--run-dir``)."""
    cmd = ["train", "--algo", algo, "--env", args.env, "--steps", str(args.steps), "--seed", str(seed)]
    cmd += ["--num-threads", "1", "--no-progress"]
    if args.env_kwargs:
        cmd += ["--env-kwargs", json.dumps(args.env_kwargs)]
    cmd += ["--set", *args.overrides, f"checkpoint_freq={_checkpoint_freq(args)}"]
    return cmd


def _checkpoint_freq(args: argparse.Namespace) -> int:
    """Env steps between step checkpoints: ``--curve-points`` of them, the last at ``--steps``."""
    if args.steps % args.curve_points:
        raise RlcvError(f"--steps ({args.steps}) must be a multiple of --curve-points ({args.curve_points}).")
    return args.steps // args.curve_points


def _levels(env_id: str, env_kwargs: dict[str, Any]) -> int:
    from rlcv.env_factory import make_env

    env = make_env(env_id, env_kwargs)
    levels = int(env.unwrapped.levels)  # type: ignore[attr-defined]
    env.close()
    return levels


def _last_rows(run_dir: Path) -> dict[str, float]:
    rows = RunDir(run_dir).metrics_rows()
    # Diagnostics averaged over the last 10 % of updates: single rows are noisy.
    tail = rows[-max(1, len(rows) // 10) :]
    out = {}
    for key in TRAIN_DIAGNOSTICS:
        values = [float(r[key]) for r in tail if r.get(key) not in (None, "")]
        out[key] = float(np.mean(values)) if values else math.nan
    out["updates"] = len(rows)
    return out


def _score_checkpoint(run_dir: Path, ckpt: Path, against: str) -> dict[str, Any]:
    """``score_digits`` of the generator saved in a step checkpoint (the env's own evaluation)."""
    from rlcv import checkpoint
    from rlcv.env_factory import make_env
    from rlcv.evaluation import load_policy

    meta, policy, normalizer = load_policy(run_dir)
    state = checkpoint.load(ckpt)
    policy.load_state_dict(state["agent"]["policy"])
    normalizer.load_state_dict(state["obs_normalizer"])
    env: Any = make_env(meta["env"], meta["config"].get("env_kwargs")).unwrapped
    try:
        return _score_policy(env, policy, normalizer, against)
    finally:
        env.close()


def _score_policy(env: Any, policy: Any, normalizer: Any, against: str) -> dict[str, Any]:
    from rlcv.envs.bgan_digits import EVAL_GROUP_SIZE, EVAL_GROUPS, score_digits

    sample = env.generate(policy, env.eval_samples, seed=EVAL_SEED, obs_normalizer=normalizer)
    groups = env.generate(
        policy, EVAL_GROUPS, seed=EVAL_SEED + 1, obs_normalizer=normalizer, per_latent=EVAL_GROUP_SIZE
    )
    return score_digits(sample, groups, levels=env.levels, seed=EVAL_SEED, against=against)


def _wall_at(run_dir: Path) -> dict[int, float]:
    """Env step → the run's training wall-clock seconds (``time_elapsed``) at that step."""
    return {int(float(r["step"])): float(r["time_elapsed"]) for r in RunDir(run_dir).metrics_rows()}


def _score_run(
    args: argparse.Namespace, algo: str, seed: int, run_dir: Path, grid: Path | None
) -> dict[str, Any]:
    """A run's per-checkpoint scores, final diagnostics and wall time (its summary)."""
    freq = _checkpoint_freq(args)
    walls = _wall_at(run_dir)
    cfg = RunDir(run_dir).read_meta()["config"]
    curve = []
    for k in range(1, args.curve_points + 1):
        step = k * freq
        # The final point is last.pt (saved after every update, so after the last one too).
        ckpt = (
            RunDir(run_dir).checkpoint() if k == args.curve_points else RunDir(run_dir).step_checkpoint(step)
        )
        if not ckpt.is_file():
            raise RlcvError(f"{ckpt} is missing; delete {run_dir} so the bench trains it again.")
        scores = _score_checkpoint(run_dir, ckpt, args.against)
        curve.append(
            {"step": step, "updates": step // int(cfg["n_steps"]), "wall_seconds": walls[step], **scores}
        )
    if grid is not None:
        save_sample_grid(run_dir, grid)
    return {
        "algo": algo,
        "seed": seed,
        "run_dir": str(run_dir),
        "final": curve[-1],
        "curve": curve,
        "train": _last_rows(run_dir),
        "config": {k: cfg.get(k) for k in ("n_steps", "n_samples", "learning_rate", "adam_betas")},
        "env_kwargs": cfg.get("env_kwargs") or {},
    }


def save_sample_grid(run_dir: Path, path: Path) -> None:
    """100 images of the run's final generator, from the evaluation latents, as one grid (PNG)."""
    from rlcv.env_factory import make_env
    from rlcv.evaluation import load_policy
    from rlcv.gan.metrics import save_grid

    meta, policy, normalizer = load_policy(run_dir)
    env: Any = make_env(meta["env"], meta["config"].get("env_kwargs")).unwrapped
    try:
        save_grid(
            env.generate(policy, 100, seed=EVAL_SEED, obs_normalizer=normalizer).reshape(-1, 8, 8), path
        )
    finally:
        env.close()


def _reference_rows(args: argparse.Namespace, levels: int, grids: Path) -> dict[str, Any]:
    """The reference rows of every seed, and how K was chosen."""
    from rlcv.envs.bgan_digits import EVAL_GROUP_SIZE, EVAL_GROUPS, comparison_split, digits, score_digits
    from rlcv.gan.density_baselines import fit_mixture, select_components
    from rlcv.gan.metrics import save_grid

    x_train = digits(levels)["x_train"]
    _, other_real = comparison_split(levels, args.against)
    latent_dim = int(args.env_kwargs.get("latent_dim", 32))
    z = np.random.default_rng(EVAL_SEED).uniform(-1.0, 1.0, (EVAL_EPISODES, latent_dim))
    z_groups = np.random.default_rng(EVAL_SEED + 1).uniform(-1.0, 1.0, (EVAL_GROUPS, latent_dim))
    k, val_ll = select_components(x_train, levels=levels, seed=0)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in REFERENCES}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        rng = np.random.default_rng(seed)
        real = other_real[rng.permutation(len(other_real))[:EVAL_EPISODES]]
        rows["real"].append(
            {
                "seed": seed,
                "final": score_digits(real, None, levels=levels, seed=EVAL_SEED, against=args.against),
            }
        )
        for name, n_comp in (("independent", 1), ("mixture", k)):
            model = fit_mixture(x_train, levels=levels, k=n_comp, seed=seed)
            sample = model.sample_from_latents(z, rng)
            groups = model.sample_from_latents(z_groups, rng, EVAL_GROUP_SIZE)
            scores = score_digits(sample, groups, levels=levels, seed=EVAL_SEED, against=args.against)
            rows[name].append({"seed": seed, "k": n_comp, "final": scores})
            if seed == args.first_seed:
                save_grid(sample[:100].reshape(-1, 8, 8), grids / f"{name}.png")
        if seed == args.first_seed:
            save_grid(real[:100].reshape(-1, 8, 8), grids / "real.png")
    # The labeller was fitted on the training digits, so on them it is over-confident; the labels it
    # gives the comparison images (held-out by default) are the real digits' reference for coverage.
    from rlcv.envs.bgan_digits import digit_classifier
    from rlcv.gan.metrics import confident_coverage

    reference, _ = comparison_split(levels, args.against)
    labeller = confident_coverage(digit_classifier(levels)[0].predict_proba(reference))
    return {"k": k, "validation_log_likelihood": val_ll, "rows": rows, "labeller_on_reference": labeller}


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``rlcv bench bgan`` to the bench subparsers."""
    from rlcv.bench.checks import existing_file, out_dir, positive_int, seed_count, seed_value
    from rlcv.cli_args import add_overrides_argument, parse_env_kwargs

    bgan = sub.add_parser("bgan", help="BGAN vs REINFORCE vs Gumbel-softmax generators vs density models")
    bgan.add_argument("--env", default="rlcv/BGAN-Digits-v0")
    bgan.add_argument(
        "--algos", nargs="*", default=list(GENERATORS), help="generators to train (none: reference rows only)"
    )
    bgan.add_argument("--seeds", type=seed_count, default=5, help="seeds FIRST..FIRST+N-1")
    bgan.add_argument("--first-seed", type=seed_value, default=0)
    bgan.add_argument(
        "--steps", type=positive_int, default=96_000, help="latents per run (n_steps per update)"
    )
    bgan.add_argument("--curve-points", type=positive_int, default=6, help="checkpoints scored per run")
    bgan.add_argument(
        "--against",
        choices=("held-out", "train"),
        default="held-out",
        help="score against the held-out images, or against training images (to choose a schedule)",
    )
    bgan.add_argument("--workers", type=positive_int, help="concurrent runs (default: one per core)")
    add_overrides_argument(bgan, help="config overrides applied to every algorithm alike")
    bgan.add_argument("--env-kwargs", type=parse_env_kwargs, default={}, help="env kwargs, for every run")
    bgan.add_argument(
        "--out", type=out_dir, default="results", help="writes OUT/NAME.md, OUT/NAME.json, OUT/NAME/*"
    )
    bgan.add_argument("--name", default="bgan", help="file stem of the outputs")
    bgan.add_argument("--runs", type=out_dir, default="runs/bench-bgan", help="where the run directories go")
    bgan.add_argument("--report-only", action="store_true", help="rebuild OUT/NAME.md from OUT/NAME.json")
    bgan.add_argument(
        "--notes",
        type=existing_file,
        help="a markdown file whose text goes under '## Reading' (the numbers' interpretation)",
    )
    bgan.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    if args.report_only:
        print(report_only(Path(args.out), args.name, notes=args.notes))
    else:
        main(args)
    return 0


def _summary_matches(path: Path, train_args: list[str], against: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    if summary.get("train_args") == train_args and summary.get("against") == against:
        return summary
    raise RlcvError(
        f"'{path}' was made with other settings (`rlcv {shlex.join(summary.get('train_args', []))}`, "
        f"against {summary.get('against')}); pass another --name, or delete it to redo that run."
    )


def _check_args(args: argparse.Namespace) -> None:
    from rlcv.agents import AGENTS
    from rlcv.env_factory import check_env_id

    check_env_id(args.env)
    for algo in args.algos:
        if algo not in AGENTS or not algo.startswith("bgan"):
            raise RlcvError(
                f"rlcv bench bgan compares generator agents ({', '.join(GENERATORS)}), got '{algo}'."
            )
    if args.seeds < 1 or args.steps < 1 or args.curve_points < 1:
        raise RlcvError("--seeds, --steps and --curve-points must be >= 1.")
    _checkpoint_freq(args)
    check_bgan_run(args)  # the env, its kwargs and --set, before the first write


def _pending(
    args: argparse.Namespace, seeds: range, grids: Path, runs_root: Path
) -> tuple[list[dict[str, Any]], list[tuple[RunJob, str, int, Path]]]:
    """The runs already scored with these settings, and the jobs still to train and score."""
    results: list[dict[str, Any]] = []
    todo: list[tuple[RunJob, str, int, Path]] = []
    for seed in seeds:
        for algo in args.algos:
            train_args = _train_args(args, algo, seed)
            summary_path = grids / "summaries" / f"{algo}_s{seed}.json"
            done = _summary_matches(summary_path, train_args, args.against)
            if done is not None:
                results.append(done)
                continue
            run_dir = runs_root / algo / f"s{seed}"
            todo.append(
                (RunJob(f"{algo} seed {seed}", run_dir, train_args, args.steps), algo, seed, summary_path)
            )
    return results, todo


def _score_and_save(
    args: argparse.Namespace, job: RunJob, algo: str, seed: int, summary_path: Path, grids: Path
) -> dict[str, Any]:
    """Score one trained run, write its summary atomically and print its final row."""
    import time

    start = time.perf_counter()
    grid = grids / f"{algo}_s{seed}.png" if seed == args.first_seed else None
    summary = {
        "train_args": job.train_args,
        "against": args.against,
        **_score_run(args, algo, seed, job.run_dir, grid),
    }
    summary["score_seconds"] = time.perf_counter() - start
    tmp = summary_path.with_name(summary_path.name + ".tmp")
    tmp.write_text(json.dumps(summary, indent=1) + "\n")
    tmp.replace(summary_path)
    f = summary["final"]
    print(
        f"{algo} seed {seed}: C2ST {f['c2st_accuracy']:.3f}, 1-NN {f['nn1_accuracy']:.3f}, "
        f"{f['confident_coverage']:.0f} confident classes "
        f"({summary['curve'][-1]['wall_seconds']:.0f} s)",
        flush=True,
    )
    return summary


def main(args: argparse.Namespace) -> dict[str, Any]:
    from rlcv.gan.metrics import platform_record

    _check_args(args)
    command = (
        shlex.join(["rlcv", *sys.argv[1:]])
        if sys.argv[1:2] == ["bench"]
        else f"rlcv bench bgan --env {args.env} --steps {args.steps} --seeds {args.seeds}"
    )
    out = Path(args.out)
    grids = out / args.name
    (grids / "summaries").mkdir(parents=True, exist_ok=True)
    runs_root = Path(args.runs) / args.env.replace("/", "-")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    workers = args.workers or default_workers()
    results, todo = _pending(args, seeds, grids, runs_root)
    if results:
        print(f"reusing {len(results)} scored run(s) from {grids / 'runs'}", flush=True)
    results += train_then_score(
        [
            (job, partial(_score_and_save, args, job, algo, seed, path, grids))
            for job, algo, seed, path in todo
        ],
        workers,
    )
    order = {(a, s): i for i, (s, a) in enumerate((s, a) for s in seeds for a in args.algos)}
    results.sort(key=lambda r: order[(r["algo"], r["seed"])])
    levels = _levels(args.env, args.env_kwargs)
    payload = {
        "command": command,
        "env": args.env,
        "levels": levels,
        "steps": args.steps,
        "seeds": list(seeds),
        "eval_seed": EVAL_SEED,
        "seed_roles": SEED_ROLES,
        "against": args.against,
        "overrides": args.overrides,
        "env_kwargs": args.env_kwargs,
        "curve_points": args.curve_points,
        "workers": workers,
        "runs_root": str(runs_root),
        "platform": platform_record(),
        "runs": results,
        "references": _reference_rows(args, levels, grids),
    }
    payload["comparisons"] = comparisons(payload)
    (out / f"{args.name}.json").write_text(json.dumps(payload, indent=1))
    if results:
        plot_curves(payload, grids / "curves.png")
    print(write_report(payload, out, args.name, notes=args.notes))
    return payload


# ---------------------------------------------------------------------------- comparisons


def _rows_by_name(payload: dict[str, Any]) -> dict[str, dict[int, dict[str, Any]]]:
    """Row name → seed → that row's run/reference record."""
    rows: dict[str, dict[int, dict[str, Any]]] = {}
    for r in payload["runs"]:
        rows.setdefault(r["algo"], {})[r["seed"]] = r
    for name, refs in payload["references"]["rows"].items():
        rows[name] = {r["seed"]: r for r in refs}
    return rows


def _at_wall(run: dict[str, Any], budget: float) -> dict[str, Any]:
    """The run's last curve point trained within ``budget`` seconds (its first if none is)."""
    within = [p for p in run["curve"] if p["wall_seconds"] <= budget + 1e-9]
    return within[-1] if within else run["curve"][0]


def comparisons(payload: dict[str, Any]) -> dict[str, Any]:
    """Paired (same-seed) differences ``bgan − other`` of every metric: at equal generator updates
    against every other row, and at equal wall-clock against the other generators."""
    rows = _rows_by_name(payload)
    if "bgan" not in rows:
        return {}
    keys = [k for k, _, _ in METRICS]
    out: dict[str, Any] = {"equal_updates": {}, "equal_wall_clock": {}}
    for other, by_seed in rows.items():
        if other == "bgan":
            continue
        seeds = sorted(set(rows["bgan"]) & set(by_seed))
        out["equal_updates"][other] = {
            k: _paired(
                [rows["bgan"][s]["final"].get(k) for s in seeds], [by_seed[s]["final"].get(k) for s in seeds]
            )
            for k in keys
        }
    generators = [a for a in rows if a in {r["algo"] for r in payload["runs"]}]
    for other in generators:
        if other == "bgan":
            continue
        seeds = sorted(set(rows["bgan"]) & set(rows[other]))
        a, b, budgets = [], [], []
        for s in seeds:
            budget = min(rows[g][s]["curve"][-1]["wall_seconds"] for g in generators if s in rows[g])
            budgets.append(budget)
            a.append(_at_wall(rows["bgan"][s], budget))
            b.append(_at_wall(rows[other][s], budget))
        out["equal_wall_clock"][other] = {
            "budget_seconds": budgets,
            "bgan_updates": [p["updates"] for p in a],
            "other_updates": [p["updates"] for p in b],
            **{k: _paired([p.get(k) for p in a], [p.get(k) for p in b]) for k in keys},
        }
    return out


def _paired(a: list[Any], b: list[Any]) -> dict[str, Any]:
    """The record ``bgan.json`` stores: the differences (non-finite ones too, as measured) and their
    paired t interval (finite ones only)."""
    diffs = [x - y for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    ci = paired_t(a, b)
    return {"diffs": diffs, "mean": ci.point, "ci": [ci.low, ci.high]}


# ---------------------------------------------------------------------------- figures


def plot_curves(payload: dict[str, Any], path: Path) -> None:
    """Metrics of the scored checkpoints against generator updates (top) and wall-clock (bottom):
    mean over seeds with a 95 % t-band; reference rows as horizontal lines (their mean)."""
    from rlcv.bench.report import figure

    rows = _rows_by_name(payload)
    algos = list(dict.fromkeys(r["algo"] for r in payload["runs"]))
    grid = (2, len(CURVE_KEYS))
    with figure(path, *grid, dpi=90, figsize=(3.3 * len(CURVE_KEYS), 6.0), squeeze=False) as (_, axes):
        for col, key in enumerate(CURVE_KEYS):
            for row, x_key in enumerate(("updates", "wall_seconds")):
                _draw_curve(axes[row][col], rows, algos, key, x_key)
        axes[0][0].legend(fontsize=7)


def _draw_curve(
    ax: Any, rows: dict[str, dict[int, dict[str, Any]]], algos: list[str], key: str, x_key: str
) -> None:
    for i, algo in enumerate(algos):
        runs = list(rows[algo].values())
        n = min(len(r["curve"]) for r in runs)
        x = np.mean([[p[x_key] for p in r["curve"][:n]] for r in runs], 0)
        stats = [mean_t([r["curve"][j].get(key, math.nan) for r in runs]).as_tuple() for j in range(n)]
        m, lo, hi = (np.array(v, np.float64) for v in zip(*stats, strict=True))
        ax.plot(x, m, color=f"C{i}", marker="o", ms=3, lw=1.2, label=algo)
        ax.fill_between(x, lo, hi, color=f"C{i}", alpha=0.2, lw=0)
    for j, (name, style) in enumerate((("mixture", "--"), ("independent", ":"), ("real", "-."))):
        vals = [r["final"].get(key, math.nan) for r in rows.get(name, {}).values()]
        if vals:
            ax.axhline(np.nanmean(vals), color=f"C{len(algos) + j}", ls=style, lw=1, label=name)
    ax.set_xlabel("generator updates" if x_key == "updates" else "training wall-clock (s)", fontsize=8)
    ax.set_title(key, fontsize=9)
    ax.tick_params(labelsize=7)


# ---------------------------------------------------------------------------- report


def report_only(out: Path, name: str, notes: str | None = None) -> str:
    """Rebuild OUT/NAME.md from OUT/NAME.json (no training, no evaluation)."""
    path = out / f"{name}.json"
    if not path.is_file():
        raise RlcvError(f"{path} not found; run `rlcv bench bgan` first.")
    return write_report(json.loads(path.read_text()), out, name, notes=notes)


def _diff_cell(d: dict[str, Any]) -> str:
    """A stored :func:`_paired` record as a cell; * marks an interval that excludes 0."""
    lo, hi = d["ci"]
    ci = Interval(d["mean"], lo, hi, len(d["diffs"]), "paired t")
    return ci.fmt("+.3f") + (" *" if ci.excludes(0.0) else "")


def targets(payload: dict[str, Any]) -> list[str]:
    """The issue's targets, each read off the numbers (binary digits; any env works)."""
    rows = _rows_by_name(payload)
    comp = payload.get("comparisons") or {}
    if "bgan" not in rows or "mixture" not in rows:
        return []
    eq = comp["equal_updates"]
    lines = []
    for key in ("c2st_accuracy", "nn1_accuracy"):
        d = eq["mixture"][key]
        ok = d["ci"][1] < 0
        lines.append(
            f"- BGAN's {key} below the mixture's, paired CI excluding 0: {met(ok)} "
            f"(BGAN − mixture {_diff_cell(d)})."
        )
    bg = list(rows["bgan"].values())
    on_ref = payload["references"].get("labeller_on_reference")
    real_share = (
        on_ref["confident_share"]
        if on_ref
        else float(np.mean([r["final"]["confident_share"] for r in rows["real"].values()]))
    )
    cov = [r["final"]["confident_coverage"] for r in bg]
    share = [r["final"]["confident_share"] for r in bg]
    ok = all(c == 10 for c in cov) and all(abs(s - real_share) <= 0.15 for s in share)
    lines.append(
        f"- Confident coverage 10/10 on every seed, confident share within 15 points of the compared real "
        f"digits' "
        f"({real_share:.3f}): {met(ok)} (classes per seed "
        f"{', '.join(f'{c:.0f}' for c in cov)}; shares {', '.join(f'{s:.3f}' for s in share)})."
    )
    real_unique = float(np.mean([r["final"]["unique_fraction"] for r in rows["real"].values()]))
    uniq = [r["final"]["unique_fraction"] for r in bg]
    ok = all(u >= 0.9 * real_unique for u in uniq)
    lines.append(
        f"- No collapsed seed (unique fraction ≥ 0.9 × real's {real_unique:.3f}): "
        f"{met(ok)} "
        f"({', '.join(f'{u:.3f}' for u in uniq)})."
    )
    for other in [a for a in rows if a.startswith("bgan-")]:
        hi = mean_t([r["final"]["c2st_accuracy"] for r in bg]).high
        lo = mean_t([r["final"]["c2st_accuracy"] for r in rows[other].values()]).low
        d = eq[other]["c2st_accuracy"]
        ok = hi < lo
        lines.append(
            f"- BGAN ahead of `{other}` on C2ST with non-overlapping CIs: {met(ok)} "
            f"(paired difference BGAN − {other} {_diff_cell(d)})."
        )
    return lines


def _machine(payload: dict[str, Any]) -> str:
    plat = payload["platform"]
    return (
        f"one thread of this machine ({plat['machine']}, python {plat['python']}, torch {plat['torch']}, "
        f"numpy {plat['numpy']}, {plat['blas']})"
    )


def _training_sentence(payload: dict[str, Any]) -> str:
    """How the generators were trained (or that none was), and on what machine."""
    machine = _machine(payload)
    if not payload["runs"]:
        return f"No generator trained here: reference rows only, scored on {machine}."
    first = payload["runs"][0]
    cfg = first["config"]
    wall = [r["curve"][-1]["wall_seconds"] for r in payload["runs"]]
    return (
        f"Each generator: {first['final']['updates']} generator updates ({cfg['n_steps']} latents × M = "
        f"{cfg['n_samples']} images each, Adam lr {cfg['learning_rate']}, betas {cfg['adam_betas']}), "
        "preset `rlcv/presets/bgan.yaml`"
        + (f", overrides `{' '.join(payload['overrides'])}`" if payload["overrides"] else "")
        + (f", env kwargs `{json.dumps(payload['env_kwargs'])}`" if payload["env_kwargs"] else "")
        + f"; training wall-clock per run {min(wall):.0f}–{max(wall):.0f} s on {machine}."
    )


def _scoring_paragraph(payload: dict[str, Any], clf_acc: float) -> str:
    refs = payload["references"]
    against = "450 held-out images" if payload["against"] == "held-out" else "450 *training* images"
    return (
        f"Every row is scored by `rlcv.envs.bgan_digits.score_digits` against the {against}: 1000 "
        "images (one per latent; evaluation latents seed 0 for every generator and model) plus "
        "100 latents × 10 images for the within-latent distance. Cells: mean [95 % t-interval] over "
        "seeds. C2ST (random forest) and 1-NN accuracy: 0.5 = indistinguishable. MMD²: unbiased, "
        "Gaussian kernel on squared distance (Hamming for binary images) with a fixed width. "
        "Confident classes: classes with ≥ 2 % of all samples labelled with probability ≥ 0.9 by "
        "an SVM trained on the training digits (held-out accuracy "
        f"{clf_acc:.3f}); confident share: the fraction so labelled"
        + (
            f" (the compared real images: {refs['labeller_on_reference']['confident_share']:.3f}, "
            f"{refs['labeller_on_reference']['confident_coverage']:.0f} confident classes; the "
            "`real` row's training digits read higher because the SVM was fitted on them). "
            if refs.get("labeller_on_reference")
            else ". "
        )
        + "L1 distances: summed absolute pixel differences (Hamming for binary)."
    )


def _intro_lines(payload: dict[str, Any], rows: dict[str, dict[int, dict[str, Any]]]) -> list[str]:
    """The title and the paragraphs on the env, the training, the scoring and the reference rows."""
    refs = payload["references"]
    seeds = payload["seeds"]
    clf_acc = next(iter(rows["real"].values()))["final"]["classifier_accuracy"]
    per_pixel = {0: "Gaussian", 2: "Bernoulli"}.get(payload.get("levels", 2), "categorical")
    return [
        "# BGAN on 8×8 digits: generators trained as policies, against simple density models",
        "",
        (
            f"Env `{payload['env']}` (sklearn's 8×8 digits; image i held out iff i % 4 == 0). "
            f"{len(seeds)} seeds ({seeds[0]}..{seeds[-1]}) per row. {_training_sentence(payload)}"
        ),
        "",
        _scoring_paragraph(payload, clf_acc),
        "",
        (
            f"Reference rows: `real` = 1000 training digits; `independent` = one {per_pixel} per pixel "
            f"fitted to the training digits; `mixture` = a mixture of K = {refs['k']} such products, K "
            "chosen by validation log-likelihood on an 80/20 split of the training digits (nats per image: "
            + ", ".join(f"K={k} {v:.1f}" for k, v in refs["validation_log_likelihood"].items())
            + "), EM started from the row's seed."
        ),
        "",
    ]


def _notes_lines(notes: str | None) -> list[str]:
    if notes is None:
        return []
    path = Path(notes)
    if not path.is_file():
        raise RlcvError(f"--notes {notes}: no such file.")
    return ["## Reading", "", path.read_text().strip(), "", "## All rows", ""]


def _all_rows_lines(rows: dict[str, dict[int, dict[str, Any]]], algos: list[str]) -> list[str]:
    """Every row's mean [t-interval] of each metric, then the MMD p-values per seed."""
    table = []
    for row in [*algos, *REFERENCES]:
        recs = list(rows.get(row, {}).values())
        if recs:
            cells = [mean_t([r["final"].get(k, math.nan) for r in recs]).fmt(".3f") for k, _, _ in METRICS]
            table.append([f"`{row}` — {LABELS.get(row, row)}", *cells])
    lines = md_table(["row", *(t for _, t, _ in METRICS)], table)
    lines += ["", "MMD permutation p-values (200 permutations; small = distinguishable), per seed:", ""]
    for row in [*algos, *REFERENCES]:
        recs = list(rows.get(row, {}).values())
        if recs:
            lines.append(f"- `{row}`: " + ", ".join(f"{r['final']['mmd_p_value']:.3f}" for r in recs))
    return lines


def _comparison_lines(comp: dict[str, Any], regen: str) -> list[str]:
    """The paired BGAN − other tables, at equal generator updates and at equal wall-clock."""
    if not comp:
        return []
    keys = [(k, t) for k, t, _ in METRICS if k in CURVE_KEYS]  # the plotted metrics
    titles = [t for _, t in keys]
    updates = [[f"`{o}`", *(_diff_cell(d[k]) for k, _ in keys)] for o, d in comp["equal_updates"].items()]
    wall = []
    for other, d in comp["equal_wall_clock"].items():
        ups = ", ".join(f"{a}/{b}" for a, b in zip(d["bgan_updates"], d["other_updates"], strict=True))
        wall.append(
            [f"`{other}`", f"{np.mean(d['budget_seconds']):.0f}", ups, *(_diff_cell(d[k]) for k, _ in keys)]
        )
    return [
        "",
        "## Paired comparisons (BGAN − other, same seeds)",
        "",
        "Mean [95 % t-interval] of the per-seed differences; * = the interval excludes 0. For the "
        "first three columns negative favours BGAN.",
        "",
        "At equal generator updates (final checkpoints):",
        "",
        *md_table(["BGAN −", *titles], updates),
        "",
        "At equal wall-clock (per seed, each generator at its last scored checkpoint within the "
        "shortest generator's training time):",
        "",
        *md_table(["BGAN −", "budget (s)", "updates (BGAN / other)", *titles], wall),
        "",
        regen,
    ]


def _curves_lines(algos: list[str], name: str, regen: str) -> list[str]:
    if not algos:
        return []
    return [
        "",
        "## Learning curves",
        "",
        "Mean over seeds with 95 % bands, against generator updates (top) and training wall-clock "
        "(bottom); dashed/dotted lines: the reference rows' means.",
        "",
        f"![curves]({name}/curves.png)",
        "",
        regen,
    ]


def _samples_lines(algos: list[str], name: str, first_seed: int, regen: str) -> list[str]:
    images = [f"![{r}]({name}/{r}_s{first_seed}.png)" for r in algos]
    images += [f"![{r}]({name}/{r}.png)" for r in REFERENCES]
    return [
        "",
        "## Samples (first seed, 100 each)",
        "",
        *md_table([f"`{r}`" for r in [*algos, *REFERENCES]], [images]),
        "",
        regen,
    ]


def _per_seed_lines(rows: dict[str, dict[int, dict[str, Any]]], algos: list[str]) -> list[str]:
    header = ["row", "seed", "C2ST", "1-NN", "MMD² (p)", "confident classes", "confident share", "unique"]
    table = []
    for row in [*algos, *REFERENCES]:
        for seed, r in sorted(rows.get(row, {}).items()):
            f, t = r["final"], r.get("train", {})
            table.append(
                [
                    f"`{row}`",
                    str(seed),
                    f"{f['c2st_accuracy']:.3f}",
                    f"{f['nn1_accuracy']:.3f}",
                    f"{f['mmd2']:.5f} ({f['mmd_p_value']:.3f})",
                    f"{f['confident_coverage']:.0f}",
                    f"{f['confident_share']:.3f}",
                    f"{f['unique_fraction']:.3f}",
                    f"{t['ess']:.2f}" if "ess" in t else "",
                    f"{t['entropy']:.2f}" if "entropy" in t else "",
                ]
            )
    return ["", "## Per seed (final checkpoints)", "", *md_table([*header, "ESS", "entropy of g"], table)]


def _regenerate_lines(payload: dict[str, Any], out: Path, name: str, notes: str | None) -> list[str]:
    return [
        "",
        "## Regenerate",
        "",
        "```bash",
        payload["command"],
        *(
            [f"rlcv bench bgan --report-only --out {out} --name {name} --notes {notes}  # adds the reading"]
            if notes is not None and "--notes" not in payload["command"]
            else []
        ),
        "```",
        "",
        (
            f"Raw numbers (every seed, the platform): `{name}.json`; per-run summaries "
            f"`{name}/summaries/*.json`. Runs are kept under `{payload['runs_root']}/` (`rlcv eval RUN_DIR` "
            "reprints a final row)."
        ),
    ]


def write_report(payload: dict[str, Any], out: Path, name: str = "bgan", notes: str | None = None) -> str:
    rows = _rows_by_name(payload)
    algos = list(dict.fromkeys(r["algo"] for r in payload["runs"]))
    # The command sits next to every figure too, so a table or image quoted alone says how it was made.
    regen = f"Regenerated by `{payload['command']}`."
    lines = [*_intro_lines(payload, rows), *_notes_lines(notes), *_all_rows_lines(rows, algos), "", regen]
    lines += _comparison_lines(payload.get("comparisons") or {}, regen)
    target_lines = targets(payload)
    if target_lines:
        lines += ["", "## Targets", "", *target_lines, "", regen]
    lines += _curves_lines(algos, name, regen)
    lines += _samples_lines(algos, name, payload["seeds"][0], regen)
    lines += _per_seed_lines(rows, algos)
    lines += _regenerate_lines(payload, out, name, notes)
    text = "\n".join(lines) + "\n"
    (out / f"{name}.md").write_text(text)
    return text
