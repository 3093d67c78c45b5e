"""The one runner of the benches: every run goes through :func:`launch` (a local pool or Ray tasks of one
CPU each, one thread per run), and each kind of run keeps one contract — skip what is finished, refuse
what was made with other settings before anything starts, write a per-run summary as each run ends:

- training runs (:class:`RunJob`, :func:`execute`): each a plain ``rlcv train`` in its own process, so a
  run is exactly what a user gets from the CLI and a crash in one is reported while the others go on;
- in-process runs (:class:`Task`, :func:`run_tasks`): a bench's own function (an SGD path, a gradient
  check), its JSON summary kept by a :class:`SummaryStore`; an exception there is a bug and stops the bench.

Re-invocation (:func:`triage`). A finished run (:meth:`RunDir.is_finished`) is skipped. An unfinished one
is *restarted*, not resumed (a resumed run restarts its wall clock and re-seeds its envs, so it would not
be comparable to the other seeds); its folder is moved aside to ``NAME.incomplete``. The train arguments
are recorded next to each run (``NAME.args.json``); a finished run made with other arguments, or whose
summary's resolved config its arguments no longer resolve to (:mod:`rlcv.bench.summaries`), is refused.

Summaries (``RunJob.summary``, :mod:`rlcv.bench.summaries`) are meant to be committed under ``results/``
while the run folders are not: a job whose summary exists is skipped even without its folder (a fresh
clone of an interrupted sweep), so reports regenerate and sweeps resume from what is committed.

A Ray task trains into a temporary folder on its node and ships the run folder back as a tarball, so the
driver holds every run even on a multi-node cluster (whose nodes need rlcv installed).
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
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rlcv.bench import summaries
from rlcv.bench.checks import positive_int
from rlcv.bench.summaries import read_run, read_summary
from rlcv.errors import RlcvError
from rlcv.files import write_text
from rlcv.legacy import upgrade_train_args
from rlcv.run_dir import RunDir

# The pool fills the cores: numpy / BLAS threads on top of it would oversubscribe them.
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
BACKENDS = ("local", "ray")
STDERR_TAIL_LINES = 20
T = TypeVar("T")


def say(line: str) -> None:
    print(line, flush=True)  # progress of a long bench, also when stdout is a pipe or a log file


def default_workers() -> int:
    """One worker per core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise RlcvError(f"--backend must be 'local' or 'ray', got '{backend}'.")


