"""`rlcv bench bgan-update-cost`: the cost of one generator update of each BGAN generator, timed side by
side, and what BGAN's compute buys the others.

Timing: the three generators train ``--updates`` updates each (the bench's schedule: 64 latents × M =
20, disc_batch_size 128, one thread), in the order bgan, reinforce, gumbel, ``--repeats`` times, so
load drifts hit them alike; ``OUT/bgan_update_cost.json`` keeps the seconds per update. Report: the
equal-compute comparison against `rlcv bench bgan`'s ``OUT/bgan.json`` (see :data:`INTRO`), written to
``OUT/bgan_update_cost.md``; ``--report-only`` rebuilds it from both JSONs without timing.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlcv.bench.stats import paired_t

ALGOS = ("bgan", "bgan-reinforce", "bgan-gumbel")
COMMAND = "rlcv bench bgan-update-cost"

INTRO = """\
Cost of one generator update of each generator, timed side by side (interleaved) on this machine.

The bench's wall-clock columns come from runs trained at different times on a shared 2-core machine,
so load differs between them (the same 600 BGAN updates took 28–44 s inside one sweep and 104–141 s in
another). Here the three generators train {updates} updates each (the bench's schedule: 64 latents × M = 20,
disc_batch_size 128, one thread), in the order bgan, reinforce, gumbel, repeated {repeats} times, so
load drifts hit them alike; the per-update cost is the run's recorded training time over its updates,
and the ratio to BGAN's is taken within each repeat.

Equal compute: with generator X costing r × BGAN's per update, BGAN's {b} updates buy X {b} / r
updates. The bench scores checkpoints every 600 updates only, so X's score at that budget is
bracketed by its scores at the checkpoints on either side; the paired differences BGAN − X at both
(from ``results/bgan.json``) bound the equal-compute difference if X's curve is monotone there."""

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


def _difference(a: list[float], b: list[float]) -> str:
    d = paired_t(a, b)
    star = " *" if not math.isnan(d.low) and (d.low > 0 or d.high < 0) else ""
    return f"{d.point:+.3f} [{d.low:+.3f}, {d.high:+.3f}]{star}"


def equal_compute(cost: Cost, bench: Mapping[str, Any]) -> list[str]:
    """Table rows: BGAN's final checkpoint against each other generator's checkpoints that bracket
    the update count BGAN's compute buys it (paired over the bench's seeds)."""
    runs: dict[str, dict[int, dict]] = {}
    for r in bench["runs"]:
        runs.setdefault(r["algo"], {})[r["seed"]] = r
    seeds = sorted(runs["bgan"])
    bgan_updates = runs["bgan"][seeds[0]]["final"]["updates"]
    rows = []
    for algo in ALGOS[1:]:
        ratio = float(np.median(ratios(cost, algo)))
        budget = bgan_updates / ratio
        for at in bracket([p["updates"] for p in runs[algo][seeds[0]]["curve"]], budget):
            cells = []
            for key in ("c2st_accuracy", "nn1_accuracy"):
                other = [next(p for p in runs[algo][s]["curve"] if p["updates"] == at)[key] for s in seeds]
                cells.append(_difference([runs["bgan"][s]["final"][key] for s in seeds], other))
            rows.append(f"| `{algo}` | {ratio:.2f} | {budget:.0f} | {at} | " + " | ".join(cells) + " |")
    return rows


def render(timing: Mapping[str, Any], bench: Mapping[str, Any]) -> str:
    cost = timing["seconds_per_update"]
    bgan_runs = [r for r in bench["runs"] if r["algo"] == "bgan"]
    bgan_updates = bgan_runs[0]["final"]["updates"]
    intro = INTRO.format(updates=timing["updates"], repeats=len(cost["bgan"]), b=bgan_updates)
    lines = [
        "# Cost of one generator update (interleaved timing)",
        "",
        intro,
        "",
        "| generator | ms per update, each repeat | median | × BGAN's (per repeat) |",
        "|---|---|---|---|",
    ]
    for algo in ALGOS:
        each = ", ".join(f"{1000 * c:.1f}" for c in cost[algo])
        relative = ", ".join(f"{r:.2f}" for r in ratios(cost, algo))
        lines.append(f"| `{algo}` | {each} | {1000 * float(np.median(cost[algo])):.1f} | {relative} |")
    lines += [
        "",
        f"## Equal compute (BGAN's {bgan_updates} updates; paired over the bench's {len(bgan_runs)} seeds, "
        "* = CI excludes 0)",
        "",
        "| BGAN − | cost ratio (median) | updates at BGAN's cost | checkpoint compared | C2ST | 1-NN |",
        "|---|---|---|---|---|---|",
        *equal_compute(cost, bench),
        "",
        f"Regenerate: `{COMMAND} --report-only` (reads `results/bgan.json` and "
        f"`results/bgan_update_cost.json`; `OMP_NUM_THREADS=1 {COMMAND}` times the updates again).",
    ]
    return "\n".join(lines) + "\n"


def register(sub: argparse._SubParsersAction) -> None:
    from rlcv.bench.checks import out_dir, positive_int

    p = sub.add_parser("bgan-update-cost", help="BGAN generators' cost per update, and equal-compute scores")
    p.add_argument("--out", type=out_dir, default="results", help="folder of bgan.json and of the page")
    p.add_argument("--updates", type=positive_int, default=200, help="updates per timed run")
    p.add_argument("--repeats", type=positive_int, default=3, help="rounds of the three generators")
    p.add_argument("--report-only", action="store_true", help="rebuild the page from the saved timings")
    p.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    bench_path, timing_path = out / "bgan.json", out / "bgan_update_cost.json"
    for path in (bench_path, *([timing_path] if args.report_only else [])):
        if not path.is_file():
            print(f"rlcv bench bgan-update-cost: {path} is missing", file=sys.stderr)
            return 2
    bench = json.loads(bench_path.read_text())
    if args.report_only:
        timing = json.loads(timing_path.read_text())
    else:
        timing = {"updates": args.updates, "seconds_per_update": time_updates(args.updates, args.repeats)}
        timing_path.write_text(json.dumps(timing, indent=1) + "\n")
    page = out / "bgan_update_cost.md"
    page.write_text(render(timing, bench))
    print(f"wrote {page}")
    return 0
