"""`rlcv bench ipg-versions --old REF`: is m-SGM / SGM slower on the paper's instances than at REF?

Every paper instance that ``results/ipg.md`` covers (the files under ``--data``: knapsack 2x10 2x20 2x40
2x80 3x10 3x20, lot-sizing 2x10 2x20; SGM on the sets the page runs it on) is solved by the code of two
commits, each extracted with ``git archive`` into a temporary folder and run by its own worker process
(``PYTHONPATH`` = that folder, one thread). Both workers call the same two functions, present at both
commits: ``rlcv.games.instances.load_game`` and ``rlcv.games.sgm.solve`` (wall-clock ``--time-limit``,
the only clock the old code has). A worker first solves one instance of each family untimed (imports,
lazy solver set-up), then times each solve by its own process CPU seconds (``time.process_time``, the
game's loading not counted).

Interleaved: per instance, ``--repeats`` pairs, old then new on even repeats and new then old on odd ones,
so the other jobs of a shared machine load both arms alike; repeat k of both arms is pair k. An instance
whose solve times out in either arm stops after that pair (its row then shows a bound).

Per instance the summary ``OUT/ipg_versions/FAMILY/METHOD/Game_m_n_ins.json`` (a
:class:`~rlcv.bench.runs.SummaryStore` entry; params: the two commits' ``rlcv/games`` trees, repeats,
time limit) is written as soon as it is measured; an existing one is skipped, so a sweep resumes; one
made with other params is an error. The page ``OUT/ipg_versions.md`` (+ ``.json``) is rebuilt from the
summaries (``--report-only``: only that) by :mod:`rlcv.bench.ipg_versions_report`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rlcv.bench.checks import out_dir, positive_float, positive_int
from rlcv.bench.flags import add_flags, flag, spec_of
from rlcv.bench.ipg_versions_report import FOLDER, SLOWER, compare, write_report
from rlcv.bench.runs import SINGLE_THREAD_ENV, SummaryStore
from rlcv.errors import RlcvError

SETS = ["2x10", "2x20", "2x40", "2x80", "3x10", "3x20", "ls2x10", "ls2x20"]
SGM_SETS = ("2x20", "2x40", "ls2x10", "ls2x20")  # where results/ipg.md runs SGM too


@dataclass(kw_only=True)
class VersionsSpec:
    """`rlcv bench ipg-versions`'s flags."""

    old: str | None = flag(None, help="the commit whose code is the baseline (required unless --report-only)")
    new: str = flag("HEAD", help="the commit measured against it (default HEAD)")
    sets: list[str] = flag(SETS, help="instance sets (as rlcv bench ipg)")
    methods: list[str] = flag(["m-sgm", "sgm"], choices=["m-sgm", "sgm"])
    repeats: int = flag(9, type=positive_int, help="interleaved old/new pairs per instance")
    time_limit: float = flag(120.0, type=positive_float, help="wall seconds per solve")
    data: str = flag("../shared/ipg", help="the paper's files (knapsack/, lot_sizing/)")
    out: str = flag("results", type=out_dir)
    report_only: bool = flag(False, help="rebuild the page from OUT/ipg_versions/")
    confirm: bool = flag(False, help="re-measure the cells found slower, fresh pairs")


# The worker: JSON jobs on stdin, one JSON answer per line on stdout. It imports only what both commits
# have, from the code on its PYTHONPATH (checked by the handshake line).
WORKER = r"""
import json, os, sys, time
out = os.fdopen(os.dup(1), "w")  # the answers' own channel: what a solver prints goes to stderr
os.dup2(2, 1)
sys.stdout = sys.stderr
import rlcv
from rlcv.games.instances import load_game
from rlcv.games.sgm import solve
print(json.dumps({"rlcv": rlcv.__file__}), file=out, flush=True)
for line in sys.stdin:
    job = json.loads(line)
    game = load_game(job["path"])
    cpu, wall = time.process_time(), time.perf_counter()
    res = solve(game, method=job["method"], time_limit=job["time_limit"])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(json.dumps({
        "cpu_seconds": cpu, "wall_seconds": wall, "solved": bool(res.solved),
        "iterations": int(res.iterations), "payoffs": [float(v) for v in res.payoffs],
        "sampled_sizes": [len(s) for s in res.strategies], "support_sizes": res.support_sizes,
    }), file=out, flush=True)
"""


