"""Paired effect of the cycle term (recon_weight=1.0 minus 0) per two-level method, from the two
committed bench outputs: `python results/ldf/cycle_ablation.py` (after `rlcv bench ldf --seeds 5
--updates 1000 --hier-set recon_weight=1.0` and `rlcv bench ldf --seeds 5 --updates 1000 --name
ldf_nocycle`). Prints a markdown table: mean and 95 % t interval over the paired seeds."""

import json
from pathlib import Path

from rlcv.bench.ldf import paired_ci

HERE = Path(__file__).resolve().parent.parent
KEYS = ("c2st_accuracy", "nn1_accuracy", "confident_share", "seam_discontinuity", "reconstruction_error")

with_cycle = json.loads((HERE / "ldf.json").read_text())["results"]
without = json.loads((HERE / "ldf_nocycle.json").read_text())["results"]
print("| method | " + " | ".join(f"Δ {k}" for k in KEYS) + " |")
print("|---" * (len(KEYS) + 1) + "|")
for method in ("decoupled", "joint", "reuse"):
    cells = []
    for key in KEYS:
        base = {r["seed"]: r["final"][key] for r in without[method]}
        mean, lo, hi = paired_ci([r["final"][key] - base[r["seed"]] for r in with_cycle[method]])
        cells.append(f"{mean:+.3f} [{lo:+.3f}, {hi:+.3f}]")
    print(f"| {method} | " + " | ".join(cells) + " |")
