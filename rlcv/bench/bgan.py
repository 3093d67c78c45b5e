"""`rlcv bench bgan`: BGAN vs REINFORCE vs a Gumbel-softmax generator on BGAN-Digits.

Every (algo, seed) is a plain ``rlcv train`` in its own process (one torch thread) with the *same*
preset (``rlcv/presets/bgan.yaml``; the baselines inherit it), the same ``--steps`` and the same
``--set`` overrides, so each run draws the same number of latents and images, its env trains the
discriminator on the same amount of generated data, and every generator takes the same number of
updates (``steps / n_steps``). Runs go to ``RUNS/ENV/ALGO/sSEED`` and are launched by
:mod:`rlcv.bench.runs`: a finished run made with the same arguments is reused, an unfinished one is
moved aside to ``sSEED.incomplete`` and trained again.

Each final generator is then evaluated by the env's ``evaluate_policy`` (what ``rlcv eval``
reports) with evaluation seed 0, so all runs see the same latents: random-forest C2ST and 1-NN
accuracy against the 450 held-out images (0.5 is perfect), class coverage and label entropy from
an SVM trained on the real training images. A *real-data reference* row scores 1000 training
images the same way (the best a generator could do).

Outputs (NAME = ``--name``, default ``bgan``): ``OUT/NAME.md`` (table, whether BGAN beats both
baselines on two-sample accuracy and covers every digit class, sample grids, the command),
``OUT/NAME.json`` (every run's metrics and final training diagnostics), ``OUT/NAME/*.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from rlcv.bench.runs import RunJob, default_workers, execute
from rlcv.errors import RlcvError
from rlcv.gan_metrics import COVERAGE_MIN_SHARE
from rlcv.run_dir import RunDir

EVAL_SEED = 0
EVAL_EPISODES = 1000
TRAIN_DIAGNOSTICS = ("log_w_mean", "log_w_var", "ess", "log_z", "entropy", "disc_real_acc", "disc_fake_acc")
LABELS = {
    "bgan": "BGAN (self-normalised weights)",
    "bgan-reinforce": "REINFORCE + moving-average baseline",
    "bgan-gumbel": "Gumbel-softmax, straight-through",
}


def _train_args(args: argparse.Namespace, algo: str, seed: int) -> list[str]:
    """``rlcv train`` arguments of one run (the runner adds ``--run-dir``)."""
    cmd = [
        "train",
        "--algo",
        algo,
        "--env",
        args.env,
        "--steps",
        str(args.steps),
        "--seed",
        str(seed),
        "--num-threads",
        "1",
        "--no-progress",
    ]
    if args.env_kwargs:
        cmd += ["--env-kwargs", json.dumps(args.env_kwargs)]
    if args.overrides:
        cmd += ["--set", *args.overrides]
    return cmd


def _train_all(jobs: list[RunJob], workers: int) -> dict[Path, dict[str, Any]]:
    """Train what is missing; per run folder, whether it was reused and how long it trained. Any
    failed run is an error, raised once every run has ended."""
    report = execute(jobs, workers=workers, fix="pass another --runs folder")
    if report.failures:
        first = report.failures[0]
        more = f" (and {len(report.failures) - 1} more run(s))" if len(report.failures) > 1 else ""
        raise RlcvError(
            f"training {first.job.name} failed (exit {first.returncode}){more}:\n{first.stderr_tail}"
        )
    info: dict[Path, dict[str, Any]] = {job.run_dir: {"reused": True} for job in report.skipped}
    for outcome in report.outcomes:
        info[outcome.job.run_dir] = {"reused": False, "train_seconds": outcome.seconds}
    return info


def _last_row(run_dir: Path) -> dict[str, float]:
    rows = RunDir(run_dir).metrics_rows()
    # Diagnostics averaged over the last 10 % of updates: single rows are noisy.
    tail = rows[-max(1, len(rows) // 10) :]
    out = {}
    for key in TRAIN_DIAGNOSTICS:
        values = [float(r[key]) for r in tail if r.get(key) not in (None, "")]
        out[key] = float(np.mean(values)) if values else math.nan
    out["updates"] = len(rows)
    return out


def _mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def _real_reference(env_id: str, env_kwargs: dict[str, Any], grid: Path) -> dict[str, Any]:
    from rlcv.env_factory import make_env
    from rlcv.envs.bgan_digits import digit_classifier, digits
    from rlcv.gan_metrics import label_statistics, nn1_accuracy, save_grid, two_sample_accuracy

    env = make_env(env_id, env_kwargs)
    unwrapped: Any = env.unwrapped  # a BGANDigitsEnv
    levels, n = unwrapped.levels, unwrapped.eval_samples
    env.close()
    data = digits(levels)
    rng = np.random.default_rng(EVAL_SEED)
    sample = data["x_train"][rng.permutation(len(data["x_train"]))[:n]]
    clf, clf_acc = digit_classifier(levels)
    save_grid(sample[:100].reshape(-1, 8, 8), grid)
    return {
        "c2st_accuracy": two_sample_accuracy(data["x_held_out"], sample, seed=EVAL_SEED),
        "nn1_accuracy": nn1_accuracy(data["x_held_out"], sample, seed=EVAL_SEED),
        **label_statistics(clf.predict(sample)),
        "classifier_accuracy": clf_acc,
    }


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``rlcv bench bgan`` to the bench subparsers."""
    from rlcv.cli_args import add_overrides_argument, parse_env_kwargs

    bgan = sub.add_parser("bgan", help="BGAN vs REINFORCE vs Gumbel-softmax generators on BGAN-Digits")
    bgan.add_argument("--env", default="rlcv/BGAN-Digits-v0")
    bgan.add_argument("--algos", nargs="+", default=["bgan", "bgan-reinforce", "bgan-gumbel"])
    bgan.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    bgan.add_argument("--steps", type=int, default=64_000, help="latents per run (64 per generator update)")
    bgan.add_argument("--workers", type=int, help="concurrent runs (default: one per core)")
    add_overrides_argument(bgan, help="config overrides applied to every algorithm alike")
    bgan.add_argument("--env-kwargs", type=parse_env_kwargs, default={}, help="env kwargs, for every run")
    bgan.add_argument("--out", default="results", help="writes OUT/NAME.md, OUT/NAME.json, OUT/NAME/*.png")
    bgan.add_argument(
        "--name", default="bgan", help="file stem of the outputs (e.g. bgan-digits4 for --env ...4)"
    )
    bgan.add_argument("--runs", default="runs/bench-bgan", help="where the run directories go")
    bgan.add_argument("--report-only", action="store_true", help="rebuild OUT/NAME.md from OUT/NAME.json")
    bgan.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    if args.report_only:
        print(report_only(Path(args.out), args.name))
    else:
        main(args)
    return 0


