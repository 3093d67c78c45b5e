"""Arms that tune on one grid with one budget, then meet on fresh seeds (issue 24 items 1 and 3).

The protocol shared by `rlcv bench oracle-spent` (plain PPO against the r× oracle) and `rlcv bench
tuned-pair` (rlcv PPO against MBMF-PPO, or any two algorithms):

1. Tuning. Every grid configuration (``g0`` is the env preset; ``--grid`` adds one configuration per
   argument, ``KEY=VALUE`` pairs separated by spaces) runs on the tuning seeds for each arm. Its score
   is the mean eval return over all evaluations of the run (the area under the eval curve, which
   rewards learning early as well as ending high), averaged over the tuning seeds. Each arm keeps its
   best configuration; every configuration tried is in the report.
2. Evaluation. Each arm's preset and chosen configuration run on the evaluation seeds 0..N−1 (disjoint
   from the tuning seeds). Per seed the target is the base arm's (preset) eval return at the last
   evaluation ≤ ``target_step``; steps to it, the speed-up (the base arm's median steps over the arm's,
   paired seed bootstrap) and the final return with its paired difference to the base arm are reported,
   then each tuned arm against the tuned base arm ("tuned against tuned": what an arm buys once both
   spend the same tuning budget).

A spec (:class:`TunedArms`) says what the arms are and how one run is launched; the rest is here. The
report is built from per-run summaries alone, so ``--report-only`` rebuilds it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rlcv import learning_curves as curves
from rlcv import stats
from rlcv.bench import oracle, runs, summaries
from rlcv.errors import RlcvError
from rlcv.plotting import SeedCurve


class TunedArms(Protocol):
    """What :mod:`rlcv.bench.tuning` needs of a bench's spec."""

    env: str
    grid: list[str]
    tune_seeds: list[int]
    eval_seeds: int
    steps: int
    target_step: int
    workers: int | None
    out: str

    def arms(self) -> Sequence[Hashable]: ...  # the first is the base arm

    def arm_label(self, arm: Hashable) -> str: ...  # e.g. "r = 4", "mbmf-ppo"

    def arm_dir(self, arm: Hashable, k: int) -> str: ...  # its summaries' folder name

    def arm_fields(self, arm: Hashable) -> dict[str, Any]: ...  # extra JSON fields of an evaluated arm

    def train_args(self, arm: Hashable, seed: int) -> list[str]: ...  # ending in its --set pairs, if any

    def configs(self) -> list[dict[str, str]]: ...

    def command(self) -> str: ...

    def title(self) -> str: ...

    def stem(self) -> Path: ...  # the report's path without suffix

    def validate(self) -> None: ...


def parse_config(text: str, reserved: Sequence[str] = ()) -> dict[str, str]:
    """One ``--grid`` entry: ``KEY=VALUE`` pairs separated by spaces (``reserved`` keys refused)."""
    config = {}
    for pair in text.split():
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            raise RlcvError(
                f"--grid entry '{text}': '{pair}' is not KEY=VALUE; write e.g. 'learning_rate=4e-5'."
            )
        if key in reserved:
            raise RlcvError(f"--grid may not set {key} (the arms set it); use the bench's own flag.")
        config[key] = value
    if not config:
        raise RlcvError("--grid entries must hold at least one KEY=VALUE pair.")
    return config


def check_seeds(spec: TunedArms) -> None:
    if not spec.tune_seeds or min(spec.tune_seeds) < 0:
        raise RlcvError("--tune-seeds must be one or more seeds >= 0.")
    overlap = sorted(set(spec.tune_seeds) & set(range(spec.eval_seeds)))
    if overlap:
        raise RlcvError(
            f"tuning seeds {overlap} are also evaluation seeds (0..{spec.eval_seeds - 1}); choose "
            "--tune-seeds >= --eval-seeds so that the evaluation is on fresh seeds."
        )


