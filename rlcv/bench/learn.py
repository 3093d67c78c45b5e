"""`rlcv bench learn`: learning curves of every (algo, env, seed), under one evaluation protocol.

Each run is a plain ``rlcv train`` in its own process (one torch thread), so a benchmark run is
exactly what a user gets from the CLI, and a crash in one run cannot take the sweep down. Runs go
to ``OUT/runs/ALGO/ENV/sSEED`` and are scheduled seed-major (all algos and envs of seed 0 first),
so that an interrupted sweep still holds comparable algorithms.

Re-invocation. A run whose metrics.csv reaches the requested steps and that saved its model
(``model.pt``, or ``model.zip`` for SB3) is skipped. An unfinished run (killed sweep, crash) is
*restarted*, not resumed: a resumed run restarts the wall-clock columns (``time_elapsed``, ``fps``)
and re-seeds its envs, so its wall time and its curve would not be comparable to the other seeds.
The unfinished folder is moved aside to ``sSEED.incomplete`` rather than deleted. Next to each run
the bench records the train arguments it used (``sSEED.args.json``); a finished run made with
different arguments (other ``--steps``, ``--set``, eval protocol) is an error instead of being
silently mixed into the results.

Evaluation protocol, identical for every algorithm: ``--eval-freq`` env steps between
deterministic evaluations of ``--eval-episodes`` episodes (the ``eval_return_mean`` rows of
metrics.csv). The *final* return of a seed is its last evaluation. Summaries are over finished
runs only; curves and intervals come from :mod:`rlcv.plotting`.

Backends: a local pool of worker threads each waiting on one subprocess (default: one per core),
or Ray remote tasks (``--backend ray``, optional dependency). A Ray task trains into a temporary
folder on whichever node runs it and ships the run folder back as a tarball, so the driver's OUT
holds every run even on a multi-node cluster (whose nodes need rlcv installed).
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlcv import plotting
from rlcv.errors import RlcvError, did_you_mean

REFERENCE_ALGO = "sb3-ppo"
STDERR_TAIL_LINES = 20
# Numpy/BLAS threads on top of torch's single thread would oversubscribe the cores the pool fills.
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


@dataclass(kw_only=True)
class LearnSpec:
    """What `rlcv bench learn` was asked for (flags of the CLI, already parsed)."""

    algos: list[str]
    envs: list[str]
    seeds: int
    steps: int
    steps_per_env: dict[str, int] = field(default_factory=dict)
    eval_freq: int | None = None  # None: steps // 20 per env, so every env gets ~20 curve points
    eval_episodes: int = 10
    workers: int | None = None  # None: one per available core
    backend: str = "local"
    address: str | None = None
    out: str = "results/learn"
    overrides: list[str] = field(default_factory=list)  # "key=value" or "ALGO:key=value"
    reference: str = REFERENCE_ALGO

    def env_steps(self, env: str) -> int:
        return self.steps_per_env.get(env, self.steps)

    def env_eval_freq(self, env: str) -> int:
        return self.eval_freq if self.eval_freq is not None else max(1, self.env_steps(env) // 20)

    def n_workers(self) -> int:
        if self.workers is not None:
            return self.workers
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

    def command(self) -> str:
        """The bench command that regenerates these results."""
        argv = [
            "rlcv",
            "bench",
            "learn",
            "--algos",
            *self.algos,
            "--envs",
            *self.envs,
            "--seeds",
            str(self.seeds),
            "--steps",
            str(self.steps),
        ]
        if self.steps_per_env:
            argv += ["--steps-per-env", *(f"{e}={n}" for e, n in self.steps_per_env.items())]
        if self.eval_freq is not None:
            argv += ["--eval-freq", str(self.eval_freq)]
        argv += ["--eval-episodes", str(self.eval_episodes), "--workers", str(self.n_workers())]
        if self.backend != "local":
            argv += ["--backend", self.backend]
        if self.address:
            argv += ["--address", self.address]
        if self.reference != REFERENCE_ALGO:
            argv += ["--reference", self.reference]
        if self.overrides:
            argv += ["--set", *self.overrides]
        return shlex.join([*argv, "--out", self.out])


@dataclass(frozen=True)
class Job:
    algo: str
    env: str
    seed: int
    steps: int
    run_dir: Path

    @property
    def name(self) -> str:
        return f"{self.algo}/{self.env}/s{self.seed}"

    @property
    def args_path(self) -> Path:
        return self.run_dir.with_name(self.run_dir.name + ".args.json")


@dataclass(frozen=True)
class Outcome:
    job: Job
    returncode: int
    stderr_tail: str
    seconds: float

    @property
    def last_line(self) -> str:
        lines = [ln for ln in self.stderr_tail.splitlines() if ln.strip()]
        return lines[-1].strip() if lines else f"exit code {self.returncode}, no stderr"


# -- the sweep ------------------------------------------------------------------------------------
def parse_steps_per_env(pairs: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for pair in pairs:
        env, sep, value = pair.rpartition("=")
        if not sep or not env or not value.isdigit() or int(value) < 1:
            raise RlcvError(f"--steps-per-env expects ENV=STEPS, got '{pair}' (e.g. Hopper-v5=1000000).")
        out[env] = int(value)
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


def train_args(spec: LearnSpec, job: Job) -> list[str]:
    """``rlcv train`` arguments of one run, without ``--run-dir`` (which a Ray task chooses itself)."""
    args = [
        "train",
        "--algo",
        job.algo,
        "--env",
        job.env,
        "--steps",
        str(job.steps),
        "--seed",
        str(job.seed),
        "--eval-freq",
        str(spec.env_eval_freq(job.env)),
        "--eval-episodes",
        str(spec.eval_episodes),
        "--num-threads",
        "1",
        "--no-progress",
    ]
    sets = overrides_for(job.algo, spec.overrides, spec.algos)
    return [*args, "--set", *sets] if sets else args


def plan(spec: LearnSpec) -> list[Job]:
    runs = Path(spec.out) / "runs"
    return [
        Job(algo=a, env=e, seed=s, steps=spec.env_steps(e), run_dir=runs / a / e.replace("/", "-") / f"s{s}")
        for s in range(spec.seeds)
        for e in spec.envs
        for a in spec.algos
    ]


def is_finished(run_dir: Path, steps: int) -> bool:
    """metrics.csv reaches ``steps`` and the final model was saved (the last thing a run does)."""
    if not ((run_dir / "model.pt").is_file() or (run_dir / "model.zip").is_file()):
        return False
    rows = _read_rows(run_dir / "metrics.csv")
    return bool(rows) and int(float(rows[-1]["step"])) >= steps


def _read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _recorded_args(job: Job) -> list[str] | None:
    try:
        return json.loads(job.args_path.read_text())["train_args"]
    except (OSError, ValueError, KeyError):
        return None


def triage(spec: LearnSpec, jobs: list[Job]) -> tuple[list[Job], list[Job]]:
    """Split into (finished: skip, to run). Fails before launching anything if a finished run was made
    with other arguments, and moves unfinished run folders aside."""
    done, todo, stale = [], [], []
    for job in jobs:
        if is_finished(job.run_dir, job.steps):
            recorded = _recorded_args(job)
            if recorded is not None and recorded != train_args(spec, job):
                stale.append(job)
            done.append(job)
        else:
            todo.append(job)
    if stale:
        job = stale[0]
        raise RlcvError(
            f"{len(stale)} finished run(s) in '{Path(spec.out) / 'runs'}' were made with other settings "
            f"(e.g. {job.name}: `rlcv {shlex.join(_recorded_args(job) or [])}`); use another --out, "
            f"or delete those runs to redo them."
        )
    for job in todo:
        if job.run_dir.exists():
            aside = job.run_dir.with_name(job.run_dir.name + ".incomplete")
            shutil.rmtree(aside, ignore_errors=True)
            job.run_dir.rename(aside)
    return done, todo


def run_local(spec: LearnSpec, jobs: list[Job]) -> Iterator[Outcome]:
    """One thread per worker, each blocked on its own ``rlcv train`` process."""

    def one(job: Job) -> Outcome:
        start = time.perf_counter()
        cmd = [sys.executable, "-m", "rlcv.cli", *train_args(spec, job), "--run-dir", str(job.run_dir)]
        proc = subprocess.run(
            cmd,
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **SINGLE_THREAD_ENV},
        )
        return Outcome(job, proc.returncode, _tail(proc.stderr), time.perf_counter() - start)

    with ThreadPoolExecutor(max_workers=spec.n_workers()) as pool:
        futures = [pool.submit(one, job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()


def _tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-STDERR_TAIL_LINES:])


def ray_train(args: list[str]) -> tuple[int, str, bytes, float]:
    """Body of a Ray task: train into a temporary folder on this node, return it as a gzip tarball."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rlcv-bench-") as tmp:
        run_dir = Path(tmp) / "run"
        proc = subprocess.run(
            [sys.executable, "-m", "rlcv.cli", *args, "--run-dir", str(run_dir)],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **SINGLE_THREAD_ENV},
        )
        buffer = io.BytesIO()
        if run_dir.is_dir():
            with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
                tar.add(run_dir, arcname=".")
    return proc.returncode, _tail(proc.stderr), buffer.getvalue(), time.perf_counter() - start