def main(args: argparse.Namespace) -> dict[str, Any]:
    from rlcv.agents import AGENTS
    from rlcv.env_factory import check_env_id
    from rlcv.launch import evaluate_run as eval_run

    check_env_id(args.env)
    for algo in args.algos:
        if algo not in AGENTS or not algo.startswith("bgan"):
            raise RlcvError(
                "rlcv bench bgan compares generator agents (bgan, bgan-reinforce, bgan-gumbel), got "
                f"'{algo}'."
            )
    if args.seeds < 1 or args.steps < 1:
        raise RlcvError("--seeds and --steps must be >= 1.")
    command = (
        shlex.join(["rlcv", *sys.argv[1:]])
        if sys.argv[1:2] == ["bench"]
        else f"rlcv bench bgan --env {args.env} --steps {args.steps} --seeds {args.seeds}"
    )
    out = Path(args.out)
    grids = out / args.name
    grids.mkdir(parents=True, exist_ok=True)
    runs_root = Path(args.runs) / args.env.replace("/", "-")
    jobs = [(algo, seed, runs_root / algo / f"s{seed}") for seed in range(args.seeds) for algo in args.algos]

    start = time.perf_counter()
    workers = args.workers or default_workers()
    run_jobs = [
        RunJob(f"{algo} seed {seed}", run_dir, _train_args(args, algo, seed), args.steps)
        for algo, seed, run_dir in jobs
    ]
    trained = _train_all(run_jobs, workers)
    train_wall = time.perf_counter() - start

    results = []
    for algo, seed, run_dir in jobs:
        info = {"algo": algo, "seed": seed, **trained[run_dir]}
        grid = grids / f"{algo}_s{seed}.png" if seed == 0 else None
        ev = eval_run(run_dir, episodes=EVAL_EPISODES, seed=EVAL_SEED, grid_path=str(grid) if grid else None)
        results.append(
            {
                **info,
                "run_dir": str(run_dir),
                "eval_log_w_mean": ev["mean_return"],
                **ev["metrics"],
                "train": _last_row(run_dir),
            }
        )
        print(
            f"{algo} seed {seed}: C2ST {ev['metrics']['c2st_accuracy']:.3f}, "
            f"{ev['metrics']['class_coverage']:.0f} classes",
            flush=True,
        )
    reference = _real_reference(args.env, args.env_kwargs, grids / "real.png")
    payload = {
        "command": command,
        "env": args.env,
        "steps": args.steps,
        "seeds": args.seeds,
        "overrides": args.overrides,
        "env_kwargs": args.env_kwargs,
        "train_wall_seconds": train_wall,
        "workers": workers,
        "eval_seed": EVAL_SEED,
        "runs_root": str(runs_root),
        "runs": results,
        "real_reference": reference,
    }
    (out / f"{args.name}.json").write_text(json.dumps(payload, indent=1))
    _plot_curves(jobs, grids / "curves.png")
    report = write_report(payload, out, args.name)
    print(report)
    return payload


