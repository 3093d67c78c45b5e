"""Sweeps of IPG solves, one JSON record per solve (`rlcv bench ipg` launches them through the bench
runner, which skips the records already there and writes each as it is made, so a sweep resumes).

Instance sets: ``MxN`` knapsack, ``lsMxT`` lot-sizing (:func:`parse_set`); :func:`set_cells` lists their
(family, method, m, n, ins) cells, :func:`solve_cell` solves one, its instance from
:class:`~rlcv.games.paper_files.InstanceSource`; records ``OUT/ipg/FAMILY/METHOD/Game_m_n_ins.json``
(:func:`result_path`). :func:`estimate_line` says before a sweep how many solves are left and about how
long they take.

Fresh games (:func:`fresh_games`, :func:`solve_fresh_game`): game i of size MxN is numpy's legacy
RandomState seeded with ``SeedSequence([S, M, N, i])``'s first word (:func:`numpy_seed`, recorded as
``numpy_seed``), then ``generate_knapsack(M, N, ins = i mod 10)`` — the capacity classes of the paper's
ten instances, in turn — solved by m-SGM under a CPU cap; records ``OUT/ipg_fresh/MxN/game_III.json``
(:func:`fresh_path`). A game over the cap is recorded ``"solved": false`` with its CPU seconds, never
dropped. :data:`TAIL_GAME` (issue 28's 321 s game) is solved too when 3x20 is swept.
"""

from __future__ import annotations

import json
import re
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from rlcv.errors import RlcvError
from rlcv.games.paper_files import InstanceSource, numpy_seeded
from rlcv.games.records import solve_capped, solve_instance

FAMILIES = {"": "knapsack", "ls": "lot_sizing"}
TAIL_GAME = {"numpy_seed": 7774, "m": 3, "n": 20, "ins": 5}  # issue 28's 321 s game
Record = dict[str, Any] | None  # a per-instance result (ours or the paper's); None where there is none


def parse_set(text: str) -> tuple[str, int, int]:
    """'2x20' → knapsack, 2 players, 20 items; 'ls2x10' → lot-sizing, 2 players, 10 periods."""
    match = re.fullmatch(r"(ls)?(\d+)x(\d+)", text)
    if not match:
        raise RlcvError(
            f"--sets entry '{text}' is not of the form MxN (knapsack: players x items, e.g. 2x20) "
            "or lsMxT (lot-sizing: players x periods, e.g. ls2x10)."
        )
    return FAMILIES[match.group(1) or ""], int(match.group(2)), int(match.group(3))


def set_key(family: str, m: int, n: int) -> str:
    """'2x20', 'ls2x10': the set as ``--sets`` writes it."""
    return f"{'ls' if family == 'lot_sizing' else ''}{m}x{n}"


def result_path(out: Path, family: str, method: str, m: int, n: int, ins: int) -> Path:
    return out / "ipg" / family / method / f"Game_{m}_{n}_{ins}.json"


def read_records(out: Path, family: str, method: str, m: int, n: int, instances: int) -> list[Record]:
    """The record per instance 0..instances-1 (None where it is not there)."""
    paths = [result_path(out, family, method, m, n, ins) for ins in range(instances)]
    return [json.loads(path.read_text()) if path.exists() else None for path in paths]


def set_cells(
    sets: list[tuple[str, int, int]], methods: list[str], instances: int
) -> list[tuple[str, str, int, int, int]]:
    """Every (family, method, m, n, ins) of ``sets``, set by set, instance by instance, method by method."""
    return [
        (family, method, m, n, ins) for family, m, n in sets for ins in range(instances) for method in methods
    ]


def solve_cell(
    data: Path | None, time_limit: float, instances: int, cell: tuple[str, str, int, int, int]
) -> dict[str, Any]:
    """One (family, method, m, n, ins) solved (:func:`~rlcv.games.records.solve_instance`), its instance
    from ``data`` (the paper's folder) or drawn into a temporary folder; a missing instance is a record
    with its ``error``."""
    family, method, m, n, ins = cell
    with tempfile.TemporaryDirectory() as tmp:
        inst, label, origin = InstanceSource(data, Path(tmp)).get(family, m, n, ins, instances)
        try:
            if inst is None:
                raise RlcvError(label)
            rec = solve_instance(inst, method, time_limit)
            rec["instance"] = label
        except RlcvError as exc:  # e.g. an instance that does not exist
            rec = {"instance": label, "method": method, "solved": False, "error": str(exc)}
    rec["source"] = origin
    shown = f"{rec['seconds']:.2f} s" if "seconds" in rec else rec.get("error", "")
    print(f"{family} {method} m={m} n={n} ins={ins}: solved={rec['solved']} {shown}", flush=True)
    return rec


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _solved_seconds(paths: list[Path]) -> list[float]:
    """The wall seconds of the solved records among ``paths`` (unreadable ones skipped)."""
    seconds = []
    for path in paths:
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if rec.get("solved") and isinstance(rec.get("seconds"), int | float):
            seconds.append(float(rec["seconds"]))
    return seconds


