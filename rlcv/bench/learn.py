"""`rlcv bench learn`: learning curves of every (algo, env, seed), under one evaluation protocol.

Each run is a plain ``rlcv train`` in its own process (one torch thread), so a benchmark run is exactly
what a user gets from the CLI. Runs are launched by :mod:`rlcv.bench.runs` (a local pool or Ray,
``--backend``) seed-major, so that an interrupted sweep still holds comparable algorithms; a
re-invocation skips finished runs and refuses finished runs made with other train arguments. Each
finished run leaves ``OUT/summaries/ALGO/ENV/sSEED.json``, meant to be committed: the sweep resumes, and
its report (``learn.md`` / ``.json``, ``evaluations.csv``, curve PNGs) is rebuilt with
``--report-only``, from the summaries alone. ``--seeds-per-algo ALGO=N`` gives an algo its own number
of seeds.

Evaluation protocol, identical for every algorithm: ``--eval-freq`` env steps between deterministic
evaluations of ``--eval-episodes`` episodes; the *final* return of a seed is its last evaluation
(:func:`rlcv.diagnostics.learning_runs.seed_finals`).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlcv import plotting
from rlcv.bench import runs
from rlcv.bench.checks import SEED_LIMIT, check_algos, out_dir, positive_int, seed_count, seed_value
from rlcv.bench.flags import command_line, flag, spec_of
from rlcv.bench.report import add_bench, render
from rlcv.diagnostics.learning_runs import seed_finals
from rlcv.errors import RlcvError, did_you_mean
from rlcv.learning_curves import from_summary
from rlcv.plotting import first_step_reaching, summarize

REFERENCE_ALGO = "sb3-ppo"
EVAL_COLUMNS = ("algo", "env", "seed", "step", "eval_return_mean", "eval_return_std")  # evaluations.csv


@dataclass(kw_only=True)
class LearnSpec:
    """What `rlcv bench learn` was asked for, each setting with its flag (:mod:`rlcv.bench.flags`; the
    field order is the order of the regenerating command line)."""

    algos: list[str] = flag(["ppo", "sb3-ppo", "trpo", "sb3-trpo"])
    envs: list[str] = flag(["HalfCheetah-v5", "Hopper-v5"])
    seeds: int = flag(5, type=seed_count, help="seeds FIRST..FIRST+N-1 (FIRST: --first-seed)")
    # fresh evaluation seeds beside a finished sweep's (e.g. a replication on seeds 10-14)
    first_seed: int = flag(0, type=seed_value, show=lambda s: s.first_seed != 0)
    steps: int = flag(1_000_000, type=positive_int, help="env steps per run")
    seeds_per_algo: list[str] = flag(
        [], metavar="ALGO=N", help="per-algo --seeds (e.g. trpo=3)", show=lambda s: bool(s.seeds_per_algo)
    )
    steps_per_env: list[str] = flag(
        [], metavar="ENV=N", help="per-env --steps", show=lambda s: bool(s.steps_per_env)
    )
    # None: steps // 20 per env, so every env gets ~20 curve points
    eval_freq: int | None = flag(
        None, type=positive_int, help="env steps between evaluations (default: steps/20)"
    )
    eval_episodes: int = flag(10, type=positive_int)
    workers: int | None = flag(None, type=positive_int, help="concurrent runs (default: one per core)")
    backend: str = flag("local", choices=list(runs.BACKENDS), show=lambda s: s.backend != "local")
    address: str | None = flag(None, help="Ray cluster address (default: start a local Ray)")
    reference: str = flag(
        REFERENCE_ALGO,
        help="algo whose final return the others must reach",
        show=lambda s: s.reference != REFERENCE_ALGO,
    )
    overrides: list[str] = flag(  # "key=value" or "ALGO:key=value"
        [],
        name="--set",
        action="extend",
        metavar="[ALGO:]KEY=VALUE",
        show=lambda s: bool(s.overrides),
        help="config overrides for every run, or for one algo",
    )
    out: str = flag("results/learn", type=out_dir)
    # summarise the finished runs (folders or summaries) and run nothing
    report_only: bool = flag(
        False, command=False, help="rebuild the report from the finished runs; run nothing"
    )

    def seeds_by_algo(self) -> dict[str, int]:
        return parse_pairs(self.seeds_per_algo, "--seeds-per-algo", "ALGO", "ppo=5")

    def steps_by_env(self) -> dict[str, int]:
        return parse_pairs(self.steps_per_env, "--steps-per-env", "ENV", "Hopper-v5=1000000")

    def algo_seeds(self, algo: str) -> int:
        return self.seeds_by_algo().get(algo, self.seeds)

    def seed_range(self) -> range:
        """Every seed some algo runs: FIRST..FIRST+N-1, N the largest per-algo count."""
        return range(self.first_seed, self.first_seed + max(self.algo_seeds(a) for a in self.algos))

    def env_steps(self, env: str) -> int:
        return self.steps_by_env().get(env, self.steps)

    def env_eval_freq(self, env: str) -> int:
        return self.eval_freq if self.eval_freq is not None else max(1, self.env_steps(env) // 20)

    def n_workers(self) -> int:
        return self.workers if self.workers is not None else runs.default_workers()

    def command(self) -> str:
        """The bench command that regenerates these results."""
        return command_line("rlcv bench learn", self)


@dataclass(frozen=True)
class Job:
    """One (algo, env, seed) of the sweep and its run: OUT/runs/ALGO/ENV/sSEED, summary
    OUT/summaries/ALGO/ENV/sSEED.json (:func:`rlcv.bench.runs.sweep_job`)."""

    algo: str
    env: str
    seed: int
    run: runs.RunJob

    def record(self) -> tuple[plotting.SeedCurve, dict[str, float | None], dict[str, Any]]:
        """(eval curve, last metrics row, eval std per step) from the run folder, else its summary."""
        record = self.run.record()
        ev = record["eval"]
        return from_summary(record), record["final"], dict(zip(ev["steps"], ev["return_std"], strict=True))


# -- the sweep ------------------------------------------------------------------------------------
def parse_pairs(pairs: list[str], flag: str, key: str, example: str) -> dict[str, int]:
    """``KEY=N`` pairs (N >= 1) as a dict, or one error naming ``flag`` and an example."""
    out: dict[str, int] = {}
    for pair in pairs:
        name, sep, value = pair.rpartition("=")
        if not sep or not name or not value.isdigit() or int(value) < 1:
            raise RlcvError(f"{flag} expects {key}=N (N >= 1), got '{pair}' (e.g. {example}).")
        out[name] = int(value)
    return out


def overrides_for(algo: str, overrides: list[str], algos: list[str]) -> list[str]:
    """The ``--set`` pairs that apply to ``algo``: unprefixed ones, and ``ALGO:key=value`` for it."""
    chosen = []
    for pair in overrides:
        head, sep, rest = pair.partition(":")
        if sep and "=" not in head:
            if head not in algos:
                raise RlcvError(
                    f"--set '{pair}' names algo '{head}', which is not in --algos "
                    f"{' '.join(algos)}.{did_you_mean(head, algos)}"
                )
            if head == algo:
                chosen.append(rest)
        else:
            chosen.append(pair)
    return chosen


def run_args(
    algo: str, env: str, steps: int, seed: int, every: int, episodes: int, sets: list[str]
) -> list[str]:
    """``rlcv train`` arguments of one benchmark run (one torch thread; evaluations of ``episodes`` every
    ``every`` steps), without ``--run-dir`` (which a Ray task chooses itself); the learning benches'
    runs (learn, oracle, oracle-spent, tuned-pair) all have this shape."""
    args = ["train", "--algo", algo, "--env", env, "--steps", str(steps), "--seed", str(seed)]
    args += ["--eval-freq", str(every), "--eval-episodes", str(episodes), "--num-threads", "1"]
    args.append("--no-progress")
    return [*args, "--set", *sets] if sets else args


def train_args(spec: LearnSpec, algo: str, env: str, seed: int) -> list[str]:
    sets = overrides_for(algo, spec.overrides, spec.algos)
    return run_args(algo, env, spec.env_steps(env), seed, spec.env_eval_freq(env), spec.eval_episodes, sets)


def _job(spec: LearnSpec, algo: str, env: str, seed: int) -> Job:
    where, name = (algo, env.replace("/", "-")), f"{algo}/{env}/s{seed}"
    args, steps = train_args(spec, algo, env, seed), spec.env_steps(env)
    return Job(algo, env, seed, runs.sweep_job(Path(spec.out), where, seed, args, steps, name))


def plan(spec: LearnSpec) -> list[Job]:
    return [
        _job(spec, a, e, s)
        for s in spec.seed_range()
        for e in spec.envs
        for a in spec.algos
        if s < spec.first_seed + spec.algo_seeds(a)
    ]


def run_sweep(spec: LearnSpec, *, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run what is missing, then summarise every finished run into OUT. Returns the learn.json dict."""
    _validate(spec)
    out = Path(spec.out)
    jobs = plan(spec)
    if spec.report_only:  # a sweep in progress: report what has finished, launch nothing
        finished = [job.run for job in jobs if job.run.is_done()]
        if not finished:
            raise RlcvError(
                f"--report-only: no finished runs or summaries of these --algos/--envs/--seeds under "
                f"'{out}'; run the bench without --report-only first (or point --out at them)."
            )
        report = runs.RunReport(skipped=finished)
    else:
        report = runs.execute(
            [job.run for job in jobs],
            workers=spec.n_workers(),
            backend=spec.backend,
            address=spec.address,
            fix="use another --out",
            echo=echo,
        )
    result = summarise(spec, jobs, report.failures)
    write_outputs(spec, result, report.failures)
    echo(f"wrote {out / 'learn.md'}, {out / 'learn.json'}, {out / 'evaluations.csv'}")
    if report.failures:
        echo(f"{len(report.failures)} run(s) failed; see {out / 'failures.txt'}")
    return result