def job(spec: TunedArms, arm: Hashable, k: int, seed: int) -> runs.RunJob:
    """One run: the arm's arguments, then grid configuration k's pairs after its ``--set``."""
    args = spec.train_args(arm, seed)
    pairs = [f"{key}={value}" for key, value in spec.configs()[k].items()]
    if pairs and "--set" not in args:
        args.append("--set")
    where = [oracle.env_dir(spec.env), spec.arm_dir(arm, k)]
    return runs.sweep_job(Path(spec.out), where, seed, args + pairs, spec.steps)


def tuning_jobs(spec: TunedArms) -> list[runs.RunJob]:
    ks = range(len(spec.configs()))
    return [job(spec, a, k, s) for s in spec.tune_seeds for k in ks for a in spec.arms()]


def curve(path: Path | None) -> SeedCurve | None:
    """A run's eval curve from its summary (None while the summary is missing)."""
    run = summaries.finished(path)
    return None if run is None else run.curve


LAST_UPDATE = ("approx_kl", "clip_fraction", "cv_score_var_ratio")


def plot(spec: TunedArms, picks: dict[Hashable, int], out: Path) -> None:
    """Each evaluated arm's eval curves over the evaluation seeds (:mod:`rlcv.bench.figures`)."""
    from rlcv.bench.figures import seed_curves_figure

    arms: dict[str, list[SeedCurve]] = {}
    for a, k in eval_pairs(spec, picks):
        found = [curve(job(spec, a, k, s).summary) for s in range(spec.eval_seeds)]
        arms[spec.arm_dir(a, k)] = [c for c in found if c is not None]
    seed_curves_figure(spec.env, arms, out, f"{spec.env}: evaluation seeds")


def seconds_to(steps: int | None, wall: float | None, total: int) -> float | None:
    """Wall-clock to ``steps`` of a run of ``total`` steps, at the run's mean rate (None: never)."""
    return None if steps is None or wall is None else wall * steps / total


def tuning_scores(spec: TunedArms) -> dict[Hashable, list[list[float | None]]]:
    """``scores[arm][k]``: the score of each tuning seed (None where the run is missing)."""
    out: dict[Hashable, list[list[float | None]]] = {}
    for a in spec.arms():
        out[a] = []
        for k in range(len(spec.configs())):
            row = []
            for s in spec.tune_seeds:
                c = curve(job(spec, a, k, s).summary)
                row.append(None if c is None else curves.mean_return(c))
            out[a].append(row)
    return out


def chosen(scores: dict[Hashable, list[list[float | None]]]) -> dict[Hashable, int] | None:
    """Each arm's best configuration by mean tuning score; None until every tuning run is there."""
    if any(v is None for rows in scores.values() for row in rows for v in row):
        return None
    return {a: int(np.argmax([np.mean(row) for row in rows])) for a, rows in scores.items()}  # type: ignore[arg-type]


def eval_pairs(spec: TunedArms, picks: dict[Hashable, int]) -> list[tuple[Hashable, int]]:
    """(arm, configuration) of every evaluated arm: each arm's preset and its choice, in arm order."""
    order = list(spec.arms())
    pairs = {(a, k) for a, best in picks.items() for k in (0, best)}
    return sorted(pairs, key=lambda p: (order.index(p[0]), p[1]))


def eval_jobs(spec: TunedArms, picks: dict[Hashable, int]) -> list[runs.RunJob]:
    """Seed by seed, first what the tuned-against-tuned comparison needs (the base preset, which sets
    each seed's target, and every arm's choice), then the other arms' presets: a sweep cut short still
    leaves whole seeds of the headline comparison."""
    base = spec.arms()[0]
    pairs = eval_pairs(spec, picks)
    first = [(a, k) for a, k in pairs if (a == base and k == 0) or picks[a] == k]
    rest = [p for p in pairs if p not in first]
    return [job(spec, a, k, s) for group in (first, rest) for s in range(spec.eval_seeds) for a, k in group]


