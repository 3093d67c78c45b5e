"""Cost of one generator update of each generator, timed side by side (interleaved) on this machine.

The bench's wall-clock columns come from runs trained at different times on a shared 2-core machine,
so load differs between them (the same 600 BGAN updates took 28–44 s inside one sweep and 104–141 s in
another). Here the three generators train 200 updates each (the bench's schedule: 64 latents × M = 20,
disc_batch_size 128, one thread), in the order bgan, reinforce, gumbel, repeated ``REPEATS`` times, so
load drifts hit them alike; the per-update cost is the run's recorded training time over its updates,
and the ratio to BGAN's is taken within each repeat.

Equal compute: with generator X costing r × BGAN's per update, BGAN's 2400 updates buy X 2400 / r
updates. The bench scores checkpoints every 600 updates only, so X's score at that budget is
bracketed by its scores at the checkpoints on either side; the paired differences BGAN − X at both
(from ``results/bgan.json``) bound the equal-compute difference if X's curve is monotone there.

Run from the repository root: ``OMP_NUM_THREADS=1 python results/bgan_update_cost.py`` (writes
``results/bgan_update_cost.{json,md}``; the runs go to a temporary folder; an existing JSON is
reused, delete it to time again).
"""

import csv
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from rlcv.bench.bgan import _paired

ALGOS = ("bgan", "bgan-reinforce", "bgan-gumbel")
UPDATES = 200
REPEATS = 3


def seconds_per_update(algo: str, run_dir: Path) -> float:
    cmd = [sys.executable, "-m", "rlcv.cli", "train", "--algo", algo, "--env", "rlcv/BGAN-Digits-v0"]
    cmd += ["--steps", str(64 * UPDATES), "--seed", "0", "--num-threads", "1", "--no-progress"]
    cmd += ["--env-kwargs", '{"disc_batch_size": 128}', "--run-dir", str(run_dir)]
    subprocess.run(cmd, check=True, capture_output=True)
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    return float(rows[-1]["time_elapsed"]) / len(rows)


def timings() -> dict[str, list[float]]:
    path = Path("results/bgan_update_cost.json")
    if path.is_file():
        return json.loads(path.read_text())["seconds_per_update"]
    cost: dict[str, list[float]] = {a: [] for a in ALGOS}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(REPEATS):
            for algo in ALGOS:
                cost[algo].append(seconds_per_update(algo, Path(tmp) / f"{algo}_{rep}"))
                print(f"repeat {rep} {algo}: {1000 * cost[algo][-1]:.1f} ms/update", flush=True)
    path.write_text(json.dumps({"updates": UPDATES, "seconds_per_update": cost}, indent=1) + "\n")
    return cost


def equal_compute(cost: dict[str, list[float]]) -> list[str]:
    """Table rows: BGAN's final checkpoint against each other generator's checkpoints that bracket
    the update count BGAN's compute buys it."""
    bench = json.loads(Path("results/bgan.json").read_text())
    runs: dict[str, dict[int, dict]] = {}
    for r in bench["runs"]:
        runs.setdefault(r["algo"], {})[r["seed"]] = r
    seeds = sorted(runs["bgan"])
    bgan_updates = runs["bgan"][seeds[0]]["final"]["updates"]
    rows = []
    for algo in ALGOS[1:]:
        ratio = float(np.median([c / b for c, b in zip(cost[algo], cost["bgan"], strict=True)]))
        budget = bgan_updates / ratio
        grid = [p["updates"] for p in runs[algo][seeds[0]]["curve"]]
        below = max([u for u in grid if u <= budget], default=grid[0])
        above = min([u for u in grid if u >= budget], default=grid[-1])
        for at in dict.fromkeys((below, above)):
            cells = []
            for key in ("c2st_accuracy", "nn1_accuracy"):
                other = [next(p for p in runs[algo][s]["curve"] if p["updates"] == at)[key] for s in seeds]
                d = _paired([runs["bgan"][s]["final"][key] for s in seeds], other)
                lo, hi = d["ci"]
                star = " *" if not math.isnan(lo) and (lo > 0 or hi < 0) else ""
                cells.append(f"{d['mean']:+.3f} [{lo:+.3f}, {hi:+.3f}]{star}")
            rows.append(f"| `{algo}` | {ratio:.2f} | {budget:.0f} | {at} | " + " | ".join(cells) + " |")
    return rows


def main() -> None:
    cost = timings()
    lines = [
        "# Cost of one generator update (interleaved timing)",
        "",
        __doc__.split("Run from")[0].strip(),
        "",
        "| generator | ms per update, each repeat | median | × BGAN's (per repeat) |",
        "|---|---|---|---|",
    ]
    for algo in ALGOS:
        ratios = [c / b for c, b in zip(cost[algo], cost["bgan"], strict=True)]
        lines.append(
            f"| `{algo}` | {', '.join(f'{1000 * c:.1f}' for c in cost[algo])} | "
            f"{1000 * float(np.median(cost[algo])):.1f} | {', '.join(f'{r:.2f}' for r in ratios)} |"
        )
    lines += [
        "",
        "## Equal compute (BGAN's 2400 updates; paired over the bench's 5 seeds, * = CI excludes 0)",
        "",
        "| BGAN − | cost ratio (median) | updates at BGAN's cost | checkpoint compared | C2ST | 1-NN |",
        "|---|---|---|---|---|---|",
        *equal_compute(cost),
        "",
        "Regenerate: `OMP_NUM_THREADS=1 python results/bgan_update_cost.py` (delete "
        "`results/bgan_update_cost.json` to time again; reads `results/bgan.json`).",
    ]
    Path("results/bgan_update_cost.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
