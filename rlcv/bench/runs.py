"""The one way benches launch their runs. Two kinds, one contract (resume, skip what is finished,
per-run summaries, a local pool or Ray):

- training runs (:class:`RunJob`, :func:`execute`): each a plain ``rlcv train`` in its own process;
- in-process runs (:class:`~rlcv.bench.tasks.Task`, :func:`~rlcv.bench.tasks.run_tasks`): a bench's
  own function (an SGD path, a gradient check), its JSON summary kept by
  :class:`~rlcv.bench.tasks.SummaryStore` (:mod:`rlcv.bench.tasks`).

A training run is then exactly what a user gets from the CLI, and a crash in one run cannot take the
bench down: it is reported and the other runs go on. Every process gets one thread (``--num-threads
1`` in the bench's arguments, and :data:`SINGLE_THREAD_ENV` here), because the pool fills the cores
and numpy/BLAS threads on top would oversubscribe them.

Re-invocation (:func:`triage`). A run that is finished (:meth:`RunDir.is_finished`: final policy
saved, metrics.csv reaching the requested steps) is skipped. An unfinished run (killed bench,
crash) is *restarted*, not resumed: a resumed run restarts the wall-clock columns and re-seeds its
envs, so its wall time and its curve would not be comparable to the other seeds. Its folder is
moved aside to ``NAME.incomplete`` rather than deleted. Next to each run the train arguments are
recorded (``NAME.args.json``); a finished run made with other arguments is an error before anything
is launched, instead of being silently mixed into the results. A finished run without a record
(made before records existed) is trusted.

Summaries (optional, ``RunJob.summary``; :mod:`rlcv.bench.summaries`): a small JSON of a finished
run — its evaluation curve, its last metrics row, its wall time and its train arguments — written as
soon as the run ends, meant to be committed under ``results/`` while the (large) run folders are not. A
job whose summary
exists is skipped even when its run folder is gone (a fresh clone of an interrupted sweep), and a
summary made with other arguments is refused like a stale run. Reports built from summaries alone
can then be regenerated, and a sweep resumed, from what is committed.

Backends: a local pool of worker threads each waiting on one subprocess, or Ray remote tasks of one
CPU each (optional dependency). A Ray task trains into a temporary folder on whichever node runs
it and ships the run folder back as a tarball, so the driver holds every run even on a multi-node
cluster (whose nodes need rlcv installed).
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlcv.bench import run_config, summaries
from rlcv.bench.pool import BACKENDS, SINGLE_THREAD_ENV, default_workers, ray_finished, ray_session, say
from rlcv.bench.summaries import finished_record, read_run, read_summary

# The in-process runner, re-exported for the benches that import it from here (walk, sharpness,
# dualcutout, hpo-budget, bgan-capacity).
from rlcv.bench.tasks import ResultStore, SummaryStore, Task, add_pool_flags, pool_of, run_tasks  # noqa: F401
from rlcv.errors import RlcvError
from rlcv.legacy import upgrade_train_args
from rlcv.run_dir import RunDir

STDERR_TAIL_LINES = 20


@dataclass(frozen=True)
class RunJob:
    """One ``rlcv train`` run: its arguments without ``--run-dir`` (the runner adds it, since a Ray
    task picks its own folder) and the steps at which it counts as finished."""

    name: str  # shown in progress lines and failure reports, e.g. "ppo/Hopper-v5/s0"
    run_dir: Path
    train_args: list[str]
    steps: int
    summary: Path | None = None  # the run's summary JSON, written once it finishes (module docstring)
    code: Path | None = None  # a checkout whose code trains it (working directory and PYTHONPATH)

    @property
    def args_path(self) -> Path:
        return self.run_dir.with_name(self.run_dir.name + ".args.json")

    def is_finished(self) -> bool:
        return RunDir(self.run_dir).is_finished(self.steps)

    def has_summary(self) -> bool:
        return self.summary is not None and self.summary.is_file()

    def is_done(self) -> bool:
        """Its folder holds the finished run, or its summary is there (a fresh clone of a sweep)."""
        return self.is_finished() or self.has_summary()

    def record(self) -> dict[str, Any]:
        """The finished run's ``eval`` and ``final`` (:func:`finished_record`)."""
        if self.summary is None:
            return read_run(self.run_dir)
        return finished_record(self.run_dir, self.steps, self.summary)