def estimate_line(
    sets: list[tuple[str, int, int]],
    methods: list[str],
    out: Path,
    time_limit: float,
    instances: int,
    reference: Path,
) -> str | None:
    """One line before a sweep with solves left (None when there are none): their number, an estimate
    = Σ over (set, method) of a typical per-instance time × the instances left, and the worst case =
    solves left × ``time_limit``. The typical time is the mean wall seconds of ``out``'s own solved
    records of that set and method, else of ``reference``'s (a committed run), at most ``time_limit``;
    a set and method with neither counts in the worst case only, named."""
    left: dict[str, int] = {}
    typical: dict[str, float | None] = {}
    for family, m, n in sets:
        for method in methods:
            key = f"{set_key(family, m, n)}/{method}"
            paths = [result_path(out, family, method, m, n, ins) for ins in range(instances)]
            if todo := sum(1 for path in paths if not path.exists()):
                ref = result_path(reference, family, method, m, n, 0).parent
                seconds = _solved_seconds(paths) or _solved_seconds(sorted(ref.glob(f"Game_{m}_{n}_*.json")))
                left[key] = left.get(key, 0) + todo
                typical[key] = min(statistics.fmean(seconds), time_limit) if seconds else None
    if not (total := sum(left.values())):
        return None
    known = sum(left[k] * t for k, t in typical.items() if t is not None)
    unknown = [k for k, t in typical.items() if t is None]
    parts = ", ".join(f"{k} {v}" for k, v in left.items())
    line = (
        f"ipg: {total} solve{'' if total == 1 else 's'} left ({parts}); estimate ≈ {_duration(known)} at "
        "typical per-instance times (this --out's finished solves of a set, else the committed run's in "
        f"results/ipg/, a shared 2-core machine), worst case {_duration(total * time_limit)} ({total} × "
        f"--time-limit {time_limit:g} s)"
    )
    if unknown:
        n_unknown = sum(left[k] for k in unknown)
        line += f"; no typical time for {', '.join(unknown)} ({n_unknown} solves): worst case only"
    return line + "."


# -- fresh games ---------------------------------------------------------------------------------------
def parse_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)x(\d+)", text)
    if not match or int(match.group(1)) < 2 or int(match.group(2)) < 1:
        raise RlcvError(f"--sizes entry '{text}' is not of the form MxN (players ≥ 2 x items, e.g. 3x20).")
    return int(match.group(1)), int(match.group(2))


def numpy_seed(seed: int, m: int, n: int, i: int) -> int:
    """The legacy numpy seed of fresh game i of size m x n (module docstring)."""
    return int(np.random.SeedSequence([seed, m, n, i]).generate_state(1)[0])


def draw(seed_value: int, m: int, n: int, ins: int) -> dict[str, np.ndarray]:
    """The game's arrays: numpy's global RandomState seeded, one generator call, the state restored."""
    from rlcv.games.instances import generate_knapsack

    with numpy_seeded(seed_value):
        return generate_knapsack(m, n, ins, 10)


def fresh_path(out: Path, key: str, i: int) -> Path:
    return out / "ipg_fresh" / key / f"game_{i:03d}.json"


def fresh_games(sizes: list[str], count: int, seed: int) -> list[tuple[str, int, dict[str, Any]]]:
    """(size key, game, spec) of every fresh game, interleaved across sizes (a partial sweep covers every
    size); the tail game first (key 'tail') when 3x20 is among ``sizes``."""
    parsed = [(s, *parse_size(s)) for s in sizes]
    games: list[tuple[str, int, dict[str, Any]]] = []
    if "3x20" in sizes:  # the heavy-tail game belongs to that size
        games.append(("tail", 0, {**TAIL_GAME, "seed": None}))
    for i in range(count):
        for key, m, n in parsed:
            spec = {
                "seed": seed,
                "game": i,
                "m": m,
                "n": n,
                "ins": i % 10,
                "numpy_seed": numpy_seed(seed, m, n, i),
            }
            games.append((key, i, spec))
    return games


def solve_fresh_game(spec: dict[str, Any], cpu_limit: float) -> dict[str, Any]:
    """One fresh game drawn and solved by m-SGM under ``cpu_limit`` CPU seconds; its record."""
    rec = {**spec, "method": "m-sgm", "cpu_limit": cpu_limit}
    rec.update(solve_capped(draw(spec["numpy_seed"], spec["m"], spec["n"], spec["ins"]), cpu_limit))
    nc = "n/a" if rec["nash_conv"] is None else f"{rec['nash_conv']:.1e}"
    print(
        f"ipg fresh {spec['m']}x{spec['n']} game {spec.get('game', 'tail')}: solved={rec['solved']} "
        f"cpu={rec['cpu_seconds']:.2f} s nash_conv={nc}",
        flush=True,
    )
    return rec
