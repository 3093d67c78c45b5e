"""`rlcv bench oracle-spent`: the oracle ceiling when the learner *spends* its lower variance.

`rlcv bench oracle` holds PPO's hyper-parameters fixed while the policy gradient averages over r×
the samples (``oracle_ratio=r``); a learner tuned for noisy gradients may not use the quieter ones.
Here both arms — plain PPO (r = 1) and the oracle (r = ``--ratio``) — choose their hyper-parameters
from the same grid with the same budget, then are evaluated on fresh seeds:

1. Tuning. Every grid configuration (``g0`` is the env preset; ``--grid`` adds one configuration per
   argument, ``KEY=VALUE`` pairs separated by spaces) runs on the tuning seeds for each arm. Its
   score is the mean eval return over all evaluations of the run (the area under the eval curve,
   which rewards learning early as well as ending high), averaged over the tuning seeds. Each arm
   keeps its best configuration.
2. Evaluation. Each arm's preset and its chosen configuration run on the evaluation seeds (disjoint
   from the tuning seeds). Per evaluation seed the target is plain PPO's (r = 1, preset) eval return
   at the last evaluation ≤ ``--target-step``, as in `rlcv bench oracle`; steps-to-target and the
   speed-up ``target_step / steps`` are reported per arm with the median over seeds and a seed
   bootstrap interval, the final return with the paired difference to plain PPO.

Summaries share `rlcv bench oracle`'s layout in the same ``--out`` (default ``results/oracle``):
the preset runs are ``summaries/ENV/rR/sS.json`` — the very runs that bench makes, so neither bench
repeats them — and grid configuration k is ``summaries/ENV/rR-gk/sS.json``. Every summary records its
train arguments; a grid that changes after runs were made is refused by the runner (stale
arguments), never mixed in. The report (``OUT/spent_ENV.md`` / ``.json``) is built from summaries
alone; ``--report-only`` rebuilds it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rlcv.bench import oracle, runs, stats
from rlcv.errors import RlcvError

# Fixed before any run (2026-12-06) for HalfCheetah-v5, whose preset is lr 2e-5, clip 0.1, n_steps
# 512, batch 64, 20 epochs: a larger step (lr ×2; lr ×4 with a wider clip), and more updates per
# sample (half the rollout per update). The same grid serves both arms.
DEFAULT_GRID = [
    "learning_rate=4e-5",
    "learning_rate=8e-5 clip_range=0.2",
    "n_steps=256 learning_rate=4e-5",
]


@dataclass(kw_only=True)
class SpentSpec:
    env: str = "HalfCheetah-v5"
    ratio: int = 4
    grid: list[str] = field(default_factory=lambda: list(DEFAULT_GRID))
    tune_seeds: list[int] = field(default_factory=lambda: [100, 101])
    eval_seeds: int = 5
    steps: int = 150_000
    target_step: int = 100_000
    eval_freq: int = 5_000
    eval_episodes: int = 5
    workers: int | None = None
    out: str = "results/oracle"

    def configs(self) -> list[dict[str, str]]:
        """``g0`` (the preset, no overrides) then one dict per ``--grid`` entry."""
        return [{}, *(_parse_config(text) for text in self.grid)]

    def oracle_spec(self) -> oracle.OracleSpec:
        return oracle.OracleSpec(
            envs=[self.env],
            ratios=[1, self.ratio],
            seeds=self.eval_seeds,
            steps=self.steps,
            target_step=self.target_step,
            eval_freq=self.eval_freq,
            eval_episodes=self.eval_episodes,
            out=self.out,
        )

    def command(self) -> str:
        argv = ["rlcv", "bench", "oracle-spent", "--env", self.env, "--ratio", str(self.ratio), "--grid"]
        argv += [*self.grid, "--tune-seeds", *map(str, self.tune_seeds), "--eval-seeds", str(self.eval_seeds)]
        argv += ["--steps", str(self.steps), "--target-step", str(self.target_step)]
        argv += ["--eval-freq", str(self.eval_freq), "--eval-episodes", str(self.eval_episodes)]
        return shlex.join([*argv, "--out", self.out])

    def validate(self) -> None:
        self.oracle_spec().validate()
        if self.ratio < 2:
            raise RlcvError(f"--ratio must be >= 2 (r = 1 is plain PPO, the other arm), got {self.ratio}.")
        if not self.tune_seeds or min(self.tune_seeds) < 0:
            raise RlcvError("--tune-seeds must be one or more seeds >= 0.")
        overlap = sorted(set(self.tune_seeds) & set(range(self.eval_seeds)))
        if overlap:
            raise RlcvError(
                f"tuning seeds {overlap} are also evaluation seeds (0..{self.eval_seeds - 1}); choose "
                "--tune-seeds >= --eval-seeds so that the evaluation is on fresh seeds."
            )
        self.configs()  # parses the grid


def _parse_config(text: str) -> dict[str, str]:
    config = {}
    for pair in text.split():
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            raise RlcvError(
                f"--grid entry '{text}': '{pair}' is not KEY=VALUE; write e.g. 'learning_rate=4e-5'."
            )
        if key == "oracle_ratio":
            raise RlcvError("--grid may not set oracle_ratio (the arms set it); use --ratio.")
        config[key] = value
    if not config:
        raise RlcvError("--grid entries must hold at least one KEY=VALUE pair.")
    return config


def arm_dir(ratio: int, k: int) -> str:
    return f"r{ratio}" if k == 0 else f"r{ratio}-g{k}"


def job(spec: SpentSpec, ratio: int, k: int, seed: int) -> runs.RunJob:
    out = Path(spec.out)
    args = oracle.train_args(spec.oracle_spec(), spec.env, ratio, seed)
    args += [f"{key}={value}" for key, value in spec.configs()[k].items()]  # after --set oracle_ratio=r
    name = arm_dir(ratio, k)
    env = oracle.env_dir(spec.env)
    return runs.RunJob(
        f"{env}/{name}/s{seed}",
        out / "runs" / env / name / f"s{seed}",
        args,
        spec.steps,
        summary=out / "summaries" / env / name / f"s{seed}.json",
    )


def tuning_jobs(spec: SpentSpec) -> list[runs.RunJob]:
    ks = range(len(spec.configs()))
    return [job(spec, r, k, s) for s in spec.tune_seeds for k in ks for r in (1, spec.ratio)]


def _curve(path: Path) -> oracle.EvalCurve | None:
    if not path.is_file():
        return None
    ev = runs.read_summary(path)["eval"]
    return oracle.EvalCurve(np.asarray(ev["steps"], np.int64), np.asarray(ev["return_mean"], np.float64))


def tuning_scores(spec: SpentSpec) -> dict[int, list[list[float | None]]]:
    """``scores[ratio][k]``: the score of each tuning seed (None where the run is missing)."""
    out: dict[int, list[list[float | None]]] = {}
    for r in (1, spec.ratio):
        out[r] = []
        for k in range(len(spec.configs())):
            row = []
            for s in spec.tune_seeds:
                curve = _curve(job(spec, r, k, s).summary)  # type: ignore[arg-type]
                row.append(None if curve is None or not len(curve.returns) else float(np.mean(curve.returns)))
            out[r].append(row)
    return out


def chosen(scores: dict[int, list[list[float | None]]]) -> dict[int, int] | None:
    """Each arm's best configuration by mean tuning score; None until every tuning run is there."""
    if any(v is None for rows in scores.values() for row in rows for v in row):
        return None
    return {r: int(np.argmax([np.mean(row) for row in rows])) for r, rows in scores.items()}  # type: ignore[arg-type]