def _validate(spec: LearnSpec) -> None:
    """What the flags' types cannot check (each number's range is its flag's type): known algos and env
    ids, and per-algo / per-env settings that name one of them."""
    from rlcv.agents import AGENTS, SB3_ALGOS
    from rlcv.env_factory import check_env_id

    check_algos(spec.algos, [*AGENTS, *SB3_ALGOS])
    if spec.seed_range().stop > SEED_LIMIT:
        raise RlcvError(
            f"--first-seed {spec.first_seed} with {len(spec.seed_range())} seeds runs past the last "
            f"valid seed {SEED_LIMIT - 1}; lower --first-seed or --seeds."
        )
    for env in spec.envs:  # before any run starts: a typo would otherwise fail every run of that env
        check_env_id(env)
    for algo in spec.seeds_by_algo():
        if algo not in spec.algos:
            raise RlcvError(
                f"--seeds-per-algo names '{algo}', which is not in --algos.{did_you_mean(algo, spec.algos)}"
            )
    for env in spec.steps_by_env():
        if env not in spec.envs:
            raise RlcvError(
                f"--steps-per-env names '{env}', which is not in --envs.{did_you_mean(env, spec.envs)}"
            )
    for algo in spec.algos:
        overrides_for(algo, spec.overrides, spec.algos)  # raises on an ALGO: prefix outside --algos


