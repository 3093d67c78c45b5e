"""Arms that tune on one grid with one budget, then meet on fresh seeds (issue 24 items 1 and 3):
`rlcv bench oracle-spent` (plain PPO, r = 1, against the r× oracle of `rlcv bench oracle`, whose runs and
``--out`` it shares) and `rlcv bench tuned-pair` (two algorithms, base first, e.g. ``ppo mbmf-ppo``; or
one, to fix its preset on a grid).

1. Tuning. Every grid configuration (``g0`` is the preset; ``--grid`` adds one configuration per
   argument, ``KEY=VALUE`` pairs separated by spaces) runs on the tuning seeds for each arm. Its score is
   the mean eval return over all evaluations of the run (the area under the eval curve, which rewards
   learning early as well as ending high), averaged over the tuning seeds. Each arm keeps its best
   configuration; every configuration tried is in the report.
2. Evaluation. Each arm's preset and chosen configuration run on the evaluation seeds 0..N−1 (disjoint
   from the tuning seeds). Per seed the target is the base arm's (preset) eval return at the last
   evaluation ≤ ``--target-step`` (tuned-pair's default: ``--steps``); steps to it, the speed-up and the
   final return with its paired difference to the base arm, then each tuned arm against the tuned base
   arm (:mod:`rlcv.diagnostics.learning_runs`).

Summaries: ``OUT/summaries/ENV/ARM[-gK]/sS.json`` (ARM ``rR`` or the algorithm); every summary records
its train arguments, so a grid that changes after runs were made is refused by the runner. The report
(oracle-spent: ``OUT/spent_ENV.md`` / ``.json``; tuned-pair: ``OUT/ENV.md`` / ``.json``) is built from
the summaries alone; ``--report-only`` rebuilds it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable, Hashable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from rlcv import learning_curves as lc
from rlcv.bench import oracle, runs, summaries
from rlcv.bench.checks import int_range, out_dir, positive_int, seed_count, seed_value
from rlcv.bench.flags import command_line, flag, spec_of
from rlcv.bench.learn import run_args
from rlcv.bench.report import add_bench, render
from rlcv.diagnostics import learning_runs as lr
from rlcv.errors import RlcvError

LAST_UPDATE = ("approx_kl", "clip_fraction", "cv_score_var_ratio")


class TunedArms:
    """What both benches' specs share: the grid, the seeds, the runs' layout, the command line (their
    fields' flags, :mod:`rlcv.bench.flags`, in field order)."""

    NAME = ""  # the bench's command
    ARM = ""  # what names an arm: its JSON field, and its folder's prefix (r4) for a ratio
    STEM = ""  # the report's file name: STEM + ENV (.md / .json)
    env: str
    grid: list[str]
    tune_seeds: list[int]
    eval_seeds: int
    steps: int
    target_step: int
    eval_freq: int
    eval_episodes: int
    workers: int | None
    out: str

    def arms(self) -> list[Hashable]:  # the first is the base arm
        raise NotImplementedError

    def train_args(self, arm: Hashable, seed: int) -> list[str]:  # ending in its --set pairs, if any
        raise NotImplementedError

    def arm_dir(self, arm: Hashable, k: int) -> str:
        """Configuration ``k`` of ``arm``'s summaries folder: 'r4', 'r4-g1', 'ppo', 'ppo-g1'."""
        return ("r" if self.ARM == "ratio" else "") + str(arm) + (f"-g{k}" if k else "")

    def stem(self) -> Path:
        return Path(self.out) / f"{self.STEM}{oracle.env_dir(self.env)}"

    def configs(self) -> list[dict[str, str]]:
        return [{}, *(parse_config(text, reserved=self.reserved()) for text in self.grid)]

    def reserved(self) -> tuple[str, ...]:
        return ()

    def record(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k not in ("workers", "report_only")}

    def command(self) -> str:
        return command_line(f"rlcv bench {self.NAME}", self)

    def check(self) -> None:
        """The target step and the seeds: what every spec refuses."""
        if not 0 < self.target_step <= self.steps or self.eval_freq > self.target_step:
            raise RlcvError(
                f"--target-step {self.target_step} must lie in [--eval-freq, --steps] = "
                f"[{self.eval_freq}, {self.steps}]."
            )
        if not self.tune_seeds or min(self.tune_seeds) < 0:
            raise RlcvError("--tune-seeds must be one or more seeds >= 0.")
        overlap = sorted(set(self.tune_seeds) & set(range(self.eval_seeds)))
        if overlap:
            raise RlcvError(
                f"tuning seeds {overlap} are also evaluation seeds (0..{self.eval_seeds - 1}); choose "
                "--tune-seeds >= --eval-seeds so that the evaluation is on fresh seeds."
            )
        self.configs()  # the grid's own message for a malformed entry


# Fixed before any run (2026-12-06) for HalfCheetah-v5, whose preset is lr 2e-5, clip 0.1, n_steps 512,
# batch 64, 20 epochs: a larger step (lr ×2; lr ×4 with a wider clip), and more updates per sample (half
# the rollout per update). The same grid serves both arms.
SPENT_GRID = ["learning_rate=4e-5", "learning_rate=8e-5 clip_range=0.2", "n_steps=256 learning_rate=4e-5"]
# Fixed 2026-12-06, before any run: the grid on which the oracle spent its r = 4 reduction, plus the
# oracle's chosen point with half the rollout (its best point sat at the grid's edge).
PAIR_GRID = [*SPENT_GRID, "n_steps=256 learning_rate=8e-5 clip_range=0.2"]
GRID_HELP = "configurations besides the preset"
TARGET_HELP = "the base preset's return there"
WORKERS_HELP = "concurrent runs (default: one per core)"


@dataclasses.dataclass(kw_only=True)
class SpentSpec(TunedArms):
    """`rlcv bench oracle-spent`: arms r = 1 and r = ``ratio``, keyed by r."""

    NAME, ARM, STEM = "oracle-spent", "ratio", "spent_"
    env: str = flag("HalfCheetah-v5")
    ratio: int = flag(4, type=int_range(2), help="r of the oracle arm (the other arm is r = 1)")
    grid: list[str] = flag(SPENT_GRID, help=GRID_HELP)
    tune_seeds: list[int] = flag([100, 101], type=seed_value)
    eval_seeds: int = flag(5, type=seed_count, help="evaluation seeds 0..N-1")
    steps: int = flag(150_000, type=positive_int)
    target_step: int = flag(100_000, type=positive_int, help=TARGET_HELP)
    eval_freq: int = flag(5_000, type=positive_int)
    eval_episodes: int = flag(5, type=positive_int)
    workers: int | None = flag(None, type=positive_int, command=False, help=WORKERS_HELP)
    out: str = flag("results/oracle", type=out_dir)
    report_only: bool = flag(False, command=False)

    def arms(self) -> list[Hashable]:
        return [1, self.ratio]

    def train_args(self, arm: Hashable, seed: int) -> list[str]:
        return oracle.train_args(self.oracle_spec(), self.env, int(arm), seed)  # type: ignore[call-overload]

    def reserved(self) -> tuple[str, ...]:
        return ("oracle_ratio",)

    def oracle_spec(self) -> oracle.OracleSpec:
        kept = ("steps", "target_step", "eval_freq", "eval_episodes", "out")
        fields = {k: getattr(self, k) for k in kept}
        return oracle.OracleSpec(envs=[self.env], ratios=[1, self.ratio], seeds=self.eval_seeds, **fields)

    def validate(self) -> None:
        self.oracle_spec().validate()
        if self.ratio < 2:
            raise RlcvError(f"--ratio must be >= 2 (r = 1 is plain PPO, the other arm), got {self.ratio}.")
        self.check()


@dataclasses.dataclass(kw_only=True)
class PairSpec(TunedArms):
    """`rlcv bench tuned-pair`: arms keyed by algorithm, each from its own preset."""

    NAME, ARM, STEM = "tuned-pair", "algo", ""
    env: str = flag("HalfCheetah-v5")
    algos: list[str] = flag(
        ["ppo", "mbmf-ppo"],
        metavar="ALGO",
        help="BASE OTHER; or one algorithm, to fix its preset on the grid (no head-to-head)",
    )
    grid: list[str] = flag(PAIR_GRID, help=GRID_HELP)
    tune_seeds: list[int] = flag([100, 101], type=seed_value)
    eval_seeds: int = flag(10, type=seed_count, help="evaluation seeds 0..N-1")
    steps: int = flag(300_000, type=positive_int)
    # the CLI's default: --steps (_run)
    target_step: int = flag(300_000, type=positive_int, cli_default=None, help=TARGET_HELP)
    eval_freq: int = flag(10_000, type=positive_int)
    eval_episodes: int = flag(10, type=positive_int)
    sets: list[str] = flag(  # KEY=VALUE for every run of both arms
        [], name="--set", metavar="KEY=VALUE", help="for both arms", show=lambda s: bool(s.sets)
    )
    workers: int | None = flag(None, type=positive_int, command=False, help=WORKERS_HELP)
    out: str = flag("results/tuned_pair", type=out_dir)
    report_only: bool = flag(False, command=False)

    def arms(self) -> list[Hashable]:
        return list(self.algos)

    def train_args(self, arm: Hashable, seed: int) -> list[str]:
        every, episodes = self.eval_freq, self.eval_episodes
        return run_args(str(arm), self.env, self.steps, seed, every, episodes, self.sets)

    def validate(self) -> None:
        from rlcv.config import parse_overrides
        from rlcv.launch import check_algo, resolve_config

        if len(self.algos) not in (1, 2) or len(set(self.algos)) != len(self.algos):
            raise RlcvError(
                f"--algos takes one algorithm, or two different ones (base first), got {self.algos}."
            )
        self.check()
        for algo in self.algos:
            check_algo(algo)
            for text in ["", *self.grid]:  # a bad key fails here, not in every run
                resolve_config(algo, self.env, None, parse_overrides([*self.sets, *text.split()]))


Spec = SpentSpec | PairSpec


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


# -- the runs ----------------------------------------------------------------------------------------
def job(spec: TunedArms, arm: Hashable, k: int, seed: int) -> runs.RunJob:
    """One run: the arm's arguments, then grid configuration k's pairs after its ``--set``."""
    args = spec.train_args(arm, seed)
    pairs = [f"{key}={value}" for key, value in spec.configs()[k].items()]
    if pairs and "--set" not in args:
        args.append("--set")
    where = [oracle.env_dir(spec.env), spec.arm_dir(arm, k)]
    return runs.sweep_job(Path(spec.out), where, seed, args + pairs, spec.steps)


def finished(spec: TunedArms, arm: Hashable, k: int, seeds: Sequence[int]) -> dict[int, summaries.Finished]:
    """The finished runs of ``arm``'s configuration ``k`` on ``seeds``, by seed."""
    return summaries.finished_by_seed({s: job(spec, arm, k, s).summary for s in seeds})


def tuning_jobs(spec: TunedArms) -> list[runs.RunJob]:
    ks = range(len(spec.configs()))
    return [job(spec, a, k, s) for s in spec.tune_seeds for k in ks for a in spec.arms()]


def tuning_scores(spec: TunedArms) -> dict[Hashable, list[list[float | None]]]:
    """``scores[arm][k]``: the score of each tuning seed (None where the run is missing)."""
    out: dict[Hashable, list[list[float | None]]] = {}
    for a in spec.arms():
        out[a] = []
        for k in range(len(spec.configs())):
            done = finished(spec, a, k, spec.tune_seeds)
            out[a].append([lc.mean_return(done[s].curve) if s in done else None for s in spec.tune_seeds])
    return out


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


# -- the report ----------------------------------------------------------------------------------------
def evaluate(spec: Spec, picks: dict[Hashable, int]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per evaluated arm, its reading against the base preset; then each tuned arm against the tuned base."""
    seeds, base_arm = range(spec.eval_seeds), spec.arms()[0]
    base = finished(spec, base_arm, 0, seeds)
    arms: dict[str, Any] = {}
    for a, k in eval_pairs(spec, picks):
        reading = lr.arm_against_base(
            base,
            finished(spec, a, k, seeds),
            target_step=spec.target_step,
            steps=spec.steps,
            keys=LAST_UPDATE,
        )
        arms[spec.arm_dir(a, k)] = {spec.ARM: a, "config": spec.configs()[k], **reading}
    lr.wallclock_vs_base(arms, arms.get(spec.arm_dir(base_arm, 0), {}).get("seeds", {}))
    vs = spec.arm_dir(base_arm, picks.get(base_arm, 0))
    tuned_base = arms.get(vs, {}).get("seeds", {})
    h2h = {}
    for a in spec.arms()[1:]:
        name = spec.arm_dir(a, picks[a])
        h2h[name] = {"vs": vs, **lr.tuned_vs_tuned(tuned_base, arms[name]["seeds"])}
    return arms, h2h


def report(spec: Spec, *, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Write ``spec.stem()`` .json and .md (and the evaluation seeds' curves) from the summaries."""
    scores = tuning_scores(spec)
    picks = lr.best_configs(scores)
    result: dict[str, Any] = {
        "command": spec.command(),
        "spec": spec.record(),
        "tuning": {str(a): rows for a, rows in scores.items()},
        "chosen": None if picks is None else {str(a): k for a, k in picks.items()},
        "arms": {},
    }
    if picks is not None:
        result["arms"], result["head_to_head"] = evaluate(spec, picks)
    stem = spec.stem()
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    page = {**result, "kind": spec.NAME, "curves": f"{stem.name}_curves.png"}
    stem.with_suffix(".md").write_text(render_markdown(page))
    if picks is not None:
        from rlcv.plotting import plot_curves

        groups = {
            spec.arm_dir(a, k): finished(spec, a, k, range(spec.eval_seeds))
            for a, k in eval_pairs(spec, picks)
        }
        curves = {name: [r.curve for _, r in sorted(done.items())] for name, done in groups.items()}
        if any(len(c.steps) for g in curves.values() for c in g):
            png = stem.with_name(f"{stem.name}_curves.png")
            plot_curves({spec.env: curves}, png, title=f"{spec.env}: evaluation seeds")
    echo(f"wrote {stem.with_suffix('.md')}")
    return result


def render_markdown(result: dict[str, Any]) -> str:
    """The page (template tuning.md.j2): every configuration tried, the evaluation of each arm's preset
    and chosen configuration, and each tuned arm against the tuned base arm."""
    seed_rows = [spread_row(name, arm["seeds"]) for name, arm in result["arms"].items() if arm["seeds"]]
    return render("tuning.md.j2", r=result, spent=result["kind"] == "oracle-spent", seed_rows=seed_rows)


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


def run_sweep(spec: Spec, *, report_only: bool = False, echo: Callable[[str], None] = print) -> int:
    """Tuning runs, then (once all are there) the evaluation runs, then the report; returns the number
    of failed runs."""
    spec.validate()
    failed = 0
    if report_only and not any(j.has_summary() for j in tuning_jobs(spec)):
        arms = f"--ratio {spec.ratio}" if isinstance(spec, SpentSpec) else f"--algos {' '.join(spec.algos)}"
        raise RlcvError(
            f"--report-only: no tuning summaries of --env {spec.env} / {arms} / this --grid found "
            f"under '{Path(spec.out) / 'summaries'}'; run the bench without --report-only first."
        )
    if not report_only:
        fix = "use another --out"
        failed = len(runs.execute(tuning_jobs(spec), workers=spec.workers, fix=fix, echo=echo).failures)
        picks = lr.best_configs(tuning_scores(spec))
        if picks is not None:
            failed += len(
                runs.execute(eval_jobs(spec, picks), workers=spec.workers, fix=fix, echo=echo).failures
            )
    report(spec, echo=echo)
    return failed


# -- the command lines --------------------------------------------------------------------------------
def register(sub: argparse._SubParsersAction) -> None:
    """``rlcv bench oracle-spent`` and ``rlcv bench tuned-pair``."""
    about = "the oracle ceiling with hyper-parameters re-chosen for it"
    add_bench(sub, "oracle-spent", SpentSpec, partial(_run, SpentSpec), help=about)
    about = "two algorithms tuned on one grid and budget, then fresh seeds"
    add_bench(sub, "tuned-pair", PairSpec, partial(_run, PairSpec), help=about)


def _run(cls: type[Spec], args: argparse.Namespace) -> int:
    """The spec of the parsed flags (the env id checked first); exit code 1 when a run failed."""
    from rlcv.env_factory import check_env_id

    check_env_id(args.env)
    spec = spec_of(cls, args)
    spec.target_step = spec.target_step or spec.steps
    return 1 if run_sweep(spec, report_only=spec.report_only) else 0
