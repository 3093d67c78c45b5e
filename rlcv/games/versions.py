"""Two commits' IPG solvers side by side: each commit's ``rlcv`` extracted with ``git archive`` into a
folder and run by its own worker process (``PYTHONPATH`` = that folder, one thread), both calling the two
functions every commit has, :func:`rlcv.games.instances.load_game` and :func:`rlcv.games.sgm.solve`
(wall-clock limit, the only clock old code has). A worker times each solve by its process CPU seconds
(``time.process_time``, loading the game not counted). :func:`interleave` runs old / new pairs per
instance, the order alternating, so the other jobs of a shared machine load both arms alike.
:func:`compare` reads one instance's pairs (ratio new / old with its paired interval, and its verdict),
:func:`summarize` a whole sweep (`rlcv bench ipg-versions`).
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any, Protocol

from rlcv.errors import RlcvError
from rlcv.games.paper_files import paper_result, same_payoffs
from rlcv.games.sweep import parse_set
from rlcv.stats import median_bootstrap, median_ratio_bootstrap

SLOWER, FASTER = "slower", "faster"
SGM_SETS = ("2x20", "2x40", "ls2x10", "ls2x20")  # where results/ipg.md runs SGM too
# one thread per worker (what the benches' runner sets for its subprocesses)
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


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
    jobs = []
    for text in sets:
        family, m, n = parse_set(text)
        for method in methods:
            if method == "sgm" and text not in SGM_SETS:
                continue
            for path in sorted((data / family).glob(f"Game_{m}_{n}_*.npy"), key=_ins):
                jobs.append((family, method, path.stem, path.resolve()))
    return jobs


def _ins(path: Path) -> int:
    return int(path.stem.rsplit("_", 1)[1])


def measure_cells(
    todo: list[tuple[Any, str, str, Path]],
    repo: Path,
    old: dict[str, str],
    new: dict[str, str],
    params: dict[str, Any],
) -> None:
    """Two fresh workers (``old`` and ``new``: a commit and its ``rlcv/games`` tree each); per cell
    (store, method, name, file) its interleaved runs, stored at once with ``store.put(name, params, ...)``
    (``params``: repeats, time limit and whatever keys the caller's store reads)."""
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
                cpu = {
                    w.name: ", ".join(f"{r['cpu_seconds']:.2f}" for r in arm(runs, w.name)) for w in workers
                }
                print(f"{rel} {method}: old [{cpu['old']}] new [{cpu['new']}] s", flush=True)
        finally:
            for w in workers:
                w.close()


def arm(runs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The runs of one arm ('old' or 'new'), in the order they ran."""
    return [r for r in runs if r["arm"] == name]


def load(folder: Path) -> list[dict[str, Any]]:
    """Every stored instance under ``folder/FAMILY/METHOD/`` (a summary store's ``{"params", "result"}``
    files), in family, method, m, n, instance order, with its family, method, name and params."""

    def order(path: Path) -> tuple[str, str, int, int, int]:
        m, n, ins = (int(v) for v in path.stem.split("_")[1:])
        return path.parent.parent.name, path.parent.name, m, n, ins

    rows = []
    for path in sorted(folder.glob("*/*/Game_*.json"), key=order):
        stored = json.loads(path.read_text())
        where = {"family": path.parent.parent.name, "method": path.parent.name, "name": path.stem}
        rows.append({**stored["result"], **where, "params": stored["params"]})
    return rows


def compare(rec: dict[str, Any]) -> dict[str, Any]:
    """One instance: medians, the ratio new / old with its interval, and its verdict, read off the
    interval (its side of 1). A time-out (wall clock) makes its arm's CPU seconds a lower bound: where
    only old timed out, 'faster' if new solved in fewer CPU seconds than old had used; where only new
    did, 'slower' if it had used more than old needed; else no verdict."""
    old, new = arm(rec["runs"], "old"), arm(rec["runs"], "new")
    old_cpu, new_cpu = [r["cpu_seconds"] for r in old], [r["cpu_seconds"] for r in new]
    old_ok, new_ok = all(r["solved"] for r in old), all(r["solved"] for r in new)
    iv = median_ratio_bootstrap(new_cpu, old_cpu, paired=True)
    old_s, new_s = statistics.median(old_cpu), statistics.median(new_cpu)
    verdict = ""
    if old_ok and new_ok:
        verdict = SLOWER if iv.low > 1 else FASTER if iv.high < 1 else ""
    elif new_ok or old_ok:
        verdict = FASTER if new_ok and new_s < old_s else SLOWER if old_ok and new_s > old_s else ""
    return {
        **{"old_s": old_s, "new_s": new_s, "old_solved": old_ok, "new_solved": new_ok},
        "ratio": iv,
        "verdict": verdict,
        "same_ne": same_payoffs(new[0]["payoffs"], old[0]["payoffs"]) if old_ok and new_ok else None,
        "payoffs": new[0]["payoffs"] if new_ok else None,
    }


def agrees_with_paper(data: Path, rec: dict[str, Any], c: dict[str, Any]) -> bool:
    """The new code's equilibrium payoffs on a stored instance equal the paper's (its .txt under ``data``)."""
    found = paper_result(data / rec["family"] / f"{rec['name']}.txt", rec["method"])
    return same_payoffs(c["payoffs"], None if found is None else found["payoffs"])


def is_2x20(rec: dict[str, Any]) -> bool:
    return bool(rec["family"] == "knapsack" and rec["name"].startswith("Game_2_20_"))


def summarize(recs: list[dict[str, Any]], comps: list[dict[str, Any]], data: Path) -> dict[str, Any]:
    """A sweep's counts, its worst ratio (``worst_index``: its cell), the median ratio over the cells
    with its cell bootstrap, and what issue 28's targets (or an A/A run's calibration) read: the cells
    re-measured by ``--confirm`` (``comps[i]["confirm"]``) and m = 2, n = 20's payoffs against the paper."""
    label = [f"{r['family']} {r['method']} {r['name']}" for r in recs]
    slower = [lab for lab, c in zip(label, comps, strict=True) if c["verdict"] == SLOWER]
    confirmed = [c["confirm"] for c in comps if c["verdict"] == SLOWER and c["confirm"] is not None]
    points = [c["new_s"] / c["old_s"] for c in comps]
    worst = max(range(len(comps)), key=lambda i: points[i])
    twenty = [(r, c) for r, c in zip(recs, comps, strict=True) if is_2x20(r)]
    return {
        "cells": len(comps),
        "lower": sum(1 for p in points if p < 1),
        "higher": sum(1 for p in points if p > 1),
        "faster": sum(1 for c in comps if c["verdict"] == FASTER),
        "slower": slower,
        "worst": label[worst],
        "worst_ratio": points[worst],
        "worst_index": worst,
        "pooled": median_bootstrap(points),
        "same": sum(1 for c in comps if c["same_ne"]),
        "both": sum(1 for c in comps if c["same_ne"] is not None),
        "aa": all(r["params"]["old"] == r["params"]["new"] for r in recs),
        "confirmed": len(confirmed),
        "still": sum(1 for c in confirmed if c["verdict"] == SLOWER),
        "twenty": len(twenty),
        "equal": sum(1 for r, c in twenty if agrees_with_paper(data, r, c)),
    }
