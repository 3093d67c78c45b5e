"""`rlcv bench oracle`: the oracle ceiling — how much faster PPO learns when its policy gradient
averages over r× the samples (``--algo ppo-oracle --set oracle_ratio=r``, :mod:`rlcv.agents.ppo_oracle`).

The extra samples come from the same policy but are not counted as env steps, and the critic, the
minibatch count, the learning rate and the clipping are those of plain PPO, so only the variance of
the policy gradient shrinks (by r× for independent samples). The speed-up measured here is therefore
the best any unbiased r× variance reduction of the policy gradient (e.g. a control variate) can buy.

Protocol: per env, ratio r and seed s one ``rlcv train --algo ppo-oracle --set oracle_ratio=r`` (the
env's preset; seeds paired across ratios, r = 1 is plain PPO); per seed, each r's steps to that seed's
r = 1 return at ``--target-step`` and the speed-up ``target_step / steps``, means over seeds with seed
bootstrap intervals (:func:`rlcv.diagnostics.learning_runs.speedups_over_base`; templates/oracle.md.j2
says how to read them). Runs go through :mod:`rlcv.bench.runs`: each finished run's summary
``OUT/summaries/ENV/rR/sS.json`` is committed and skipped on a rerun; the report (``OUT/oracle.md`` /
``.json``, ``oracle_ENV.png``) is built from the summaries alone (``--report-only``).

Cost (measured on the shared 2-core machine, one thread per run, load ≈ 5): 150k counted steps take
about 3.0 / 3.3 / 4.6 min for r = 1 / 2 / 4 on HalfCheetah-v5 and 1.6 / 2.5 / 3.2 min on Hopper-v5,
evaluations included (5 episodes cost < 1 s), so the default sweep (2 envs × 3 ratios × 5 seeds) is
about 1.5 core-hours: under an hour of wall time on 2 idle cores.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlcv.bench import runs, summaries
from rlcv.bench.checks import out_dir, positive_int, seed_count
from rlcv.bench.flags import command_line, flag, spec_of
from rlcv.bench.learn import run_args
from rlcv.bench.report import add_bench, render
from rlcv.diagnostics.learning_runs import speedups_over_base
from rlcv.errors import RlcvError
from rlcv.plotting import SeedCurve

DEFAULT_ENVS = ["HalfCheetah-v5", "Hopper-v5"]


@dataclass(kw_only=True)
class OracleSpec:
    """What `rlcv bench oracle` was asked for, each setting with its flag."""

    envs: list[str] = flag(list(DEFAULT_ENVS))
    ratios: list[int] = flag([1, 2, 4], type=positive_int, help="r values; must include 1")
    seeds: int = flag(5, type=seed_count, help="seeds 0..N-1, paired across ratios")
    steps: int = flag(150_000, type=positive_int, help="counted env steps per run")
    target_step: int = flag(100_000, type=positive_int, help="step of plain PPO's target return")
    # 30 curve points of 5 episodes: the step-to-target resolution is 5 % of the target step, and the
    # evaluation's env steps (≤ 5 × 1000 per point) are a small share of an r-fold training run.
    eval_freq: int = flag(5_000, type=positive_int, help="counted env steps between evaluations")
    eval_episodes: int = flag(5, type=positive_int)
    workers: int | None = flag(None, type=positive_int, help="concurrent runs (default: one per core)")
    out: str = flag("results/oracle", type=out_dir)
    report_only: bool = flag(False, command=False, help="rebuild the report from OUT/summaries")

    def command(self) -> str:
        """The bench command that regenerates these results."""
        return command_line("rlcv bench oracle", self)

    def validate(self) -> None:
        """What the flags' types (each number's range) cannot check: r = 1 present, the target step."""
        if not self.ratios or min(self.ratios) < 1 or 1 not in self.ratios:
            raise RlcvError("--ratios must be integers >= 1 and include 1 (plain PPO sets the target).")
        if not self.eval_freq <= self.target_step <= self.steps:
            raise RlcvError(
                f"--target-step {self.target_step} must lie in [--eval-freq, --steps] = "
                f"[{self.eval_freq}, {self.steps}] so that plain PPO has an evaluation there."
            )


def env_dir(env: str) -> str:
    return env.replace("/", "-")


def train_args(spec: OracleSpec, env: str, ratio: int, seed: int) -> list[str]:
    """``rlcv train`` arguments of one run; summaries of older runs say ``--algo ppo`` (the same training,
    :mod:`rlcv.legacy`)."""
    sets = [f"oracle_ratio={ratio}"]
    return run_args("ppo-oracle", env, spec.steps, seed, spec.eval_freq, spec.eval_episodes, sets)


def job(spec: OracleSpec, env: str, ratio: int, seed: int) -> runs.RunJob:
    """One run: its folder OUT/runs/ENV/rR/sS and its summary OUT/summaries/ENV/rR/sS.json."""
    return runs.sweep_job(
        Path(spec.out), [env_dir(env), f"r{ratio}"], seed, train_args(spec, env, ratio, seed), spec.steps
    )


def plan(spec: OracleSpec) -> list[runs.RunJob]:
    """Seed-major (every env and ratio of seed 0 first), so an interrupted sweep holds paired seeds."""
    return [job(spec, env, r, s) for s in range(spec.seeds) for env in spec.envs for r in spec.ratios]


# -- the report (from summaries alone) ------------------------------------------------------------
def load_curves(
    spec: OracleSpec,
) -> tuple[dict[str, dict[int, dict[int, SeedCurve]]], dict[str, dict[int, list[float]]]]:
    """``curves[env][ratio][seed]`` from the summaries present, and ``wall[env][ratio]``: the wall
    seconds of those runs."""
    curves: dict[str, dict[int, dict[int, SeedCurve]]] = {}
    wall: dict[str, dict[int, list[float]]] = {}
    for env in spec.envs:
        curves[env], wall[env] = {}, {}
        for r in spec.ratios:
            paths = {s: job(spec, env, r, s).summary for s in range(spec.seeds)}
            for s, run in summaries.finished_by_seed(paths).items():
                curves[env].setdefault(r, {})[s] = run.curve
                wall[env].setdefault(r, []).append(run.wall_seconds or 0.0)
    return curves, wall


def report(spec: OracleSpec, *, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Build ``oracle.json``, ``oracle.md`` and the curve PNGs from the summaries in OUT: per env, the
    speed-ups over r = 1 (:func:`rlcv.diagnostics.learning_runs.speedups_over_base`)."""
    from rlcv.plotting import plot_curves

    out = Path(spec.out)
    curves, wall = load_curves(spec)
    result: dict[str, Any] = {
        "command": spec.command(),
        "spec": {k: v for k, v in vars(spec).items() if k not in ("workers", "report_only")},
        "wall_seconds_total": sum(sum(w) for per_env in wall.values() for w in per_env.values()),
        "envs": {},
    }
    out.mkdir(parents=True, exist_ok=True)
    for env in spec.envs:
        stats = speedups_over_base(curves[env], target_step=spec.target_step, final_step=spec.steps)
        for r, seconds in wall[env].items():
            stats["ratios"][str(r)]["wall_seconds_mean"] = float(np.mean(seconds))
        groups = {f"r={r}": [c for _, c in sorted(curves[env][r].items())] for r in sorted(curves[env])}
        if any(len(c.steps) for g in groups.values() for c in g):
            png = out / f"oracle_{env_dir(env)}.png"
            plot_curves({env: groups}, png, title=f"{env}: PPO, policy gradient over r× samples")
            stats["curve_png"] = png.name
        result["envs"][env] = stats
    (out / "oracle.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "oracle.md").write_text(render("oracle.md.j2", result=result, spec=result["spec"]))
    echo(f"wrote {out / 'oracle.md'}, {out / 'oracle.json'}")
    return result


# -- the command --------------------------------------------------------------------------------
def run_sweep(
    spec: OracleSpec, *, report_only: bool = False, echo: Callable[[str], None] = print
) -> tuple[dict[str, Any], int]:
    """Run the runs whose summary is missing (unless ``report_only``), then the report; returns it
    with the number of failed runs."""
    spec.validate()
    failures: list[runs.RunOutcome] = []
    if report_only:
        if not any(j.has_summary() for j in plan(spec)):  # an empty report would read like a result
            raise RlcvError(
                f"--report-only: no summaries of these --envs/--ratios/--seeds under "
                f"'{Path(spec.out) / 'summaries'}'; run the bench without --report-only first (or point "
                "--out at the folder that holds them)."
            )
    else:
        report_ = runs.execute(plan(spec), workers=spec.workers, fix="use another --out", echo=echo)
        failures = report_.failures
        for f in failures:
            echo(f"{f.job.name} failed: {f.last_line}")
    return report(spec, echo=echo), len(failures)


def register(sub: argparse._SubParsersAction) -> None:
    about = "PPO with r× policy-gradient samples: the variance-reduction ceiling"
    add_bench(sub, "oracle", OracleSpec, run, help=about)


def run(args: argparse.Namespace) -> int:
    """Exit code 1 when a run failed (the others were still run and reported)."""
    from rlcv.env_factory import check_env_id

    for env in args.envs:
        check_env_id(env)
    spec = spec_of(OracleSpec, args)
    _, failed = run_sweep(spec, report_only=spec.report_only)
    return 1 if failed else 0
