"""`rlcv bench bgan-update-cost`: the cost of one generator update of each BGAN generator, timed side by
side, and what BGAN's compute buys the others.

Timing: the three generators train ``--updates`` updates each (the bench's schedule: 64 latents × M =
20, disc_batch_size 128, one thread; :func:`rlcv.bench.runs.train_or_fail`), in the order bgan,
reinforce, gumbel, ``--repeats`` times, so load drifts hit them alike; ``OUT/bgan_update_cost.json``
keeps the seconds per update. Report (template ``bgan_update_cost.md.j2``): the equal-compute
comparison against `rlcv bench bgan`'s ``OUT/bgan.json``, written to ``OUT/bgan_update_cost.md``;
``--report-only`` rebuilds it from both JSONs without timing.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlcv.stats import paired_t

ALGOS = ("bgan", "bgan-reinforce", "bgan-gumbel")
Cost = Mapping[str, Sequence[float]]  # generator → seconds per update, one per repeat


def _seconds_per_update(algo: str, updates: int, run_dir: Path) -> float:
    from rlcv.bench.runs import RunJob, train_or_fail
    from rlcv.run_dir import RunDir

    args = ["train", "--algo", algo, "--env", "rlcv/BGAN-Digits-v0", "--steps", str(64 * updates)]
    args += ["--seed", "0", "--num-threads", "1", "--no-progress", "--env-kwargs", '{"disc_batch_size": 128}']
    train_or_fail([RunJob(f"{algo} timing", run_dir, args, 64 * updates)], workers=1, fix="rerun the bench")
    rows = RunDir(run_dir).metrics_rows()
    return float(rows[-1]["time_elapsed"]) / len(rows)


def time_updates(updates: int, repeats: int) -> dict[str, list[float]]:
    cost: dict[str, list[float]] = {a: [] for a in ALGOS}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(repeats):
            for algo in ALGOS:
                cost[algo].append(_seconds_per_update(algo, updates, Path(tmp) / f"{algo}_{rep}"))
                print(f"repeat {rep} {algo}: {1000 * cost[algo][-1]:.1f} ms/update", flush=True)
    return cost


def ratios(cost: Cost, algo: str) -> list[float]:
    """``algo``'s cost over BGAN's, within each repeat."""
    return [c / b for c, b in zip(cost[algo], cost["bgan"], strict=True)]


def bracket(grid: Sequence[int], budget: float) -> list[int]:
    """The scored checkpoints on either side of ``budget`` (one if it falls on one or off the grid)."""
    below = max([u for u in grid if u <= budget], default=grid[0])
    above = min([u for u in grid if u >= budget], default=grid[-1])
    return list(dict.fromkeys((below, above)))


def equal_compute(cost: Cost, bench: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per other generator and bracketing checkpoint: the cost ratio (median over repeats), the updates
    BGAN's compute buys it, and BGAN's final C2ST / 1-NN minus its at that checkpoint (paired over the
    bench's seeds, :func:`rlcv.bench.bgan.starred` cells)."""
    from rlcv.bench.bgan import starred

    runs: dict[str, dict[int, dict]] = {}
    for r in bench["runs"]:
        runs.setdefault(r["algo"], {})[r["seed"]] = r
    seeds = sorted(runs["bgan"])
    bgan_updates = runs["bgan"][seeds[0]]["final"]["updates"]
    rows = []
    for algo in ALGOS[1:]:
        ratio = float(np.median(ratios(cost, algo)))
        for at in bracket([p["updates"] for p in runs[algo][seeds[0]]["curve"]], bgan_updates / ratio):
            cells = []
            for key in ("c2st_accuracy", "nn1_accuracy"):
                other = [next(p for p in runs[algo][s]["curve"] if p["updates"] == at)[key] for s in seeds]
                cells.append(starred(paired_t([runs["bgan"][s]["final"][key] for s in seeds], other)))
            rows.append(
                {"algo": algo, "ratio": ratio, "budget": bgan_updates / ratio, "at": at, "cells": cells}
            )
    return rows


def render(timing: Mapping[str, Any], bench: Mapping[str, Any]) -> str:
    from rlcv.bench.report import render as page

    cost = timing["seconds_per_update"]
    bgan_runs = [r for r in bench["runs"] if r["algo"] == "bgan"]
    return page(
        "bgan_update_cost.md.j2",
        updates=timing["updates"],
        cost=cost,
        algos=ALGOS,
        ratios={a: ratios(cost, a) for a in ALGOS},
        median={a: float(np.median(cost[a])) for a in ALGOS},
        bgan_updates=bgan_runs[0]["final"]["updates"],
        n_seeds=len(bgan_runs),
        rows=equal_compute(cost, bench),
    )


def register(sub: argparse._SubParsersAction) -> None:
    from rlcv.bench.checks import out_dir, positive_int

    p = sub.add_parser("bgan-update-cost", help="BGAN generators' cost per update, and equal-compute scores")
    p.add_argument("--out", type=out_dir, default="results", help="folder of bgan.json and of the page")
    p.add_argument("--updates", type=positive_int, default=200, help="updates per timed run")
    p.add_argument("--repeats", type=positive_int, default=3, help="rounds of the three generators")
    p.add_argument("--report-only", action="store_true", help="rebuild the page from the saved timings")
    p.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    from rlcv.bench.checks import require_report_input

    out = Path(args.out)
    bench_path, timing_path = out / "bgan.json", out / "bgan_update_cost.json"
    require_report_input(bench_path, "bgan")
    if args.report_only:
        require_report_input(timing_path, "bgan-update-cost")
        timing = json.loads(timing_path.read_text())
    else:
        timing = {"updates": args.updates, "seconds_per_update": time_updates(args.updates, args.repeats)}
        timing_path.write_text(json.dumps(timing, indent=1) + "\n")
    page = out / "bgan_update_cost.md"
    page.write_text(render(timing, json.loads(bench_path.read_text())))
    print(f"wrote {page}")
    return 0