def analyse(spec: TunedArms, picks: dict[Hashable, int]) -> dict[str, Any]:
    """Per evaluated arm, over the evaluation seeds present: the speed-up — the base arm's median steps
    to its target over the arm's (paired seed bootstrap; a seed that never reaches it counts as never) —
    the final return and its paired difference to the base arm's preset."""
    base_arm = spec.arms()[0]
    base = {s: curve(job(spec, base_arm, 0, s).summary) for s in range(spec.eval_seeds)}
    targets = {s: curves.value_at(c, spec.target_step) for s, c in base.items() if c is not None}
    arms: dict[str, Any] = {}
    for a, k in eval_pairs(spec, picks):
        base_steps: list[int | None] = []
        steps: list[int | None] = []
        finals: list[float | None] = []
        base_finals: list[float | None] = []
        per_seed = {}
        for s in range(spec.eval_seeds):
            run, target, b = summaries.finished(job(spec, a, k, s).summary), targets.get(s), base.get(s)
            if run is None or target is None or b is None:
                continue
            steps.append(run.steps_to(target))
            base_steps.append(curves.first_reaching(b, target))
            finals.append(curves.value_at(run.curve, spec.steps))
            base_finals.append(curves.value_at(b, spec.steps))
            wall = run.wall_seconds
            per_seed[str(s)] = {
                **{"target": target, "steps": steps[-1], "final": finals[-1], "wall_seconds": wall},
                "seconds_to_target": seconds_to(steps[-1], wall, spec.steps),
                # how far the chosen step size pushes the policy per update, read beside the returns
                **{key: run.last[key] for key in LAST_UPDATE if key in run.last},
            }
        arms[spec.arm_dir(a, k)] = {
            **spec.arm_fields(a),
            "config": spec.configs()[k],
            "seeds": per_seed,
            "speedup": stats.jsonable(stats.median_ratio_bootstrap(base_steps, steps, paired=True)),
            "final_return": stats.jsonable(stats.median_bootstrap(finals)),
            "final_minus_ppo": stats.jsonable(stats.paired_t(finals, base_finals)),
            # the cost side: a seed that never reaches the target never gets there in wall-clock either
            "seconds_to_target": stats.jsonable(
                stats.median_bootstrap([x["seconds_to_target"] for x in per_seed.values()])
            ),
        }
    wallclock_vs_base(arms, arms.get(spec.arm_dir(base_arm, 0), {}).get("seeds", {}))
    return arms


def wallclock_vs_base(arms: dict[str, Any], base: dict[str, dict[str, Any]]) -> None:
    """Add each arm's wall-clock speed-up to the target over the base arm's preset: the base's median
    seconds over the arm's on their common seeds (paired seed bootstrap), so that a faster learner that
    computes more per step is read in the unit a user pays."""
    for arm in arms.values():
        common = [s for s in arm["seeds"] if s in base]
        arm["wallclock_speedup"] = stats.jsonable(
            stats.median_ratio_bootstrap(
                [base[s]["seconds_to_target"] for s in common],
                [arm["seeds"][s]["seconds_to_target"] for s in common],
                paired=True,
            )
        )


SECONDS = ("seconds_to_target", "wall_seconds")


def head_to_head(spec: TunedArms, arms: dict[str, Any], picks: dict[Hashable, int]) -> dict[str, Any]:
    """Each tuned arm against the tuned base arm on their common seeds: the ratio of median steps to the
    (base preset's) target, the base's over the arm's (paired seed bootstrap), and the paired final
    difference."""
    base_arm = spec.arms()[0]
    vs = spec.arm_dir(base_arm, picks.get(base_arm, 0))
    base = arms.get(vs, {}).get("seeds", {})
    out = {}
    for a in spec.arms()[1:]:
        name = spec.arm_dir(a, picks[a])
        seeds = arms[name]["seeds"]
        common = sorted(set(seeds) & set(base), key=int)
        pairs = [(base[s], seeds[s]) for s in common]
        b_steps, a_steps = [b["steps"] for b, _ in pairs], [x["steps"] for _, x in pairs]
        column = {key: ([b[key] for b, _ in pairs], [x[key] for _, x in pairs]) for key in SECONDS}
        out[name] = {
            "vs": vs,
            "seeds": common,
            "speedup": stats.jsonable(stats.median_ratio_bootstrap(b_steps, a_steps, paired=True)),
            # the base's median seconds over the arm's: > 1 is faster to the target / more steps a second
            "wallclock_speedup": stats.jsonable(
                stats.median_ratio_bootstrap(*column["seconds_to_target"], paired=True)
            ),
            "throughput": stats.jsonable(stats.median_ratio_bootstrap(*column["wall_seconds"], paired=True)),
            "final_minus_tuned_ppo": stats.jsonable(
                stats.paired_t([x["final"] for _, x in pairs], [b["final"] for b, _ in pairs])
            ),
        }
    return out


