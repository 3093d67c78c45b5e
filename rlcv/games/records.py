"""One solve of an integer programming game as a plain JSON record, graded by its exact NashConv.

:func:`solve_instance` solves an instance file with m-SGM, SGM or full enumeration + PNS under a
wall-clock limit (`rlcv bench ipg --instance`, its table); :func:`solve_capped` solves drawn arrays with
m-SGM under a CPU cap (`rlcv bench ipg --fresh`). Both records share :func:`graded`'s fields: the
outcome, the CPU seconds of the solve, and the exact Σ_p regret of the returned profile
(:mod:`rlcv.games.nash_conv`), computed after the solve and not counted in its time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rlcv.errors import RlcvError
from rlcv.games.paper_files import GENERATED, PAPER

METHODS = ("m-sgm", "sgm", "enum")  # enum: full enumeration + PNS (:mod:`rlcv.games.enumeration`)


def graded(game: Any, res: Any, nash_conv_limit: float) -> dict[str, Any]:
    """The fields every IPG record shares: the outcome and its exact NashConv (None where there is no
    profile yet or the best responses time out)."""
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


def solve_instance(path: str | Path, method: str, time_limit: float) -> dict[str, Any]:
    """One instance file solved: {"instance", "method", "time_limit", "seconds" (wall), the
    :func:`graded` fields, "players": [{"strategies", "probabilities", "payoff"}]} (+ "feasible_sizes",
    the full strategy lists, for enum)."""
    from rlcv.games.instances import load_game
    from rlcv.games.lot_sizing import LotSizingGame
    from rlcv.games.sgm import solve

    if time_limit <= 0:
        raise RlcvError(f"--time-limit must be > 0 seconds, got {time_limit:g}.")
    game = load_game(path)
    feasible_sizes: list[int] | None = None
    if method == "enum":  # the paper's baseline: every feasible strategy listed, PNS on the full game
        from rlcv.games.enumeration import solve_enumeration

        res, feasible_sizes = solve_enumeration(game, time_limit=time_limit)
    else:
        res = solve(game, method=method, time_limit=time_limit)
    number = float if isinstance(game, LotSizingGame) else int
    rec: dict[str, Any] = {"instance": str(path), "method": method, "time_limit": time_limit}
    rec |= {"seconds": res.seconds, **graded(game, res, max(time_limit, 60.0))}
    rec["players"] = [
        {
            # knapsack: 0/1 items; lot-sizing: setups 0/1 and continuous quantities
            "strategies": [[number(v) for v in row] for row in res.strategies[p]],
            "probabilities": [float(q) for q in res.probs[p]] if res.probs else [],
            "payoff": res.payoffs[p] if res.payoffs else None,
        }
        for p in range(game.m)
    ]
    if feasible_sizes is not None:  # enum: sampled_sizes are the NE supports, these the full lists
        rec["feasible_sizes"] = feasible_sizes
    return rec


def solve_capped(arrays: dict[str, np.ndarray], cpu_limit: float) -> dict[str, Any]:
    """m-SGM on a game's arrays under a CPU cap, graded: {"wall_seconds", the :func:`graded` fields,
    "payoffs", "players": [{"strategies", "probabilities"}]}."""
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


def cpu(rec: dict[str, Any]) -> float:
    """A record's CPU seconds (the paper's ``.txt`` report CPU time too); wall seconds for a record made
    before records held both."""
    return float(rec.get("cpu_seconds", rec["seconds"]))


def record_source(rec: dict[str, Any]) -> str:
    """A record's ``source``; records written before it was kept: from their instance label."""
    if "source" in rec:
        return str(rec["source"])
    return GENERATED if str(rec.get("instance", "")).startswith("generated") else PAPER