# -- the command --------------------------------------------------------------------------------
def register(sub: argparse._SubParsersAction) -> None:
    about = "learning curves of every (algo, env, seed), one eval protocol"
    add_bench(sub, "learn", LearnSpec, run, help=about)


def run(args: argparse.Namespace) -> int:
    """Exit code 1 when a run failed (the others were still run and summarised)."""
    return 1 if run_sweep(spec_of(LearnSpec, args))["failures"] else 0


# -- summaries ------------------------------------------------------------------------------------
def _env_result(
    spec: LearnSpec,
    env: str,
    jobs: list[Job],
    curves: dict[str, list[plotting.SeedCurve]],
    evaluations: list[dict[str, Any]],
) -> dict[str, Any]:
    """One env's entries per algorithm (:func:`rlcv.diagnostics.learning_runs.seed_finals`), each with its
    steps to the reference's final mean; appends each algo's curves to ``curves`` and their evaluations to
    ``evaluations``."""
    per_algo: dict[str, Any] = {}
    for algo in spec.algos:
        by_seed, walls, fps = {}, [], []
        for job in jobs:
            if job.env != env or job.algo != algo or not job.run.is_done():
                continue
            curve, last, std_at = job.record()
            evaluations += [
                dict(zip(EVAL_COLUMNS, (algo, env, job.seed, s, v, std_at.get(s)), strict=True))
                for s, v in zip(curve.steps.tolist(), curve.values.tolist(), strict=True)
            ]
            walls.append(float(last.get("time_elapsed") or "nan"))
            fps.append(float(last.get("fps") or "nan"))
            by_seed[job.seed] = curve
        per_algo[algo] = seed_finals(by_seed, walls, fps)
        curves[algo] = [c for c in by_seed.values() if len(c.steps)]
    reference = per_algo.get(spec.reference, {}).get("final_mean")
    for algo, entry in per_algo.items():
        if reference is not None and curves[algo]:
            entry["steps_to_reference"] = first_step_reaching(summarize(curves[algo]), reference)
    return {
        "steps": spec.env_steps(env),
        "eval_freq": spec.env_eval_freq(env),
        "reference_final_mean": reference,
        "algos": per_algo,
    }