def eval_jobs(spec: SpentSpec, picks: dict[int, int]) -> list[runs.RunJob]:
    arms = sorted({(r, k) for r, best in picks.items() for k in (0, best)})
    return [job(spec, r, k, s) for s in range(spec.eval_seeds) for r, k in arms]


# -- analysis -------------------------------------------------------------------------------------
def _as_dict(iv: stats.Interval) -> dict[str, Any]:
    """JSON of an interval (NaN → null)."""
    out = dataclasses.asdict(iv)
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in out.items()}


def analyse(spec: SpentSpec, picks: dict[int, int]) -> dict[str, Any]:
    """Per evaluated arm, over the evaluation seeds present: the speed-up — plain PPO's median steps to
    its target over the arm's (paired seed bootstrap; a seed that never reaches it counts as never) —
    the final return and its paired difference to plain PPO."""
    base = {s: _curve(job(spec, 1, 0, s).summary) for s in range(spec.eval_seeds)}  # type: ignore[arg-type]
    targets = {s: oracle.value_at(c, spec.target_step) for s, c in base.items() if c is not None}
    arms: dict[str, Any] = {}
    for r, k in sorted({(r, k) for r, best in picks.items() for k in (0, best)}):
        base_steps: list[int | None] = []
        steps: list[int | None] = []
        finals: list[float | None] = []
        base_finals: list[float | None] = []
        per_seed = {}
        for s in range(spec.eval_seeds):
            curve, target = _curve(job(spec, r, k, s).summary), targets.get(s)  # type: ignore[arg-type]
            if curve is None or target is None:
                continue
            hit = oracle.first_reaching(curve, target)
            base_steps.append(oracle.first_reaching(base[s], target))  # type: ignore[arg-type]
            steps.append(hit)
            finals.append(oracle.value_at(curve, spec.steps))
            base_finals.append(oracle.value_at(base[s], spec.steps))  # type: ignore[arg-type]
            per_seed[str(s)] = {"target": target, "steps": hit, "final": finals[-1]}
        arms[arm_dir(r, k)] = {
            "ratio": r,
            "config": spec.configs()[k],
            "seeds": per_seed,
            "speedup": _as_dict(stats.median_ratio_bootstrap(base_steps, steps, paired=True)),
            "final_return": _as_dict(stats.median_bootstrap(finals)),
            "final_minus_ppo": _as_dict(stats.paired_t(finals, base_finals)),
        }
    return arms


