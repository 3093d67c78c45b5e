"""The in-training control variate in the first 50k HalfCheetah-v5 steps (seed 0) under each model /
gate setting tried before the v3 sweep: score-term variance ratio, gate, held-out ratio.

    python results/learn_mujoco_v3/pilot_50k/gate_pilot.py
"""

import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
PILOT = "../../learn_mujoco/pilot_model50/"
RUNS = {
    "v2 preset (lr 1e-3, ≤ 20 steps, k-step error gate)": PILOT + "mbmf-ppo_s0_metrics.csv",
    "50 steps, lr 1e-3, k-step error gate": PILOT + "mbmf-ppo-m50_s0_metrics.csv",
    "30 steps, lr 1e-2, k-step error gate": "lr1c_s30_metrics.csv",
    "50 steps, lr 3e-3, k-step error gate": "lr3m_s50_metrics.csv",
    "v3: 50 steps, lr 3e-3, variance gate": "v3_metrics.csv",
}


def column(rows: list[dict], key: str) -> np.ndarray:
    return np.array([float(r[key]) if r.get(key) else np.nan for r in rows])


print("| setting | steps | score var ratio mean / median | gate mean | 1-step error median |")
print("|---|---|---|---|---|")
for name, rel in RUNS.items():
    rows = [r for r in csv.DictReader(open(HERE / rel)) if float(r["step"]) <= 50000]
    step, ratio, gate = column(rows, "step"), column(rows, "cv_score_var_ratio"), column(rows, "cv_gate")
    e1 = column(rows, "model_error_1step")
    for lo, hi in ((0, 25000), (25000, 50001)):
        m = (step > lo) & (step <= hi)
        print(
            f"| {name} | {lo // 1000}k–{hi // 1000}k "
            f"| {np.nanmean(ratio[m]):.2f} / {np.nanmedian(ratio[m]):.2f} "
            f"| {np.nanmean(gate[m]):.2f} | {np.nanmedian(e1[m]):.3f} |"
        )
