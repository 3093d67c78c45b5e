"""RL oracles vs the exact MIP on knapsack m = 2, n = 20 (the paper's instances 0-9).

Runs `rlcv train` for ipg-psro, ipg-fp and ipg-pg on every instance (25 updates; 50 oracle calls for
PSRO with m = 2), reads the exact NashConv each update logged, and grades it against 1 % of the mean
equilibrium payoff of the m-SGM solution in results/ipg/knapsack/m-sgm/. Writes results/ipg_agents.md
and results/ipg_agents/summary.json. Run from the repository root:

    .venv/bin/python results/ipg_agents/regenerate.py

With `--report-only` it rebuilds results/ipg_agents.md from the committed summary.json (no training).
"""

import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

DATA = Path("../shared/ipg/knapsack")
ALGOS = ("ipg-psro", "ipg-fp", "ipg-pg")
UPDATES = 25


def run(algo: str, ins: int, work: Path) -> list[dict[str, str]]:
    run_dir = work / f"{algo}_{ins}"
    instance = (DATA / f"Game_2_20_{ins}.npy").resolve()
    cmd = [sys.executable, "-m", "rlcv.cli", "train", "--algo", algo, "--env", "rlcv/KnapsackGame-v0"]
    cmd += ["--steps", str(UPDATES), "--seed", "0", "--no-progress", "--num-threads", "1"]
    cmd += ["--run-dir", str(run_dir), "--env-kwargs", json.dumps({"instance": str(instance)})]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    with (run_dir / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def main() -> None:
    out: dict[str, dict[int, dict[str, float | int | None]]] = {a: {} for a in ALGOS}
    with tempfile.TemporaryDirectory() as tmp:
        for ins in range(10):
            exact = json.loads(Path(f"results/ipg/knapsack/m-sgm/Game_2_20_{ins}.json").read_text())
            scale = sum(p["payoff"] for p in exact["players"]) / len(exact["players"])
            for algo in ALGOS:
                rows = run(algo, ins, Path(tmp))
                nc = [float(r["nash_conv"]) for r in rows]
                calls = [int(float(r.get("oracle_calls") or i + 1)) for i, r in enumerate(rows)]
                hit = next((c for c, v in zip(calls, nc, strict=True) if v <= 0.01 * scale), None)
                out[algo][ins] = {
                    "mean_ne_payoff": scale,
                    "final_nash_conv": nc[-1],
                    "final_rel": nc[-1] / scale,
                    "calls_to_1pct": hit,
                    "calls": calls[-1],
                }
                print(algo, ins, out[algo][ins], flush=True)
    Path("results/ipg_agents/summary.json").write_text(json.dumps(out, indent=1))
    write_page(out)


def write_page(out: dict[str, dict[int, dict[str, float | int | None]]]) -> None:
    lines = [
        "# RL oracles vs the exact MIP: knapsack games m = 2, n = 20 (instances 0-9)",
        "",
        f"Each agent: `rlcv train --algo A --env rlcv/KnapsackGame-v0 --steps {UPDATES} --seed 0 "
        "--env-kwargs '{instance: ../shared/ipg/knapsack/Game_2_20_i.npy}'` (defaults: oracle = 100 "
        "REINFORCE steps × 64 samples per call). NashConv is exact (HiGHS best responses) every update; "
        "the target is NashConv ≤ 1 % of the mean equilibrium payoff of the m-SGM solution "
        "(`results/ipg.md`). Regenerate: `.venv/bin/python results/ipg_agents/regenerate.py`.",
        "",
        "| agent | reached ≤ 1 % | oracle calls / iterations to 1 % (median over reached) "
        "| final NashConv / payoff (median) |",
        "|---|---:|---:|---:|",
    ]
    for algo in ALGOS:
        rows = out[algo].values()
        hits = sorted(r["calls_to_1pct"] for r in rows if r["calls_to_1pct"] is not None)
        rel = sorted(r["final_rel"] for r in rows)
        med_hit = hits[len(hits) // 2] if hits else "—"
        lines.append(f"| `{algo}` | {len(hits)}/10 | {med_hit} | {rel[len(rel) // 2]:.3g} |")
    lines += [
        "",
        "Per instance (calls to 1 %, — = not within the budget; final NashConv):",
        "",
        "| ins | mean NE payoff | " + " | ".join(ALGOS) + " |",
        "|---|---:|" + "---:|" * len(ALGOS),
    ]
    for ins in range(10):
        cells = []
        for algo in ALGOS:
            r = out[algo][ins]
            hit = r["calls_to_1pct"] if r["calls_to_1pct"] is not None else "—"
            cells.append(f"{hit} ({r['final_nash_conv']:.3g})")
        lines.append(f"| {ins} | {out['ipg-psro'][ins]['mean_ne_payoff']:.1f} | " + " | ".join(cells) + " |")
    Path("results/ipg_agents.md").write_text("\n".join(lines) + "\n")


def report_only() -> None:
    """Rebuild results/ipg_agents.md from the committed summary.json (no training)."""
    saved = json.loads(Path("results/ipg_agents/summary.json").read_text())
    write_page({algo: {int(ins): r for ins, r in rows.items()} for algo, rows in saved.items()})


if __name__ == "__main__":
    if sys.argv[1:] == ["--report-only"]:
        report_only()
    else:
        main()