# -- report ---------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Words:
    """How a report names its arms in prose."""

    target_owner: str  # "plain PPO's (r = 1, preset)": whose return is the target
    steps_owner: str  # "plain PPO's": whose median steps the speed-up divides
    base_short: str  # "PPO preset": the Δ column's reference
    base_tuned: str  # "PPO": the tuned base arm
    other: str  # "oracle": the tuned other arm(s)


def render_markdown(result: dict[str, Any], labels: dict[str, str], words: Words) -> str:
    """The page (template tuning.md.j2): every configuration tried, the evaluation of each arm's preset
    and chosen configuration, and each tuned arm against the tuned base arm."""
    from rlcv.bench.report import fmt_interval, render

    tuning_rows = []
    for k, text in enumerate(["preset", *result["spec"]["grid"]]):
        cells = [f"g{k}: {text}"]
        for a, rows in result["tuning"].items():
            mark = " **chosen**" if result["chosen"] and result["chosen"].get(a) == k else ""
            cells.append(", ".join("—" if v is None else f"{v:,.0f}" for v in rows[k]) + mark)
        tuning_rows.append(cells)
    eval_rows = [
        [name, " ".join(f"{k}={v}" for k, v in arm["config"].items()) or "preset", str(len(arm["seeds"]))]
        + [
            fmt_interval(arm["speedup"], ".2f", "×"),
            fmt_interval(arm["final_return"], ",.0f"),
            fmt_interval(arm["final_minus_ppo"], "+,.0f"),
            fmt_interval(arm["seconds_to_target"], ",.0f", " s") if "seconds_to_target" in arm else "—",
            fmt_interval(arm["wallclock_speedup"], ".2f", "×") if "wallclock_speedup" in arm else "—",
        ]
        for name, arm in result["arms"].items()
    ]
    h2h_rows = [
        [name, row["vs"], str(len(row["seeds"]))]
        + [fmt_interval(row[key], ".2f", "×") for key in ("speedup", "wallclock_speedup", "throughput")]
        + [fmt_interval(row["final_minus_tuned_ppo"], "+,.0f")]
        for name, row in (result.get("head_to_head") or {}).items()
    ]
    seed_rows = [spread_row(name, arm["seeds"]) for name, arm in result["arms"].items() if arm["seeds"]]
    heads = [f"{labels[a]} score per seed" for a in result["tuning"]]
    return render(
        "tuning.md.j2",
        r=result,
        w=words,
        tuning_heads=heads,
        tuning_rows=tuning_rows,
        eval_rows=eval_rows,
        h2h_rows=h2h_rows,
        seed_rows=seed_rows,
    )


def spread_row(name: str, seeds: dict[str, dict[str, Any]]) -> list[str]:
    """An arm's worst and best seed by final return, and the median [min–max] over seeds of its last
    update's KL, clip fraction and score-term variance ratio (– where not logged)."""
    by_final = sorted((x["final"], s) for s, x in seeds.items() if x["final"] is not None)
    ends = [f"s{s}: {v:,.0f}" for v, s in (by_final[0], by_final[-1])] if by_final else ["—", "—"]
    cells = []
    for key in LAST_UPDATE:
        v = [x[key] for x in seeds.values() if key in x]
        cells.append(f"{np.median(v):.3f} [{min(v):.3f}–{max(v):.3f}]" if v else "–")
    return [name, *ends, *cells]