def sweep_job(
    out: Path, where: Sequence[str], seed: int, train_args: list[str], steps: int, name: str | None = None
) -> RunJob:
    """Seed ``seed``'s run of a sweep in ``out``: its folder OUT/runs/WHERE.../sSEED and its summary
    OUT/summaries/WHERE.../sSEED.json (committed; the folders are not), named 'WHERE.../sSEED' unless
    ``name`` says otherwise."""
    rel = Path(*where, f"s{seed}")
    summary = out / "summaries" / rel.with_suffix(".json")
    return RunJob(name or rel.as_posix(), out / "runs" / rel, train_args, steps, summary=summary)


@dataclass(frozen=True)
class RunOutcome:
    job: RunJob
    returncode: int
    stderr_tail: str
    seconds: float
    finished: bool  # the run folder holds a finished run afterwards

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.finished

    @property
    def last_line(self) -> str:
        if self.returncode == 0 and not self.finished:
            return "exited 0 but left no policy / fewer steps than asked"
        lines = [ln for ln in self.stderr_tail.splitlines() if ln.strip()]
        return lines[-1].strip() if lines else f"exit code {self.returncode}, no stderr"


@dataclass
class RunReport:
    """What :func:`execute` did: runs it skipped as finished, and the outcome of every run it launched."""

    skipped: list[RunJob] = field(default_factory=list)
    outcomes: list[RunOutcome] = field(default_factory=list)

    @property
    def failures(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if not o.ok]


def train_command(train_args: list[str], run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "rlcv.cli", *train_args, "--run-dir", str(run_dir)]


def _tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-STDERR_TAIL_LINES:])


def run_one(job: RunJob) -> RunOutcome:
    """Train ``job`` in a subprocess in this thread; its stdout is discarded, its stderr tail kept."""
    start = time.perf_counter()
    code = {} if job.code is None else {"PYTHONPATH": str(job.code.resolve())}
    with subprocess.Popen(
        train_command(job.train_args, job.run_dir.resolve() if job.code else job.run_dir),
        cwd=job.code,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **SINGLE_THREAD_ENV, **code},
    ) as proc:
        with _RUNNING_LOCK:
            _RUNNING.add(proc)
        try:
            _, stderr = proc.communicate()
        finally:
            with _RUNNING_LOCK:
                _RUNNING.discard(proc)
    seconds = time.perf_counter() - start
    return RunOutcome(job, proc.returncode, _tail(stderr), seconds, job.is_finished())


# The local backend's running `rlcv train` processes, so that a stopped sweep stops them too.
_RUNNING: set[subprocess.Popen[str]] = set()
_RUNNING_LOCK = threading.Lock()


def _stop_running() -> None:
    """SIGTERM every running train process (each removes its staging and releases its lock, as on
    Ctrl-C) and wait for them; a sweep started again resumes from the finished summaries."""
    with _RUNNING_LOCK:
        procs = list(_RUNNING)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


# -- re-invocation --------------------------------------------------------------------------------
def recorded_args(job: RunJob) -> list[str] | None:
    """The train arguments recorded next to the run, or None without a readable record. Older
    records are a plain list that includes ``--run-dir``; that pair is dropped."""
    try:
        record = json.loads(job.args_path.read_text())
    except (OSError, ValueError):
        return None
    args = record.get("train_args") if isinstance(record, dict) else record
    if not isinstance(args, list):
        return None
    if "--run-dir" in args:
        i = args.index("--run-dir")
        args = args[:i] + args[i + 2 :]
    return [str(a) for a in args]


def write_summary(job: RunJob, seconds: float | None = None) -> None:
    """Write ``job.summary`` (:func:`rlcv.bench.summaries.write`) of its finished run."""
    if job.summary is not None:
        summary = summaries.summarize(job.run_dir, job.name, job.train_args, job.steps, seconds)
        summaries.write(job.summary, summary)


def record_args(job: RunJob) -> None:
    job.run_dir.parent.mkdir(parents=True, exist_ok=True)
    job.args_path.write_text(json.dumps({"train_args": job.train_args}, indent=1) + "\n")


