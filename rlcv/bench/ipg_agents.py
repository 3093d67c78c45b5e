"""`rlcv bench ipg-agents`: RL oracles vs the exact MIP on knapsack m = 2, n = 20 (instances 0-9).

Trains ipg-psro, ipg-fp and ipg-pg on every instance of the IPG paper (25 updates; PSRO with m = 2 makes
50 oracle calls) through the bench runner, reads the exact NashConv each update logged, and grades it
against 1 % of the mean equilibrium payoff of the m-SGM solution in ``results/ipg/knapsack/m-sgm/``
(written by `rlcv bench ipg`; :func:`rlcv.games.comparisons.nash_conv_grade`). Writes
``OUT/ipg_agents/summary.json`` and ``OUT/ipg_agents.md``; ``--report-only`` rebuilds the page from the
summary (no training).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path

from rlcv.bench.checks import out_dir
from rlcv.bench.report import saved_or_measured, write_page
from rlcv.bench.runs import RunJob, train_or_fail
from rlcv.games.comparisons import Row, agent_summary, nash_conv_grade
from rlcv.run_dir import RunDir

ALGOS = ("ipg-psro", "ipg-fp", "ipg-pg")
UPDATES = 25
INSTANCES = range(10)
COMMAND = "rlcv bench ipg-agents --report-only"


def sweep(data: Path, out: Path) -> dict[str, dict[int, Row]]:
    """Train every agent on every instance (:func:`rlcv.bench.runs.train_or_fail`); the summary, by
    agent then instance."""
    summary: dict[str, dict[int, Row]] = {a: {} for a in ALGOS}
    with tempfile.TemporaryDirectory() as tmp:
        for ins in INSTANCES:
            exact = json.loads((out / "ipg" / "knapsack" / "m-sgm" / f"Game_2_20_{ins}.json").read_text())
            scale = sum(p["payoff"] for p in exact["players"]) / len(exact["players"])
            instance = json.dumps({"instance": str((data / "knapsack" / f"Game_2_20_{ins}.npy").resolve())})
            for algo in ALGOS:
                args = ["train", "--algo", algo, "--env", "rlcv/KnapsackGame-v0", "--steps", str(UPDATES)]
                args += ["--seed", "0", "--no-progress", "--num-threads", "1", "--env-kwargs", instance]
                job = RunJob(f"{algo}/{ins}", Path(tmp) / f"{algo}_{ins}", args, UPDATES)
                train_or_fail([job], workers=1)
                rows = RunDir(job.run_dir).metrics_rows()
                nc = [float(r["nash_conv"]) for r in rows]
                calls = [int(float(r.get("oracle_calls") or i + 1)) for i, r in enumerate(rows)]
                summary[algo][ins] = nash_conv_grade(nc, calls, scale)
                print(algo, ins, summary[algo][ins], flush=True)
    return summary


def render(summary: Mapping[str, Mapping[int, Row]]) -> str:
    """The page (template ipg_agents.md.j2): per agent how many instances reached 1 %, the median calls
    to it and the median final NashConv / payoff (:func:`~rlcv.games.comparisons.agent_summary`); then
    per instance."""
    from rlcv.bench.report import render as page

    agents = []
    for algo in ALGOS:
        a = agent_summary(list(summary[algo].values()))
        calls = "—" if a["calls"] is None else str(a["calls"])
        agents.append([f"`{algo}`", f"{a['reached']}/{a['runs']}", calls, f"{a['rel']:.3g}"])
    instances = [
        [str(ins), f"{summary[ALGOS[0]][ins]['mean_ne_payoff']:.1f}"]
        + [
            f"{'—' if r['calls_to_1pct'] is None else r['calls_to_1pct']} ({r['final_nash_conv']:.3g})"
            for r in (summary[algo][ins] for algo in ALGOS)
        ]
        for ins in sorted(summary[ALGOS[0]])
    ]
    return page(
        "ipg_agents.md.j2",
        updates=UPDATES,
        command=COMMAND,
        agents=agents,
        instances=instances,
        algos=list(ALGOS),
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ipg-agents", help="RL oracles (ipg-psro / fp / pg) vs the exact MIP on knapsack")
    p.add_argument("--data", default="../shared/ipg", help="the IPG paper's folder (its knapsack/ instances)")
    p.add_argument("--out", type=out_dir, default="results")
    p.add_argument(
        "--report-only", action="store_true", help="rebuild the page from OUT/ipg_agents/summary.json"
    )
    p.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    path = out / "ipg_agents" / "summary.json"
    saved = saved_or_measured(path, "ipg-agents", args.report_only, lambda: sweep(Path(args.data), out))
    by_instance = {
        algo: {int(ins): r for ins, r in rows.items()} for algo, rows in saved.items()
    }  # JSON: str keys
    write_page(out, "ipg_agents", render(by_instance))
    return 0
