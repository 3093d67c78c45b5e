"""In-process runs: benches whose runs are not ``rlcv train`` runs (an SGD path of an inner task, a
gradient check, a game solved) launch them here, with :mod:`rlcv.bench.runs`' contract: a finished run is
skipped (its summary reused), a summary made with other settings is an error before anything runs,
each summary is written as its run ends, and the runs go to a local process pool or to Ray tasks (one
thread each, as the runner's).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlcv.bench.pool import BACKENDS, SINGLE_THREAD_ENV, default_workers, ray_finished, ray_session, say
from rlcv.errors import RlcvError


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
        stored = json.loads(path.read_text())
        if stored.get("params") != json.loads(json.dumps(params)):
            raise RlcvError(
                f"{path} was made with other parameters ({stored.get('params')} vs {params}); move it "
                "aside or pass another --out to start a new sweep."
            )
        result: dict[str, Any] = stored["result"]
        return result

    def put(self, name: str, params: dict[str, Any], result: dict[str, Any]) -> None:
        self._write(name, {"params": params, "result": result})

    def _write(self, name: str, payload: dict[str, Any]) -> None:
        """Write atomically: an interrupted bench never leaves half a summary."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=self.folder, suffix=".tmp", delete=False) as tmp:
            json.dump(payload, tmp, default=float)
        os.replace(tmp.name, self.path(name))

    def run(self, name: str, params: dict[str, Any], compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The stored result, or ``compute()`` stored now."""
        found = self.get(name, params)
        if found is None:
            found = compute()
            self.put(name, params, found)
        return found


class ResultStore(SummaryStore):
    """``DIR/NAME.json`` holding the result alone, as the HPO benches' committed ``per_run/`` files do:
    nothing is compared on reuse (their names carry the settings that vary between runs)."""

    def get(self, name: str, params: dict[str, Any]) -> dict[str, Any] | None:
        path = self.path(name)
        return dict(json.loads(path.read_text())) if path.is_file() else None

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
    """Body of a pool worker or Ray task: one thread (the pool fills the cores), the result, its seconds."""
    os.environ.update(SINGLE_THREAD_ENV)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    start = time.perf_counter()
    return compute(), time.perf_counter() - start


def _tasks_local(tasks: list[Task], workers: int) -> Iterator[tuple[Task, dict[str, Any], float]]:
    if workers <= 1:  # in this process: no start-up cost, and a debugger or profiler sees the run
        for task in tasks:
            yield (task, *timed_call(task.compute))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: a forked child of a process that has run torch can deadlock in its thread pools.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(timed_call, task.compute): task for task in tasks}
        for future in as_completed(futures):
            yield (futures[future], *future.result())


def _tasks_ray(
    tasks: list[Task], workers: int, address: str | None
) -> Iterator[tuple[Task, dict[str, Any], float]]:
    with ray_session(workers, address) as ray:
        for task, ref in ray_finished(ray, timed_call, [(task, task.compute) for task in tasks]):
            yield (task, *ray.get(ref))


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
    ``workers`` processes (1: in this process) or Ray tasks and stored as each ends. Before anything
    runs, a summary made with other params is an error, and with ``report_only`` so is a missing one.
    A run that raises stops the bench (in-process runs have no crash to survive: an exception is a
    bug or bad input); the runs finished before it are kept."""
    if backend not in BACKENDS:
        raise RlcvError(f"--backend must be 'local' or 'ray', got '{backend}'.")
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
    outcomes = _tasks_ray(todo, workers, address) if backend == "ray" else _tasks_local(todo, workers)
    for i, (task, result, seconds) in enumerate(outcomes, start=1):
        store.put(task.name, task.params, result)
        found[task.name] = json.loads(json.dumps(result, default=float))  # as a rerun would read it
        echo(f"[{i}/{len(todo)}] {task.name} done ({seconds:.1f} s)")
    return {name: result for name, result in found.items() if result is not None}


def add_pool_flags(parser: Any, *, default_workers: int | None = 1) -> None:
    """``--workers`` / ``--backend`` / ``--address`` on a bench's parser, as ``rlcv bench learn`` has
    them (``default_workers`` None: one per core)."""
    from rlcv.bench.checks import positive_int

    default = "one per core" if default_workers is None else str(default_workers)
    parser.add_argument(
        "--workers", type=positive_int, default=default_workers, help=f"concurrent runs (default: {default})"
    )
    parser.add_argument("--backend", choices=list(BACKENDS), default="local")
    parser.add_argument("--address", help="Ray cluster address (default: start a local Ray)")


def pool_of(args: Any) -> dict[str, Any]:
    """The keywords of :func:`run_tasks` that :func:`add_pool_flags` set."""
    return {"workers": args.workers or default_workers(), "backend": args.backend, "address": args.address}