class Solver(Protocol):
    name: str

    def solve(self, path: Path, method: str, time_limit: float) -> dict[str, Any]: ...


def git(repo: Path, *args: str) -> bytes:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True)
    if proc.returncode != 0:
        raise RlcvError(f"git {' '.join(args)} failed: {proc.stderr.decode().strip()}")
    return proc.stdout


def code_identity(repo: Path, ref: str) -> dict[str, str]:
    """The full commit of ``ref`` and the tree of its ``rlcv/games`` (the solver code: summaries made
    with the same trees are reused whatever the commit)."""
    try:
        commit = git(repo, "rev-parse", "--verify", f"{ref}^{{commit}}").decode().strip()
    except RlcvError:
        raise RlcvError(f"'{ref}' is not a commit of {repo}; give a commit, tag or branch.") from None
    tree = git(repo, "rev-parse", f"{commit}:rlcv/games").decode().strip()
    return {"commit": commit, "games_tree": tree}


class Worker:
    """One commit's code in its own process (module docstring)."""

    def __init__(self, name: str, repo: Path, commit: str, tmp: Path) -> None:
        self.name = name
        code = tmp / name
        code.mkdir()
        with tarfile.open(fileobj=io.BytesIO(git(repo, "archive", "--format=tar", commit, "rlcv"))) as tar:
            tar.extractall(code, filter="data")
        self.err = (tmp / f"{name}.err").open("w+")
        env = {**os.environ, **SINGLE_THREAD_ENV, "PYTHONPATH": str(code)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER],
            cwd=code,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.err,
        )
        where = Path(self._read()["rlcv"]).resolve()
        if code.resolve() not in where.parents:  # an installed rlcv must not shadow the commit's code
            self.close()
            raise RlcvError(f"the {name} worker imported rlcv from {where}, not from {code}.")

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.err.seek(0)
            tail = self.err.read().strip().splitlines()[-5:]
            raise RlcvError(f"the {self.name} worker died: {' | '.join(tail) or 'no stderr'}")
        try:
            answer: dict[str, Any] = json.loads(line)
        except ValueError:
            raise RlcvError(f"the {self.name} worker answered '{line.strip()[:200]}', not JSON.") from None
        return answer

    def solve(self, path: Path, method: str, time_limit: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        job = {"path": str(path), "method": method, "time_limit": time_limit}
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.err.close()


def interleave(old: Solver, new: Solver, path: Path, method: str, repeats: int, limit: float) -> list[dict]:
    """The runs of one instance, in the order they ran: ``repeats`` pairs, old first on even repeats
    and new first on odd ones; after a pair with a time-out no further pair (module docstring)."""
    runs: list[dict[str, Any]] = []
    for k in range(repeats):
        pair = (old, new) if k % 2 == 0 else (new, old)
        done = [{"arm": arm.name, "repeat": k, **arm.solve(path, method, limit)} for arm in pair]
        runs += done
        if not all(r["solved"] for r in done):
            break
    return runs


def plan(data: Path, methods: list[str], sets: list[str]) -> list[tuple[str, str, str, Path]]:
    """(family, method, name, file) of every paper instance of ``sets`` (the ones under ``data``)."""
    from rlcv.bench.ipg import _parse_set

    jobs = []
    for text in sets:
        family, m, n = _parse_set(text)
        for method in methods:
            if method == "sgm" and text not in SGM_SETS:
                continue
            for path in sorted((data / family).glob(f"Game_{m}_{n}_*.npy"), key=_ins):
                jobs.append((family, method, path.stem, path.resolve()))
    return jobs


def _ins(path: Path) -> int:
    return int(path.stem.rsplit("_", 1)[1])


Todo = list[tuple[SummaryStore, str, str, Path]]  # (store, method, name, file) of the cells to measure


def measure(spec: VersionsSpec, data: Path, out: Path) -> None:
    """Solve every instance without a summary, interleaved, writing each summary as it is measured;
    with ``--confirm``, then re-measure each cell found slower into ``OUT/ipg_versions/confirm/``."""
    if not spec.old:
        raise RlcvError("--old is required: the commit whose code is the baseline (e.g. --old 305583f).")
    repo = Path(git(Path(__file__).parent, "rev-parse", "--show-toplevel").decode().strip())
    old, new = code_identity(repo, spec.old), code_identity(repo, spec.new)
    params = {"old": old["games_tree"], "new": new["games_tree"], "repeats": spec.repeats}
    params["time_limit"] = spec.time_limit
    files = {
        (family, method, name): path for family, method, name, path in plan(data, spec.methods, spec.sets)
    }
    todo = _missing(out / FOLDER, files, params)
    if todo:
        _measure(todo, repo, old, new, params)
    if spec.confirm:
        stored = {k: _stored(out / FOLDER, k, params) for k in files}
        flagged = {k: files[k] for k, rec in stored.items() if rec and compare(rec)["verdict"] == SLOWER}
        if todo := _missing(out / FOLDER / "confirm", flagged, params):
            print(f"ipg-versions: confirming {len(todo)} cell(s) found slower, with fresh pairs", flush=True)
            _measure(todo, repo, old, new, params)


def _stored(folder: Path, key: tuple[str, str, str], params: dict[str, Any]) -> dict[str, Any] | None:
    return SummaryStore(folder / key[0] / key[1]).get(key[2], params)


def _missing(folder: Path, files: dict[tuple[str, str, str], Path], params: dict[str, Any]) -> Todo:
    todo = []
    for (family, method, name), path in files.items():
        store = SummaryStore(folder / family / method)
        if store.get(name, params) is None:
            todo.append((store, method, name, path))
    return todo


def _measure(
    todo: Todo, repo: Path, old: dict[str, str], new: dict[str, str], params: dict[str, Any]
) -> None:
    """Two fresh workers; each cell's interleaved runs, its summary written as soon as it is measured."""
    repeats, limit = int(params["repeats"]), float(params["time_limit"])
    print(f"ipg-versions: {len(todo)} instance(s) to measure, {repeats} interleaved pairs each", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        workers: list[Worker] = []
        try:
            workers += [Worker("old", repo, old["commit"], Path(tmp))]
            workers += [Worker("new", repo, new["commit"], Path(tmp))]
            warm = {path.parent: (method, path) for _, method, _, path in reversed(todo)}
            for w in workers:
                for method, path in warm.values():
                    w.solve(path, method, limit)
            for store, method, name, path in todo:
                runs = interleave(workers[0], workers[1], path, method, repeats, limit)
                rel = f"{path.parent.name}/{path.name}"
                store.put(name, params, {"instance": rel, "old": old, "new": new, "runs": runs})
                cpu = {w.name: [r["cpu_seconds"] for r in runs if r["arm"] == w.name] for w in workers}
                print(
                    f"{rel} {method}: old {_fmt_list(cpu['old'])} new {_fmt_list(cpu['new'])} s", flush=True
                )
        finally:
            for w in workers:
                w.close()


def _fmt_list(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ipg-versions", help="integer programming games: old vs new code on the paper's files")
    add_flags(p, VersionsSpec)
    p.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    spec = spec_of(VersionsSpec, args)
    data, out = Path(spec.data), Path(spec.out)
    if not (data / "knapsack").is_dir():
        raise RlcvError(
            f"--data '{data}' has no knapsack/ folder: give the folder of the paper's instance files "
            "(github.com/mxmmargarida/IPG); this bench times those files."
        )
    if spec.report_only:
        from rlcv.bench.checks import require_summaries

        require_summaries(out / FOLDER, "Game_*.json", "per-instance summaries")
    else:
        measure(spec, data, out)
    write_report(out, data)
    return 0
