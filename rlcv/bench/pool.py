"""What both kinds of bench runs share (:mod:`rlcv.bench.runs`' training runs, :mod:`rlcv.bench.tasks`'
in-process runs): one thread per run, the two backends (a local pool, or Ray tasks of one CPU each), the
default number of workers and the progress lines.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from rlcv.errors import RlcvError

# The pool fills the cores: numpy / BLAS threads on top of it would oversubscribe them.
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
BACKENDS = ("local", "ray")
T = TypeVar("T")


def say(line: str) -> None:
    print(line, flush=True)  # progress of a long bench, also when stdout is a pipe or a log file


def default_workers() -> int:
    """One worker per core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@contextmanager
def ray_session(workers: int, address: str | None) -> Iterator[Any]:
    """The ``ray`` module, initialised: on the cluster at ``address``, else a local instance of
    ``workers`` CPUs; shut down on leaving when this call started it (not when the caller had)."""
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
    """``body(arg)`` as a Ray task of one CPU for each (key, arg) of ``calls``; (key, result ref) as each
    task ends."""
    remote = ray.remote(num_cpus=1, max_retries=0)(body)
    pending = {remote.remote(arg): key for key, arg in calls}
    while pending:
        (ref,), _ = ray.wait(list(pending), num_returns=1)
        yield pending.pop(ref), ref