def head_to_head(arms: dict[str, Any], picks: dict[int, int]) -> dict[str, Any]:
    """Each tuned r > 1 arm against tuned plain PPO on their common seeds — what the variance reduction
    buys once both arms spend their tuning budget: the ratio of median steps to the (preset PPO's)
    target, tuned PPO's over the oracle's (paired seed bootstrap), and the paired final difference."""
    base = arms.get(arm_dir(1, picks.get(1, 0)), {}).get("seeds", {})
    out = {}
    for r, k in sorted(picks.items()):
        if r == 1:
            continue
        seeds = arms[arm_dir(r, k)]["seeds"]
        common = sorted(set(seeds) & set(base), key=int)
        pairs = [(base[s], seeds[s]) for s in common]
        out[arm_dir(r, k)] = {
            "vs": arm_dir(1, picks.get(1, 0)),
            "seeds": common,
            "speedup": _as_dict(
                stats.median_ratio_bootstrap(
                    [b["steps"] for b, _ in pairs], [a["steps"] for _, a in pairs], paired=True
                )
            ),
            "final_minus_tuned_ppo": _as_dict(
                stats.paired_t([a["final"] for _, a in pairs], [b["final"] for b, _ in pairs])
            ),
        }
    return out


# -- report ---------------------------------------------------------------------------------------
def _fmt(ci: dict[str, Any], spec: str, unit: str = "") -> str:
    """'2.00× [1.10, 2.50]' from an interval's JSON (``unit`` after the point)."""
    point, low, high = (math.nan if ci[k] is None else float(ci[k]) for k in ("point", "low", "high"))
    text = stats.Interval(point, low, high, ci["n"], "").fmt(spec)
    head, sep, tail = text.partition(" [")
    return head + (unit if head != "—" else "") + sep + tail