# -- the pool -------------------------------------------------------------------------------------
@contextmanager
def ray_session(workers: int, address: str | None) -> Iterator[Any]:
    """The ``ray`` module, initialised: on the cluster at ``address``, else a local instance of
    ``workers`` CPUs; shut down on leaving when this call started it."""
    try:
        import ray
    except ImportError as exc:
        raise RlcvError(
            "--backend ray needs Ray: pip install 'ray[default]' (or use --backend local)."
        ) from exc
    started = not ray.is_initialized()
    if started:
        where = {"address": address} if address else {"num_cpus": workers}
        ray.init(**where, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def ray_finished(
    ray: Any, body: Callable[[Any], Any], calls: Sequence[tuple[T, Any]]
) -> Iterator[tuple[T, Any]]:
    """``body(arg)`` as a Ray task of one CPU per (key, arg) of ``calls``; (key, result ref) as each ends."""
    remote = ray.remote(num_cpus=1, max_retries=0)(body)
    pending = {remote.remote(arg): key for key, arg in calls}
    while pending:
        (ref,), _ = ray.wait(list(pending), num_returns=1)
        yield pending.pop(ref), ref


def launch(
    body: Callable[[Any], Any],
    calls: Sequence[tuple[T, Any]],
    workers: int,
    backend: str = "local",
    address: str | None = None,
    *,
    processes: bool = False,
) -> Generator[tuple[T, Any], None, None]:
    """``body(arg)`` for each (key, arg) of ``calls``, ``workers`` at a time; (key, result) as each ends.
    Local: threads (``body`` waits on a subprocess), or with ``processes`` spawned processes (in this
    process when ``workers`` is 1: a debugger or profiler sees the run); or Ray tasks of one CPU, where
    a task that died (node lost, out of memory) yields its exception. A stopped sweep (Ctrl-C, SIGTERM,
    the caller closing the generator) starts nothing more and terminates the running train processes."""
    if backend == "ray":
        with ray_session(workers, address) as ray:
            for key, ref in ray_finished(ray, body, calls):
                try:
                    yield key, ray.get(ref)
                except ray.exceptions.RayError as exc:
                    yield key, exc
        return
    if processes and workers <= 1:
        yield from ((key, body(arg)) for key, arg in calls)
        return
    if processes:  # spawn, not fork: a forked child of a process that ran torch can deadlock
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        spawn = multiprocessing.get_context("spawn")
        pool: Executor = ProcessPoolExecutor(max_workers=workers, mp_context=spawn)
    else:
        pool = ThreadPoolExecutor(max_workers=workers)
    futures = {pool.submit(body, arg): key for key, arg in calls}
    try:
        for future in as_completed(futures):
            yield futures[future], future.result()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        _stop_running()
        raise
    finally:
        pool.shutdown(wait=True)


# The local pool's running `rlcv train` processes, so that a stopped sweep stops them too.
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


# -- training runs --------------------------------------------------------------------------------
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
        """The finished run's ``eval`` and ``final``: from its folder while that holds the finished run,
        else from its committed summary (the folders are not committed)."""
        if self.summary is None or self.is_finished():
            return read_run(self.run_dir)
        return read_summary(self.summary)


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
    return RunOutcome(job, proc.returncode, _tail(stderr), time.perf_counter() - start, job.is_finished())


def run_local(jobs: list[RunJob], workers: int) -> Iterator[RunOutcome]:
    """:func:`run_one` on ``workers`` threads (:func:`launch`); outcomes as the runs end."""
    calls = launch(run_one, [(job, job) for job in jobs], workers)
    try:
        for _, outcome in calls:
            yield outcome
    finally:
        calls.close()


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
    """:func:`ray_train` as Ray tasks (:func:`launch`; without ``address`` a local Ray of ``workers``
    CPUs), each run folder unpacked into its ``run_dir``."""
    for job, result in launch(ray_train, [(job, job.train_args) for job in jobs], workers, "ray", address):
        if isinstance(result, BaseException):
            message = f"ray task failed: {type(result).__name__}: {result}".splitlines()[0]
            yield RunOutcome(job, -1, message, 0.0, job.is_finished())
            continue
        returncode, stderr, tarball, seconds = result
        if tarball:
            job.run_dir.mkdir(parents=True, exist_ok=True)
            with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
                tar.extractall(job.run_dir, filter="data")
        yield RunOutcome(job, returncode, stderr, seconds, job.is_finished())


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


def _recorded(job: RunJob) -> list[str] | None:
    """The train arguments a finished job was made with: its summary's, else its run's record."""
    if job.summary is not None and job.has_summary():
        return [str(a) for a in read_summary(job.summary)["train_args"]]
    return recorded_args(job)


def _config_changed(job: RunJob) -> bool:
    """A summary that recorded its resolved config, which the job's arguments no longer resolve to."""
    if job.summary is None or not job.has_summary():
        return False
    made = read_summary(job.summary).get("config")
    return made is not None and summaries.differs(made, summaries.planned_config(job.train_args))


def triage(
    jobs: list[RunJob], *, fix: str = "use another output folder"
) -> tuple[list[RunJob], list[RunJob]]:
    """Split into (finished: skip, to run). Fails before anything is moved if a finished run was made
    with other arguments (``fix`` says how to keep both), then moves unfinished run folders aside."""
    done: list[RunJob] = []
    todo: list[RunJob] = []
    for job in jobs:
        (done if job.is_done() else todo).append(job)
    upgraded = upgrade_train_args
    stale = [j for j in done if (r := _recorded(j)) is not None and upgraded(r) != upgraded(j.train_args)]
    if stale:
        job = stale[0]
        where = job.summary if job.has_summary() else job.run_dir
        raise RlcvError(
            f"{len(stale)} finished run(s) were made with other settings (e.g. '{where}': "
            f"`rlcv {shlex.join(_recorded(job) or [])}`); {fix}, or delete those runs to redo them."
        )
    if changed := [job for job in done if _config_changed(job)]:
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
    _check_backend(backend)
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
    if warning := duration_warning(todo, n_workers):
        echo(warning)
    for job in todo:
        job.run_dir.parent.mkdir(parents=True, exist_ok=True)
        job.args_path.write_text(json.dumps({"train_args": job.train_args}, indent=1) + "\n")
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


# -- in-process runs ------------------------------------------------------------------------------
class SummaryStore:
    """One JSON file per run: ``DIR/NAME.json`` holding ``{"params": ..., "result": ...}``; ``params``
    are the settings the result depends on, compared on reuse."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def get(self, name: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """The stored result, None when there is none; an error when it was made with other params."""
        path = self.path(name)
        if not path.is_file():
            return None
        stored = self._load(path)
        if stored.get("params") != json.loads(json.dumps(params)):
            raise RlcvError(
                f"{path} was made with other parameters ({stored.get('params')} vs {params}); move it "
                "aside or pass another --out to start a new sweep."
            )
        result: dict[str, Any] = stored["result"]
        return result

    def put(self, name: str, params: dict[str, Any], result: dict[str, Any]) -> None:
        self._write(name, {"params": params, "result": result})

    def _load(self, path: Path) -> dict[str, Any]:
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            raise RlcvError(
                f"cannot read the summary '{path}' ({exc}); delete it to redo that run."
            ) from None

    def _write(self, name: str, payload: dict[str, Any]) -> None:
        """Write atomically: an interrupted bench never leaves half a summary (a name may hold folders)."""
        self.path(name).parent.mkdir(parents=True, exist_ok=True)
        write_text(self.path(name), json.dumps(payload, default=float))

    def run(self, name: str, params: dict[str, Any], compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The stored result, or ``compute()`` stored now."""
        found = self.get(name, params)
        if found is None:
            found = compute()
            self.put(name, params, found)
        return found


class ResultStore(SummaryStore):
    """``DIR/NAME.json`` holding the result alone, as the HPO benches' committed ``per_run/`` files do:
    their names carry the settings that vary between runs; ``check(path, result, params)``, where given,
    raises when a stored result does not fit ``params``."""

    def __init__(
        self, folder: Path, check: Callable[[Path, dict[str, Any], dict[str, Any]], None] | None = None
    ):
        super().__init__(folder)
        self.check = check

    def get(self, name: str, params: dict[str, Any]) -> dict[str, Any] | None:
        path = self.path(name)
        if not path.is_file():
            return None
        stored = self._load(path)
        if self.check is not None:
            self.check(path, stored, params)
        return stored

    def put(self, name: str, params: dict[str, Any], result: dict[str, Any]) -> None:
        self._write(name, result)


@dataclass(frozen=True)
class Task:
    """One in-process run. ``compute`` must pickle for a pool or Ray (a module-level function, or a
    ``functools.partial`` of one); it returns the run's JSON-ready summary."""

    name: str
    params: dict[str, Any]
    compute: Callable[[], dict[str, Any]]


def timed_call(compute: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], float]:
    """Body of an in-process run: one thread (the pool fills the cores), the result, its seconds."""
    os.environ.update(SINGLE_THREAD_ENV)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    start = time.perf_counter()
    return compute(), time.perf_counter() - start