def _plot_curves(jobs: list[tuple[str, int, Path]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [
        ("entropy", "generator entropy (nats)"),
        ("ess", "ESS of the M weights of a latent"),
        ("log_w_mean", "mean log w (reward)"),
        ("disc_fake_acc", "discriminator accuracy on generated"),
    ]
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.2))
    colours: dict[str, Any] = {}
    for algo, seed, run_dir in jobs:
        rows = RunDir(run_dir).metrics_rows()
        colour = colours.setdefault(algo, f"C{len(colours)}")
        updates = np.arange(1, len(rows) + 1)
        for ax, (key, title) in zip(axes, keys, strict=True):
            y = np.array([float(r[key]) if r[key] else np.nan for r in rows])
            k = max(1, len(y) // 50)  # moving average over 2 % of the run
            smooth = np.convolve(np.nan_to_num(y), np.ones(k) / k, mode="valid")
            ax.plot(updates[k - 1 :], smooth, color=colour, lw=1, label=algo if seed == 0 else None)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("generator updates", fontsize=8)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _run_config(run_dir: Path) -> dict[str, Any]:
    run = RunDir(run_dir)
    return run.read_meta()["config"] if run.is_run() else {}


def report_only(out: Path, name: str) -> str:
    """Rebuild OUT/NAME.md from OUT/NAME.json (no training, no evaluation)."""
    path = out / f"{name}.json"
    if not path.is_file():
        raise RlcvError(f"{path} not found; run `rlcv bench bgan` first.")
    return write_report(json.loads(path.read_text()), out, name)


def write_report(payload: dict[str, Any], out: Path, name: str = "bgan") -> str:
    runs, ref = payload["runs"], payload["real_reference"]
    algos = list(dict.fromkeys(r["algo"] for r in runs))
    by_algo = {a: [r for r in runs if r["algo"] == a] for a in algos}
    updates = runs[0]["train"]["updates"]
    cfg = _run_config(Path(runs[0]["run_dir"]))
    per_update = f"{cfg.get('n_steps', '?')} latents × M = {cfg.get('n_samples', '?')} images per update"
    overrides = f", overrides `{' '.join(payload['overrides'])}`" if payload["overrides"] else ""
    lines = [
        "# BGAN on 8×8 digits: discrete generators trained as policies",
        "",
        (
            f"Env `{payload['env']}` (sklearn's 8×8 digits, fixed split: image i held out iff i % 4 == 0), "
            f"{payload['seeds']} seeds per algorithm, {payload['steps']} latents = {updates} generator "
            f"updates each ({per_update}), identical preset (`rlcv/presets/bgan.yaml`){overrides}. "
            f"Training took {payload['train_wall_seconds'] / 60:.1f} min wall on {payload['workers']} "
            "workers."
        ),
        "",
        (
            "Held-out metrics of the final generators (evaluation seed 0: the same 1000 latents for every "
            "run); mean ± sd over seeds. Two-sample accuracies: 0.5 is indistinguishable from the 450 "
            "held-out images (lower is better). Coverage: classes with ≥ 2 % of the samples, by an SVM "
            "trained on the real "
            f"training images (held-out accuracy {ref['classifier_accuracy']:.3f}). Label entropy in nats "
            f"(max ln 10 = {math.log(10):.3f})."
        ),
        "",
        (
            "| generator | C2ST acc (RF) ↓ | 1-NN acc ↓ | classes covered | label entropy | ESS "
            "| entropy of g (nats) |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for algo in algos:
        rs = by_algo[algo]
        covered = " / ".join(f"{r['class_coverage']:.0f}" for r in rs)
        lines.append(
            f"| `{algo}` — {LABELS.get(algo, algo)} | {_mean_sd([r['c2st_accuracy'] for r in rs])} | "
            f"{_mean_sd([r['nn1_accuracy'] for r in rs])} | "
            f"{covered} | {_mean_sd([r['label_entropy'] for r in rs])} | "
            f"{_mean_sd([r['train']['ess'] for r in rs])} | {_mean_sd([r['train']['entropy'] for r in rs])} |"
        )
    lines.append(
        f"| real training images (reference) | {ref['c2st_accuracy']:.3f} | {ref['nn1_accuracy']:.3f} | "
        f"{ref['class_coverage']:.0f} | {ref['label_entropy']:.3f} | | |"
    )
    seeds = " / ".join(str(s) for s in range(payload["seeds"]))
    lines += [
        "",
        (
            f"Classes covered are listed per seed (seed {seeds}). ESS and generator entropy are training "
            "diagnostics averaged over the last 10 % of updates (ESS = 1/Σ w̃², computed from the same "
            "log w for every algorithm)."
        ),
        "",
    ]

    lines += [
        "## Per seed",
        "",
        (
            "| generator | seed | C2ST | 1-NN | classes | digits under 2 % (share) | label entropy "
            "| mean log w (eval) |"
        ),
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        hist = r.get("label_hist") or []
        rare = (
            ", ".join(f"{d} ({100 * h:.1f} %)" for d, h in enumerate(hist) if h < COVERAGE_MIN_SHARE) or "—"
        )
        lines.append(
            f"| `{r['algo']}` | {r['seed']} | {r['c2st_accuracy']:.3f} | {r['nn1_accuracy']:.3f} | "
            f"{r['class_coverage']:.0f} | {rare} | {r['label_entropy']:.3f} | {r['eval_log_w_mean']:.2f} |"
        )

    lines += ["", "## BGAN against the baselines", ""]
    if "bgan" in by_algo:
        c2st = {a: statistics.mean(r["c2st_accuracy"] for r in by_algo[a]) for a in algos}
        others = [a for a in algos if a != "bgan"]
        beats = all(c2st["bgan"] < c2st[a] for a in others)
        per_seed = all(
            all(r["c2st_accuracy"] < o["c2st_accuracy"] for o in by_algo[a] if o["seed"] == r["seed"])
            for r in by_algo["bgan"]
            for a in others
        )
        full = [r["seed"] for r in by_algo["bgan"] if r["class_coverage"] == 10]
        means = ", ".join(f"{a} {c2st[a]:.3f}" for a in algos)
        classes = ", ".join(f"{r['class_coverage']:.0f}" for r in by_algo["bgan"])
        lines += [
            (
                f"- BGAN beats both baselines on two-sample accuracy (mean C2ST closer to 0.5): "
                f"**{'yes' if beats else 'no'}** ({means}); on every seed: {'yes' if per_seed else 'no'}."
            ),
            (
                "- BGAN covers all 10 digit classes: "
                f"**{'yes' if len(full) == len(by_algo['bgan']) else 'no'}** "
                f"({len(full)} of {len(by_algo['bgan'])} seeds; classes per seed: {classes})."
            ),
        ]
    lines += ["", "## Samples (seed 0, 100 samples each)", ""]
    for algo in algos:
        lines += [f"`{algo}`", "", f"![{algo}]({name}/{algo}_s0.png)", ""]
    lines += [
        "Real training images:",
        "",
        f"![real]({name}/real.png)",
        "",
        f"Training diagnostics (seed 0 labelled; all seeds drawn): ![curves]({name}/curves.png)",
        "",
        "## Regenerate",
        "",
        "```bash",
        payload["command"],
        "```",
        "",
        (
            f"Raw numbers: `{name}.json`. Runs are kept under `{payload['runs_root']}/` (`rlcv eval RUN_DIR` "
            "reprints any row)."
        ),
    ]
    text = "\n".join(lines) + "\n"
    (out / f"{name}.md").write_text(text)
    return text
