"""`rlcv bench bgan-update-cost`: the cost of one generator update of each BGAN generator, timed side by
side, and what BGAN's compute buys the others.

Timing: the three generators train ``--updates`` updates each (the bench's schedule: 64 latents × M =
20, disc_batch_size 128, one thread; :func:`rlcv.bench.runs.train_or_fail`), in the order bgan,
reinforce, gumbel, ``--repeats`` times, so load drifts hit them alike; ``OUT/bgan_update_cost.json``
keeps the seconds per update. Report (template ``bgan_update_cost.md.j2``): the equal-compute
comparison (:func:`rlcv.gan.rows.equal_compute`) against `rlcv bench bgan`'s ``OUT/bgan.json``, written
to ``OUT/bgan_update_cost.md``; ``--report-only`` rebuilds it from both JSONs without timing.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from rlcv.bench.bgan import starred
from rlcv.bench.checks import out_dir, positive_int, require_report_input
from rlcv.bench.report import render, saved_or_measured
from rlcv.gan.rows import cost_ratios, equal_compute

ALGOS = ("bgan", "bgan-reinforce", "bgan-gumbel")


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


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bgan-update-cost", help="BGAN generators' cost per update, and equal-compute scores")
    p.add_argument("--out", type=out_dir, default="results", help="folder of bgan.json and of the page")
    p.add_argument("--updates", type=positive_int, default=200, help="updates per timed run")
    p.add_argument("--repeats", type=positive_int, default=3, help="rounds of the three generators")
    p.add_argument("--report-only", action="store_true", help="rebuild the page from the saved timings")
    p.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    require_report_input(out / "bgan.json", "bgan")
    timing = saved_or_measured(
        out / "bgan_update_cost.json", "bgan-update-cost", args.report_only,
        lambda: {"updates": args.updates, "seconds_per_update": time_updates(args.updates, args.repeats)},
    )  # fmt: skip
    bench, cost = json.loads((out / "bgan.json").read_text()), timing["seconds_per_update"]
    bgans = [r for r in bench["runs"] if r["algo"] == "bgan"]
    text = render(
        "bgan_update_cost.md.j2", updates=timing["updates"], cost=cost, algos=ALGOS, starred=starred,
        ratios={a: cost_ratios(cost, a) for a in ALGOS}, median={a: float(np.median(cost[a])) for a in ALGOS},
        bgan_updates=bgans[0]["final"]["updates"], n_seeds=len(bgans), rows=equal_compute(cost, bench),
    )  # fmt: skip
    (out / "bgan_update_cost.md").write_text(text)
    print(f"wrote {out / 'bgan_update_cost.md'}")
    return 0