def report(spec: TunedArms, *, words: Words, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Write ``spec.stem()`` .json and .md from the summaries (the JSON records the spec's fields but
    ``workers``)."""
    scores = tuning_scores(spec)
    picks = chosen(scores)
    result: dict[str, Any] = {
        "command": spec.command(),
        "spec": {k: v for k, v in vars(spec).items() if k != "workers"},
        "tuning": {str(a): rows for a, rows in scores.items()},
        "chosen": None if picks is None else {str(a): k for a, k in picks.items()},
        "arms": {} if picks is None else analyse(spec, picks),
    }
    if picks is not None:
        result["head_to_head"] = head_to_head(spec, result["arms"], picks)
    stem = spec.stem()
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    labels = {str(a): spec.arm_label(a) for a in spec.arms()}
    page = {**result, "title": spec.title(), "curves": f"{stem.name}_curves.png"}
    stem.with_suffix(".md").write_text(render_markdown(page, labels, words))
    if picks is not None:
        plot(spec, picks, stem.with_name(f"{stem.name}_curves.png"))
    echo(f"wrote {stem.with_suffix('.md')}")
    return result


def run_sweep(
    spec: TunedArms,
    *,
    words: Words,
    arms_flag: str,
    report_only: bool = False,
    echo: Callable[[str], None] = print,
) -> int:
    """Tuning runs, then (once all are there) the evaluation runs, then the report; returns the number
    of failed runs. ``arms_flag`` names the arms in the error of a ``--report-only`` with no summaries."""
    spec.validate()
    failed = 0
    if report_only and not any(j.summary is not None and j.summary.is_file() for j in tuning_jobs(spec)):
        raise RlcvError(
            f"--report-only: no tuning summaries of --env {spec.env} / {arms_flag} / this --grid found "
            f"under '{Path(spec.out) / 'summaries'}'; run the bench without --report-only first."
        )
    if not report_only:
        fix = "use another --out"
        failed = len(runs.execute(tuning_jobs(spec), workers=spec.workers, fix=fix, echo=echo).failures)
        picks = chosen(tuning_scores(spec))
        if picks is not None:
            failed += len(
                runs.execute(eval_jobs(spec, picks), workers=spec.workers, fix=fix, echo=echo).failures
            )
    report(spec, words=words, echo=echo)
    return failed


# -- the command line both benches share ------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Defaults:
    grid: list[str]
    eval_seeds: int
    steps: int
    target_step: int | None  # None: --steps
    eval_freq: int
    eval_episodes: int
    out: str


def add_arguments(p: argparse.ArgumentParser, d: Defaults) -> None:
    """The flags of a tune-then-evaluate bench (its arm flags are its own)."""
    from rlcv.bench.checks import out_dir, positive_int, seed_count, seed_value

    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--grid", nargs="+", default=list(d.grid), help="configurations besides the preset")
    p.add_argument("--tune-seeds", nargs="+", type=seed_value, default=[100, 101])
    p.add_argument("--eval-seeds", type=seed_count, default=d.eval_seeds, help="evaluation seeds 0..N-1")
    p.add_argument("--steps", type=positive_int, default=d.steps)
    p.add_argument(
        "--target-step", type=positive_int, default=d.target_step, help="the base preset's return there"
    )
    p.add_argument("--eval-freq", type=positive_int, default=d.eval_freq)
    p.add_argument("--eval-episodes", type=positive_int, default=d.eval_episodes)
    p.add_argument("--workers", type=positive_int, help="concurrent runs (default: one per core)")
    p.add_argument("--out", type=out_dir, default=d.out)
    p.add_argument("--report-only", action="store_true")


def spec_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The shared flags as spec fields (the env id checked first)."""
    from rlcv.env_factory import check_env_id

    check_env_id(args.env)
    names = (
        "env",
        "grid",
        "tune_seeds",
        "eval_seeds",
        "steps",
        "eval_freq",
        "eval_episodes",
        "workers",
        "out",
    )
    return {**{n: getattr(args, n) for n in names}, "target_step": args.target_step or args.steps}