def _machine(spec: LearnSpec) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "workers": spec.n_workers(),
        "backend": spec.backend,
        "torch_threads_per_run": 1,
    }


def summarise(spec: LearnSpec, jobs: list[Job], failures: list[runs.RunOutcome]) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {}
    curves: dict[str, dict[str, list[plotting.SeedCurve]]] = {}
    evaluations: list[dict[str, Any]] = []
    for env in spec.envs:
        curves[env] = {}
        results[env] = _env_result(spec, env, jobs, curves[env], evaluations)
    example = plan(spec)[0]
    return {
        "command": spec.command(),
        "example_train_command": shlex.join(
            ["rlcv", *example.run.train_args, "--run-dir", str(example.run.run_dir)]
        ),
        "algos": spec.algos,
        "envs": spec.envs,
        "seeds": spec.seeds,
        "eval_episodes": spec.eval_episodes,
        "reference": spec.reference,
        "overrides": spec.overrides,
        "results": results,
        "failures": [
            {"run": f.job.name, "returncode": f.returncode, "message": f.last_line} for f in failures
        ],
        "machine": _machine(spec),
        "_curves": curves,
        "_evaluations": evaluations,  # for write_outputs, not serialised
    }


def write_outputs(spec: LearnSpec, result: dict[str, Any], failures: list[runs.RunOutcome]) -> None:
    out = Path(spec.out)
    out.mkdir(parents=True, exist_ok=True)
    curves = result.pop("_curves")
    evaluations = result.pop("_evaluations")
    with (out / "evaluations.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=EVAL_COLUMNS)
        writer.writeheader()
        writer.writerows(evaluations)
    for env in spec.envs:
        png = out / f"curve_{env.replace('/', '-')}.png"
        if any(curves[env].values()):
            plotting.plot_curves({env: curves[env]}, png, title=f"{env} ({spec.env_steps(env)} steps)")
            result["results"][env]["curve_png"] = png.name
    failures_path = out / "failures.txt"
    if failures:
        failures_path.write_text(
            "".join(
                f"== {f.job.name} (exit {f.returncode}) — {f.job.run_dir}\n{f.stderr_tail}\n\n"
                for f in failures
            )
        )
    elif failures_path.exists():
        failures_path.unlink()  # a clean re-invocation: the old failures were redone successfully
    (out / "learn.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "learn.md").write_text(render_markdown(result))


def render_markdown(result: dict[str, Any]) -> str:
    """The page (template learn.md.j2): per env its budget, curve figure and one row per algo."""
    return render("learn.md.j2", r=result).rstrip("\n") + "\n"