def run_ray(spec: LearnSpec, jobs: list[Job]) -> Iterator[Outcome]:
    """Ray remote tasks of one CPU each. Without --address a local Ray instance is started with
    --workers CPUs (and shut down afterwards); with one, the cluster's CPUs set the parallelism."""
    try:
        import ray
    except ImportError as exc:
        raise RlcvError(
            "--backend ray needs Ray: pip install 'ray[default]' (or use --backend local)."
        ) from exc
    started = not ray.is_initialized()
    if started:
        if spec.address:
            ray.init(address=spec.address, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(num_cpus=spec.n_workers(), include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(ray_train)
        pending = {task.remote(train_args(spec, job)): job for job in jobs}
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(ref)
            try:
                returncode, stderr, tarball, seconds = ray.get(ref)
            except (
                ray.exceptions.RayError
            ) as exc:  # the task itself died (node lost, out of memory): report, go on
                yield Outcome(job, -1, f"ray task failed: {type(exc).__name__}: {exc}".splitlines()[0], 0.0)
                continue
            if tarball:
                job.run_dir.mkdir(parents=True, exist_ok=True)
                with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
                    tar.extractall(job.run_dir, filter="data")
            yield Outcome(job, returncode, stderr, seconds)
    finally:
        if started:
            ray.shutdown()


def run_sweep(spec: LearnSpec, *, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run what is missing, then summarise every finished run into OUT. Returns the learn.json dict."""
    _validate(spec)
    out = Path(spec.out)
    jobs = plan(spec)
    done, todo = triage(spec, jobs)
    if done:
        echo(f"skipping {len(done)} finished run(s) already in {out / 'runs'}")
    failures: list[Outcome] = []
    if todo:
        echo(f"running {len(todo)} run(s) on {spec.n_workers()} {spec.backend} worker(s)")
        for job in todo:
            job.run_dir.parent.mkdir(parents=True, exist_ok=True)
            job.args_path.write_text(json.dumps({"train_args": train_args(spec, job)}, indent=1) + "\n")
        runner = run_ray if spec.backend == "ray" else run_local
        for i, outcome in enumerate(runner(spec, todo), start=1):
            job = outcome.job
            ok = outcome.returncode == 0 and is_finished(job.run_dir, job.steps)
            if outcome.returncode == 0 and not ok:
                outcome = Outcome(
                    job, 0, "exited 0 but left no model / fewer steps than asked", outcome.seconds
                )
            if not ok:
                failures.append(outcome)
            status = "done" if ok else f"FAILED: {outcome.last_line}"
            echo(f"[{i}/{len(todo)}] {job.name} {status} ({outcome.seconds:.0f} s)")
    else:
        echo("nothing to run")
    result = summarise(spec, jobs, failures)
    write_outputs(spec, result, failures)
    echo(f"wrote {out / 'learn.md'}, {out / 'learn.json'}, {out / 'evaluations.csv'}")
    if failures:
        echo(f"{len(failures)} run(s) failed; see {out / 'failures.txt'}")
    return result


def _validate(spec: LearnSpec) -> None:
    from rlcv.agents import AGENTS, SB3_ALGOS

    known = [*AGENTS, *SB3_ALGOS]
    for algo in spec.algos:
        if algo not in known:
            raise RlcvError(
                f"unknown algorithm '{algo}'.{did_you_mean(algo, known)} Known: {', '.join(known)}."
            )
    for env in spec.steps_per_env:
        if env not in spec.envs:
            raise RlcvError(
                f"--steps-per-env names '{env}', which is not in --envs.{did_you_mean(env, spec.envs)}"
            )
    if (
        spec.seeds < 1
        or spec.steps < 1
        or spec.eval_episodes < 1
        or (spec.workers is not None and spec.workers < 1)
    ):
        raise RlcvError("--seeds, --steps, --eval-episodes and --workers must be >= 1.")
    if spec.eval_freq is not None and spec.eval_freq < 1:
        raise RlcvError("--eval-freq must be >= 1 (evaluations are what the bench compares).")
    if spec.backend not in ("local", "ray"):
        raise RlcvError(f"--backend must be 'local' or 'ray', got '{spec.backend}'.")
    for algo in spec.algos:
        overrides_for(algo, spec.overrides, spec.algos)  # raises on an ALGO: prefix outside --algos


# -- summaries ------------------------------------------------------------------------------------
def summarise(spec: LearnSpec, jobs: list[Job], failures: list[Outcome]) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {}
    curves: dict[str, dict[str, list[plotting.SeedCurve]]] = {}
    evaluations: list[dict[str, Any]] = []
    for env in spec.envs:
        per_algo: dict[str, Any] = {}
        curves[env] = {}
        for algo in spec.algos:
            seeds, finals, walls, fps = [], [], [], []
            curves[env][algo] = []
            for job in jobs:
                if job.env != env or job.algo != algo or not is_finished(job.run_dir, job.steps):
                    continue
                curve = plotting.read_metric(job.run_dir / "metrics.csv", "eval_return_mean")
                stds = plotting.read_metric(job.run_dir / "metrics.csv", "eval_return_std")
                std_at = dict(zip(stds.steps.tolist(), stds.values.tolist(), strict=True))
                evaluations += [
                    {
                        "algo": algo,
                        "env": env,
                        "seed": job.seed,
                        "step": s,
                        "eval_return_mean": v,
                        "eval_return_std": std_at.get(s),
                    }
                    for s, v in zip(curve.steps.tolist(), curve.values.tolist(), strict=True)
                ]
                last = _read_rows(job.run_dir / "metrics.csv")[-1]
                walls.append(float(last["time_elapsed"]))
                fps.append(float(last["fps"]))
                if len(curve.steps):
                    seeds.append(job.seed)
                    finals.append(float(curve.values[-1]))
                    curves[env][algo].append(curve)
            entry: dict[str, Any] = {
                "seeds": len(seeds),
                "final_per_seed": dict(zip(seeds, finals, strict=True)),
            }
            if finals:
                low, high = plotting.bootstrap_ci(finals)
                entry.update(final_mean=statistics.fmean(finals), final_ci95=[low, high])
            if walls:
                entry.update(wall_time_median_s=statistics.median(walls), fps_median=statistics.median(fps))
            per_algo[algo] = entry
        reference = per_algo.get(spec.reference, {}).get("final_mean")
        for algo, entry in per_algo.items():
            if reference is not None and curves[env][algo]:
                reached = plotting.first_step_reaching(plotting.summarize(curves[env][algo]), reference)
                entry["steps_to_reference"] = reached
        results[env] = {
            "steps": spec.env_steps(env),
            "eval_freq": spec.env_eval_freq(env),
            "reference_final_mean": reference,
            "algos": per_algo,
        }
    example = plan(spec)[0]
    return {
        "command": spec.command(),
        "example_train_command": shlex.join(
            ["rlcv", *train_args(spec, example), "--run-dir", str(example.run_dir)]
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
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "workers": spec.n_workers(),
            "backend": spec.backend,
            "torch_threads_per_run": 1,
        },
        "_curves": curves,
        "_evaluations": evaluations,  # for write_outputs, not serialised
    }


def curve_filename(env: str) -> str:
    return f"curve_{env.replace('/', '-')}.png"


def write_outputs(spec: LearnSpec, result: dict[str, Any], failures: list[Outcome]) -> None:
    out = Path(spec.out)
    out.mkdir(parents=True, exist_ok=True)
    curves = result.pop("_curves")
    evaluations = result.pop("_evaluations")
    columns = ["algo", "env", "seed", "step", "eval_return_mean", "eval_return_std"]
    with (out / "evaluations.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(evaluations)
    for env in spec.envs:
        png = out / curve_filename(env)
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


def _fmt_seconds(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _fmt_return(entry: dict[str, Any]) -> str:
    if "final_mean" not in entry:
        return "—"
    low, high = entry["final_ci95"]
    return f"{entry['final_mean']:.1f} [{low:.1f}, {high:.1f}]"


def render_markdown(result: dict[str, Any]) -> str:
    ref = result["reference"]
    lines = [
        "# Learning curves",
        "",
        "Regenerate with:",
        "",
        f"    {result['command']}",
        "",
        (
            f"Every (algo, env, seed) is one `rlcv train` process with one torch thread; deterministic evaluation "
            f"of {result['eval_episodes']} episodes every *eval freq* env steps, identical for every algo. "
            "*Final* return is each seed's last evaluation; the table gives its mean over seeds and the 95% "
            "percentile-bootstrap interval of that mean. Curves: seed mean with the same bootstrap band. "
            f"*Steps to {ref}* is the first env step at which the algo's seed-mean evaluation curve reaches "
            f"{ref}'s final mean return. Wall time and steps/s are medians over seeds of the run's last "
            "metrics row (training loop only; process start-up excluded)."
        ),
        "",
    ]
    for env, env_result in result["results"].items():
        lines += [
            f"## {env}",
            "",
            f"{env_result['steps']} env steps per run, evaluation every {env_result['eval_freq']} steps.",
            "",
        ]
        if "curve_png" in env_result:
            lines += [f"![{env}]({env_result['curve_png']})", ""]
        has_ref = env_result["reference_final_mean"] is not None
        header = "| algo | seeds | final eval return, mean [95% CI] |"
        header += f" steps to reach {ref} ({env_result['reference_final_mean']:.1f}) |" if has_ref else ""
        header += " wall time | steps/s |"
        lines += [header, "|---|---:|---:|" + ("---:|" if has_ref else "") + "---:|---:|"]
        for algo, entry in env_result["algos"].items():
            row = f"| {algo} | {entry['seeds']} | {_fmt_return(entry)} |"
            if has_ref:
                reached = entry.get("steps_to_reference", "—")
                row += f" {'not reached' if reached is None else reached} |"
            if "wall_time_median_s" in entry:
                row += f" {_fmt_seconds(entry['wall_time_median_s'])} | {entry['fps_median']:.0f} |"
            else:
                row += " — | — |"
            lines.append(row)
        lines.append("")
    if not any(env_result["reference_final_mean"] is not None for env_result in result["results"].values()):
        lines += [f"(No *steps to reach* column: {ref} is not in the sweep or has no finished run.)", ""]
    if result["failures"]:
        retry = (
            "Re-invoke the same command to retry them (finished runs are skipped); stderr tails are in "
            "`failures.txt`."
        )
        lines += ["## Failed runs", "", retry, "", "| run | exit | last stderr line |", "|---|---:|---|"]
        lines += [
            f"| {f['run']} | {f['returncode']} | {f['message'].replace('|', '/')} |"
            for f in result["failures"]
        ]
        lines.append("")
    machine = result["machine"]
    lines += [
        "One train command of the sweep:",
        "",
        f"    {result['example_train_command']}",
        "",
        (
            f"Machine: {machine['processor']}, {machine['cores']} cores, {machine['workers']} concurrent runs "
            f"({machine['backend']} backend), Python {machine['python']}."
        ),
        "",
    ]
    return "\n".join(lines)
