"""`rlcv bench ipg --fresh N --sizes 2x20 2x40 3x20 --seed S`: m-SGM on games the paper never saw.

Ten fixed instances per size measure the mean of the easy ones; what a user's own games cost shows in
the tail. This bench draws N new knapsack games per size with the paper's generator
(:func:`rlcv.games.instances.generate_knapsack`), solves each with m-SGM under a CPU cap per game, and
grades the answer by its exact NashConv (independent MILP best responses, not counted in the time).

Game i of size MxN: numpy's legacy RandomState seeded with ``SeedSequence([S, M, N, i])``'s first word
(recorded in the game's summary as ``numpy_seed``), then ``generate_knapsack(M, N, ins = i mod 10)`` —
the capacity classes b = ins/11 · ΣA of the paper's ten instances, in turn. The issue's heavy-tail
game (``np.random.seed(7774)``, then ``generate_knapsack(3, 20, 5)``) is solved too when 3x20 is among
the sizes, and reported apart.

Each game's summary is ``OUT/ipg_fresh/MxN/game_III.json`` (the tail game: ``OUT/ipg_fresh/tail/``),
written as soon as it is solved; an existing one is skipped, so an interrupted sweep resumes (a summary
made under another ``--cpu-limit`` is refused). A game over the cap is recorded ``"solved": false``
with its CPU time, never dropped. The page ``OUT/ipg_fresh.md`` (+ ``.json`` and the figure
``ipg_fresh_cpu.png``, CPU seconds per game by size) is rebuilt from the summaries; ``--report-only``
does only that.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from rlcv.bench.ipg_fresh_report import write_report
from rlcv.errors import RlcvError
from rlcv.files import write_text

TAIL_GAME = {"numpy_seed": 7774, "m": 3, "n": 20, "ins": 5}  # issue 28's 321 s game


def parse_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)x(\d+)", text)
    if not match or int(match.group(1)) < 2 or int(match.group(2)) < 1:
        raise RlcvError(f"--sizes entry '{text}' is not of the form MxN (players ≥ 2 x items, e.g. 3x20).")
    return int(match.group(1)), int(match.group(2))


def numpy_seed(seed: int, m: int, n: int, i: int) -> int:
    """The legacy numpy seed of game i of size m x n (module docstring)."""
    return int(np.random.SeedSequence([seed, m, n, i]).generate_state(1)[0])


def draw(seed_value: int, m: int, n: int, ins: int) -> dict[str, np.ndarray]:
    """The game's arrays: numpy's global RandomState seeded, one generator call, the state restored."""
    from rlcv.games.instances import generate_knapsack
    from rlcv.games.paper_files import numpy_seeded

    with numpy_seeded(seed_value):
        return generate_knapsack(m, n, ins, 10)


def graded(game: Any, res: Any, nash_conv_limit: float) -> dict[str, Any]:
    """The fields every IPG record shares (``bench ipg --instance`` and ``--fresh``; here, not in
    :mod:`rlcv.bench.ipg`, which imports this module for ``--fresh``): the outcome and
    its exact NashConv, computed after the solve (not in its time; None where there is no profile yet
    or the best responses time out)."""
    from rlcv.games.best_response import SolverTimeout
    from rlcv.games.nash_conv import nash_conv

    nc: float | None = None
    if res.probs:  # a profile exists (not a time-out before the first sampled game)
        try:
            nc = nash_conv(game, res.strategies, res.probs, time_limit=nash_conv_limit)
        except SolverTimeout:
            nc = None
    return {
        "solved": res.solved,
        "cpu_seconds": res.cpu_seconds,
        "nash_conv": nc,
        "iterations": res.iterations,
        "backtracks": res.backtracks,
        "milp_solves": res.milp_solves,
        "sampled_sizes": [len(s) for s in res.strategies],
        "support_sizes": res.support_sizes,
        "pure": res.pure,
        "reason": res.reason,
    }


def solve_game(arrays: dict[str, np.ndarray], cpu_limit: float) -> dict[str, Any]:
    """m-SGM under a CPU cap, graded by exact NashConv: the summary's result fields."""
    from rlcv.games.instances import game_from_arrays
    from rlcv.games.sgm import solve

    game = game_from_arrays(arrays)
    res = solve(game, method="m-sgm", time_limit=cpu_limit, clock="cpu")
    rec = {"wall_seconds": res.seconds, **graded(game, res, 60.0), "payoffs": res.payoffs}
    rec["players"] = [
        {"strategies": res.strategies[p].astype(int).tolist(), "probabilities": res.probs[p].tolist()}
        for p in range(game.m)
        if res.probs
    ]
    return rec


def summary_path(out: Path, key: str, i: int) -> Path:
    return out / "ipg_fresh" / key / f"game_{i:03d}.json"


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RlcvError(
            f"cannot read the summary '{path}' ({exc}); delete it to solve that game again."
        ) from None


def _solve_one(path: Path, spec: dict[str, Any], cpu_limit: float) -> None:
    """Solve one game unless its summary exists (made under the same cap); write the summary."""
    if path.exists():
        old = _read(path)
        if old.get("cpu_limit") != cpu_limit:
            raise RlcvError(
                f"'{path}' was solved with --cpu-limit {old.get('cpu_limit')}, not {cpu_limit:g}; "
                "give the same cap, or another --out."
            )
        return
    rec = {**spec, "method": "m-sgm", "cpu_limit": cpu_limit}
    rec.update(solve_game(draw(spec["numpy_seed"], spec["m"], spec["n"], spec["ins"]), cpu_limit))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(rec) + "\n")
    nc = "n/a" if rec["nash_conv"] is None else f"{rec['nash_conv']:.1e}"
    print(
        f"ipg fresh {spec['m']}x{spec['n']} game {spec.get('game', 'tail')}: solved={rec['solved']} "
        f"cpu={rec['cpu_seconds']:.2f} s nash_conv={nc}",
        flush=True,
    )


def run_fresh(
    sizes: list[str], count: int, seed: int, cpu_limit: float, out: Path, report_only: bool
) -> None:
    """Solve what is missing (games interleaved across sizes, so a partial sweep covers every size),
    then write the page."""
    parsed = [(s, *parse_size(s)) for s in sizes]
    if report_only:
        from rlcv.bench.checks import require_summaries

        require_summaries(out / "ipg_fresh", "game_*.json", "per-game summaries")
    else:
        if "3x20" in sizes:  # the heavy-tail game belongs to that size
            _solve_one(summary_path(out, "tail", 0), {**TAIL_GAME, "seed": None}, cpu_limit)
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
                _solve_one(summary_path(out, key, i), spec, cpu_limit)

    write_report(out, [s for s, _, _ in parsed], count)