def _config_changed(job: RunJob) -> bool:
    """A summary that recorded its resolved config, which the job's arguments no longer resolve to
    (a preset changed since): :mod:`rlcv.bench.run_config`."""
    if job.summary is None or not job.has_summary():
        return False
    made = read_summary(job.summary).get("config")
    return made is not None and run_config.differs(made, run_config.planned_config(job.train_args))


def _recorded(job: RunJob) -> list[str] | None:
    """The train arguments a finished job was made with: its summary's, else its run's record."""
    if job.summary is not None and job.has_summary():
        return [str(a) for a in read_summary(job.summary)["train_args"]]
    return recorded_args(job)


def triage(
    jobs: list[RunJob], *, fix: str = "use another output folder"
) -> tuple[list[RunJob], list[RunJob]]:
    """Split into (finished: skip, to run). Fails before anything is moved if a finished run was made
    with other arguments (``fix`` says how to keep both), then moves unfinished run folders aside."""
    done, todo, stale, changed = [], [], [], []
    for job in jobs:
        if job.has_summary() or job.is_finished():
            recorded = _recorded(job)
            if recorded is not None and upgrade_train_args(recorded) != upgrade_train_args(job.train_args):
                stale.append(job)
            elif _config_changed(job):
                changed.append(job)
            done.append(job)
        else:
            todo.append(job)
    if stale:
        job = stale[0]
        where = job.summary if job.has_summary() else job.run_dir
        raise RlcvError(
            f"{len(stale)} finished run(s) were made with other settings (e.g. '{where}': "
            f"`rlcv {shlex.join(_recorded(job) or [])}`); {fix}, or delete those runs to redo them."
        )
    if changed:
        raise RlcvError(
            f"{len(changed)} finished run(s) were made with a config their arguments no longer resolve "
            f"to (a preset changed since; e.g. '{changed[0].summary}'); {fix}, or delete those runs to "
            "redo them."
        )
    for job in done:  # finished before its summary was asked for (or the bench died in between)
        if job.summary is not None and not job.has_summary():
            write_summary(job)
    for job in todo:
        if job.run_dir.exists():
            aside = job.run_dir.with_name(job.run_dir.name + ".incomplete")
            shutil.rmtree(aside, ignore_errors=True)
            job.run_dir.rename(aside)
    return done, todo


# -- backends -------------------------------------------------------------------------------------
def run_local(jobs: list[RunJob], workers: int) -> Iterator[RunOutcome]:
    """One thread per worker, each blocked on its own ``rlcv train`` process; outcomes as they end."""
    pool = ThreadPoolExecutor(max_workers=workers)
    futures = [pool.submit(run_one, job) for job in jobs]
    try:
        for future in as_completed(futures):
            yield future.result()
    except BaseException:  # Ctrl-C, SIGTERM, or the caller gave up: start nothing more, stop what runs
        pool.shutdown(wait=False, cancel_futures=True)
        _stop_running()
        raise
    finally:
        pool.shutdown(wait=True)


def ray_train(train_args: list[str]) -> tuple[int, str, bytes, float]:
    """Body of a Ray task: train into a temporary folder on this node, return it as a gzip tarball."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rlcv-bench-") as tmp:
        run_dir = Path(tmp) / "run"
        proc = subprocess.run(
            train_command(train_args, run_dir),
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


def run_ray(jobs: list[RunJob], workers: int, address: str | None = None) -> Iterator[RunOutcome]:
    """Ray remote tasks of one CPU each. Without ``address`` a local Ray instance is started with
    ``workers`` CPUs (and shut down afterwards); with one, the cluster's CPUs set the parallelism."""
    with ray_session(workers, address) as ray:
        for job, ref in ray_finished(ray, ray_train, [(job, job.train_args) for job in jobs]):
            try:
                returncode, stderr, tarball, seconds = ray.get(ref)
            except ray.exceptions.RayError as exc:  # the task itself died (node lost, out of memory)
                message = f"ray task failed: {type(exc).__name__}: {exc}".splitlines()[0]
                yield RunOutcome(job, -1, message, 0.0, job.is_finished())
                continue
            if tarball:
                job.run_dir.mkdir(parents=True, exist_ok=True)
                with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
                    tar.extractall(job.run_dir, filter="data")
            yield RunOutcome(job, returncode, stderr, seconds, job.is_finished())