def run_tasks(
    store: SummaryStore,
    tasks: list[Task],
    *,
    report_only: bool = False,
    workers: int = 1,
    backend: str = "local",
    address: str | None = None,
    echo: Callable[[str], None] = say,
) -> dict[str, dict[str, Any]]:
    """Every task's summary by name, in task order: stored ones reused, the others computed on
    ``workers`` processes (1: in this process) or Ray tasks (:func:`launch`) and stored as each ends.
    Before anything runs, a summary made with other params is an error, and with ``report_only`` so is a
    missing one. A run that raises stops the bench; the runs finished before it are kept."""
    _check_backend(backend)
    found = {task.name: store.get(task.name, task.params) for task in tasks}
    todo = [task for task in tasks if found[task.name] is None]
    if report_only and todo:
        raise RlcvError(
            f"--report-only: {store.path(todo[0].name)} is missing ({len(todo)} run(s) missing); "
            "run without --report-only."
        )
    if todo:
        done = len(tasks) - len(todo)
        echo(
            f"running {len(todo)} run(s) on {workers} {backend} worker(s); {done} finished in {store.folder}"
        )
    calls = [(task, task.compute) for task in todo]
    for i, (task, outcome) in enumerate(
        launch(timed_call, calls, workers, backend, address, processes=True), 1
    ):
        if isinstance(outcome, BaseException):
            raise outcome
        result, seconds = outcome
        store.put(task.name, task.params, result)
        found[task.name] = json.loads(json.dumps(result, default=float))  # as a rerun would read it
        echo(f"[{i}/{len(todo)}] {task.name} done ({seconds:.1f} s)")
    return {name: result for name, result in found.items() if result is not None}


def add_pool_flags(parser: Any, *, default_workers: int | None = 1) -> None:
    """``--workers`` / ``--backend`` / ``--address`` on a bench's parser, as ``rlcv bench learn`` has
    them (``default_workers`` None: one per core)."""
    default = "one per core" if default_workers is None else str(default_workers)
    parser.add_argument(
        "--workers", type=positive_int, default=default_workers, help=f"concurrent runs (default: {default})"
    )
    parser.add_argument("--backend", choices=list(BACKENDS), default="local")
    parser.add_argument("--address", help="Ray cluster address (default: start a local Ray)")


def pool_of(args: Any) -> dict[str, Any]:
    """The keywords of :func:`run_tasks` that :func:`add_pool_flags` set."""
    return {"workers": args.workers or default_workers(), "backend": args.backend, "address": args.address}
