"""How often the MBMF control variate was actually on during the learning sweeps.

Run from the repository root: `python results/learn_mujoco/gate.py [OUT ALGO]` (default
results/learn_mujoco mbmf-ppo; the TRPO sweep: results/learn_mujoco_trpo mbmf-trpo). Reads the run
folders OUT/runs/ALGO/ENV/sSEED/metrics.csv (kept beside the committed summaries, not committed
themselves). Per run: the trust gate's mean over updates and over each quarter of training, the median
held-out k-step model error, the mean and median in-training score-term variance ratio
Var(Â − η_a D_a − η_τ D_τ) / Var(Â), and (v3 runs) the median held-out ratio the variance gate reads.
"""

import csv
import statistics
import sys
from pathlib import Path

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "results/learn_mujoco")
ALGO = sys.argv[2] if len(sys.argv) > 2 else "mbmf-ppo"

print(
    "| env | seed | gate mean | gate by quarter | median k-step error | score var ratio mean / median "
    "| held-out ratio median |"
)
print("|---|---:|---:|---|---:|---|---:|")
for path in sorted((OUT / "runs" / ALGO).glob("*/s*/metrics.csv")):
    rows = list(csv.DictReader(path.open()))
    gate = [float(r["cv_gate"]) for r in rows if r["cv_gate"]]
    err = [float(r["model_error_kstep"]) for r in rows if r["model_error_kstep"]]
    svr = [float(r["cv_score_var_ratio"]) for r in rows if r["cv_score_var_ratio"]]
    held = [float(r["cv_heldout_ratio"]) for r in rows if r.get("cv_heldout_ratio") not in (None, "", "nan")]
    if not gate:
        continue
    q = max(1, len(gate) // 4)
    quarters = ", ".join(f"{statistics.mean(gate[i * q : (i + 1) * q] or [0.0]):.2f}" for i in range(4))
    print(
        f"| {path.parent.parent.name} | {path.parent.name[1:]} | {statistics.mean(gate):.2f} | {quarters} | "
        f"{statistics.median(err) if err else float('nan'):.2f} | "
        f"{statistics.mean(svr):.2f} / {statistics.median(svr):.2f} | "
        f"{f'{statistics.median(held):.2f}' if held else '–'} |"
    )