# -- the whole job list ---------------------------------------------------------------------------
# Env steps per second of one single-threaded run with its evaluations: PPO on HalfCheetah-v5 on
# this project's 2-core machines (150k steps in about 3 min, rlcv/bench/oracle.py); MBMF runs are
# 3-4x slower (results/speed.md).
REFERENCE_STEPS_PER_S = 1_000
LONG_S = 3_600


def duration_warning(jobs: list[RunJob], workers: int) -> str | None:
    """A line warning before a sweep that will take hours (None for a short one)."""
    steps = sum(j.steps for j in jobs)
    hours = steps / REFERENCE_STEPS_PER_S / max(1, min(workers, len(jobs))) / 3_600
    if hours * 3_600 < LONG_S:
        return None
    return (
        f"note: {len(jobs)} run(s), {steps:,} env steps in all: about {hours:.1f} h on {workers} worker(s) "
        f"at {REFERENCE_STEPS_PER_S:,} steps/s per run (PPO on HalfCheetah here; MBMF is 3-4x slower). Each "
        "finished run is kept: stop any time and rerun the same command to resume."
    )


def execute(
    jobs: list[RunJob],
    *,
    workers: int | None = None,
    backend: str = "local",
    address: str | None = None,
    fix: str = "use another output folder",
    echo: Callable[[str], None] = say,
) -> RunReport:
    """Skip finished runs, restart unfinished ones, and run what is missing on ``workers`` workers
    (default: one per core). A failed run is reported in the result, never raised, so one crash
    leaves the others running; a run that exits 0 without finishing counts as failed."""
    if backend not in BACKENDS:
        raise RlcvError(f"--backend must be 'local' or 'ray', got '{backend}'.")
    n_workers = workers or default_workers()
    done, todo = triage(jobs, fix=fix)
    report = RunReport(skipped=done)
    if done:
        where = os.path.commonpath([str(j.summary if j.has_summary() else j.run_dir) for j in done])
        echo(f"skipping {len(done)} finished run(s) already in {where}")
    if not todo:
        echo("nothing to run")
        return report
    echo(f"running {len(todo)} run(s) on {n_workers} {backend} worker(s)")
    warning = duration_warning(todo, n_workers)
    if warning:
        echo(warning)
    for job in todo:
        record_args(job)
    outcomes = run_ray(todo, n_workers, address) if backend == "ray" else run_local(todo, n_workers)
    for i, outcome in enumerate(outcomes, start=1):
        report.outcomes.append(outcome)
        if outcome.ok:
            write_summary(outcome.job, outcome.seconds)
        status = "done" if outcome.ok else f"FAILED: {outcome.last_line}"
        echo(f"[{i}/{len(todo)}] {outcome.job.name} {status} ({outcome.seconds:.0f} s)")
    return report


def train_once(job: RunJob, bench: str) -> list[dict[str, str]]:
    """Train ``job`` now in a fresh process (:func:`run_one`: no skipping, no summary: a timing run
    measures this machine now); its metrics.csv rows, or an error naming the bench and the run."""
    outcome = run_one(job)
    if not outcome.ok:
        raise RlcvError(f"rlcv bench {bench}: the {job.name} run failed: {outcome.last_line}")
    return RunDir(job.run_dir).metrics_rows()


def train_or_fail(
    jobs: list[RunJob], workers: int | None = None, fix: str = "pass another --runs folder"
) -> None:
    """:func:`execute` for a bench that needs every run: the first failure ends it, as one error."""
    report = execute(jobs, workers=workers, fix=fix)
    if report.failures:
        first = report.failures[0]
        raise RlcvError(f"training {first.job.name} failed (exit {first.returncode}):\n{first.stderr_tail}")


def train_then_score(
    todo: Sequence[tuple[RunJob, Callable[[], dict[str, Any]]]], workers: int
) -> list[dict[str, Any]]:
    """Train ``workers`` runs at a time (:func:`train_or_fail`) and call each one's ``score`` as its
    batch ends, so a long sweep writes its scored summaries as it goes; the scores in order."""
    scores = []
    for i in range(0, len(todo), workers):
        batch = todo[i : i + workers]
        train_or_fail([job for job, _ in batch], workers)
        scores += [score() for _, score in batch]
    return scores