def render_markdown(result: dict[str, Any]) -> str:
    spec = result["spec"]
    configs = ["preset", *spec["grid"]]
    lines = [
        f"# Spent oracle on {spec['env']}: PPO vs PPO with r = {spec['ratio']}× policy-gradient samples, "
        "each with hyper-parameters chosen from the same grid",
        "",
        f"Regenerate with `{result['command']}` (add `--report-only` to rebuild from the summaries).",
        "",
        f"Tuning seeds {spec['tune_seeds']}, score = mean eval return over all evaluations of a run "
        "(area under the curve), averaged over the tuning seeds. Evaluation seeds "
        f"0..{spec['eval_seeds'] - 1}.",
        "",
        "## Tuning (every configuration tried)",
        "",
        "| config | " + " | ".join(f"r = {r} score per seed" for r in result["tuning"]) + " |",
        "|---|" + "---|" * len(result["tuning"]),
    ]
    for k, text in enumerate(configs):
        cells = []
        for r, rows in result["tuning"].items():
            vals = rows[k]
            mark = " **chosen**" if result["chosen"] and result["chosen"].get(r) == k else ""
            cells.append(", ".join("—" if v is None else f"{v:,.0f}" for v in vals) + mark)
        lines.append(f"| g{k}: {text} | " + " | ".join(cells) + " |")
    if not result["arms"]:
        lines += ["", "Evaluation not run yet: tuning is incomplete."]
        return "\n".join(lines) + "\n"
    lines += [
        "",
        "## Evaluation (medians over seeds, 95 % seed-bootstrap intervals; paired t interval for Δ)",
        "",
        f"Target per seed: plain PPO's (r = 1, preset) eval return at the last evaluation ≤ "
        f"{spec['target_step']:,} steps. Speed-up = plain PPO's median steps to that target / the arm's "
        "(seeds resampled in pairs; a seed that never reaches the target counts as never, not dropped).",
        "",
        "| arm | config | seeds | speed-up | final return | Δ final vs PPO preset (paired) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, arm in result["arms"].items():
        config = " ".join(f"{k}={v}" for k, v in arm["config"].items()) or "preset"
        cells = [
            _fmt(arm["speedup"], ".2f", "×"),
            _fmt(arm["final_return"], ",.0f"),
            _fmt(arm["final_minus_ppo"], "+,.0f"),
        ]
        lines.append(f"| {name} | {config} | {len(arm['seeds'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines + _head_to_head_lines(result.get("head_to_head") or {})) + "\n"


def _head_to_head_lines(rows: dict[str, Any]) -> list[str]:
    if not rows:
        return []
    lines = [
        "",
        "## Tuned against tuned (what the reduction buys once both arms spend the same tuning budget)",
        "",
        "Speed-up = the tuned PPO arm's median steps to the target above / the tuned oracle arm's, on their "
        "common seeds (paired seed bootstrap); Δ final: paired t interval.",
        "",
        "| arm | vs | seeds | speed-up | Δ final |",
        "|---|---|---:|---:|---:|",
    ]
    for name, row in rows.items():
        cells = [_fmt(row["speedup"], ".2f", "×"), _fmt(row["final_minus_tuned_ppo"], "+,.0f")]
        lines.append(f"| {name} | {row['vs']} | {len(row['seeds'])} | " + " | ".join(cells) + " |")
    return lines


def report(spec: SpentSpec, *, echo: Callable[[str], None] = print) -> dict[str, Any]:
    scores = tuning_scores(spec)
    picks = chosen(scores)
    result: dict[str, Any] = {
        "command": spec.command(),
        "spec": {k: v for k, v in vars(spec).items() if k != "workers"},
        "tuning": {str(r): rows for r, rows in scores.items()},
        "chosen": None if picks is None else {str(r): k for r, k in picks.items()},
        "arms": {} if picks is None else analyse(spec, picks),
    }
    if picks is not None:
        result["head_to_head"] = head_to_head(result["arms"], picks)
    out = Path(spec.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"spent_{oracle.env_dir(spec.env)}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(render_markdown(result))
    echo(f"wrote {stem.with_suffix('.md')}")
    return result


def run_sweep(spec: SpentSpec, *, report_only: bool = False, echo: Callable[[str], None] = print) -> int:
    """Tuning runs, then (once all are there) the evaluation runs, then the report; returns the
    number of failed runs."""
    spec.validate()
    failed = 0
    if report_only and not any(j.summary is not None and j.summary.is_file() for j in tuning_jobs(spec)):
        raise RlcvError(
            f"--report-only: no tuning summaries of --env {spec.env} / --ratio {spec.ratio} / this --grid "
            f"found under '{Path(spec.out) / 'summaries'}'; run the bench without --report-only first."
        )
    if not report_only:
        fix = "use another --out"
        failed = len(runs.execute(tuning_jobs(spec), workers=spec.workers, fix=fix, echo=echo).failures)
        picks = chosen(tuning_scores(spec))
        if picks is not None:
            failed += len(
                runs.execute(eval_jobs(spec, picks), workers=spec.workers, fix=fix, echo=echo).failures
            )
    report(spec, echo=echo)
    return failed


def register(sub: argparse._SubParsersAction) -> None:
    from rlcv.bench.checks import int_range, out_dir, positive_int, seed_count, seed_value

    p = sub.add_parser("oracle-spent", help="the oracle ceiling with hyper-parameters re-chosen for it")
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument(
        "--ratio", type=int_range(2), default=4, help="r of the oracle arm (the other arm is r = 1)"
    )
    p.add_argument("--grid", nargs="+", default=list(DEFAULT_GRID), help="configurations besides the preset")
    p.add_argument("--tune-seeds", nargs="+", type=seed_value, default=[100, 101])
    p.add_argument("--eval-seeds", type=seed_count, default=5, help="evaluation seeds 0..N-1")
    p.add_argument("--steps", type=positive_int, default=150_000)
    p.add_argument("--target-step", type=positive_int, default=100_000)
    p.add_argument("--eval-freq", type=positive_int, default=5_000)
    p.add_argument("--eval-episodes", type=positive_int, default=5)
    p.add_argument("--workers", type=positive_int, help="concurrent runs (default: one per core)")
    p.add_argument("--out", type=out_dir, default="results/oracle")
    p.add_argument("--report-only", action="store_true")
    p.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    from rlcv.env_factory import check_env_id

    check_env_id(args.env)
    spec = SpentSpec(
        env=args.env,
        ratio=args.ratio,
        grid=args.grid,
        tune_seeds=args.tune_seeds,
        eval_seeds=args.eval_seeds,
        steps=args.steps,
        target_step=args.target_step,
        eval_freq=args.eval_freq,
        eval_episodes=args.eval_episodes,
        workers=args.workers,
        out=args.out,
    )
    return 1 if run_sweep(spec, report_only=args.report_only) else 0
