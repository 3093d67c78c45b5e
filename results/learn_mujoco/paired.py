"""Paired reading of the 300k sweep: MBMF-PPO vs rlcv PPO on the seeds both have finished.

Run from the repository root: `python results/learn_mujoco/paired.py` (reads summaries/, and the run
folders under runs/ for approx_kl and clip_fraction where they exist). Prints a markdown table.
The TRPO sweep: `python results/learn_mujoco/paired.py results/learn_mujoco_trpo trpo mbmf-trpo`.
"""

import csv
import json
import sys
from pathlib import Path

import numpy as np

from rlcv.bench.stats import paired_t, steps_to_target

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "results/learn_mujoco")
BASE, MBMF = (sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else ("ppo", "mbmf-ppo")


def final(algo: str, env: str, seed: int) -> tuple[list[int], list[float]] | None:
    path = OUT / "summaries" / algo / env / f"s{seed}.json"
    if not path.is_file():
        return None
    ev = json.loads(path.read_text())["eval"]
    return ev["steps"], ev["return_mean"]


def mean_metric(algo: str, env: str, seed: int, key: str) -> float | None:
    path = OUT / "runs" / algo / env / f"s{seed}" / "metrics.csv"
    if not path.is_file():
        return None
    vals = [float(r[key]) for r in csv.DictReader(path.open()) if r.get(key)]
    return float(np.mean(vals)) if vals else None


def seeds_of(algo: str, env: str) -> list[int]:
    """Every seed with a summary (a sweep may be extended past its first --seeds)."""
    return sorted(int(f.stem[1:]) for f in (OUT / "summaries" / algo / env).glob("s*.json"))


for env in ("HalfCheetah-v5", "Hopper-v5"):
    seeds = [s for s in seeds_of(BASE, env) if final(MBMF, env, s)]
    if not seeds:
        continue
    ppo = {s: final(BASE, env, s) for s in seeds}
    mb = {s: final(MBMF, env, s) for s in seeds}
    diff = paired_t([mb[s][1][-1] for s in seeds], [ppo[s][1][-1] for s in seeds])
    all_ppo = [final(BASE, env, s)[1][-1] for s in seeds_of(BASE, env)]
    # PPO's 100k-step return: the seed-mean of its evaluations at the last eval step <= 100k.
    steps0 = ppo[seeds[0]][0]
    i100 = max(i for i, st in enumerate(steps0) if st <= 100_000)
    target = float(np.mean([final(BASE, env, s)[1][i100] for s in seeds_of(BASE, env)]))
    print(f"## {env}: {len(seeds)} paired seeds {seeds}")
    print(
        f"final: {BASE} {[round(ppo[s][1][-1]) for s in seeds]}, "
        f"{MBMF} {[round(mb[s][1][-1]) for s in seeds]}"
    )
    print(f"paired {MBMF} - {BASE}: {diff.fmt('+.0f')} (95% t)")
    print(
        f"worst {BASE} seed (all): {min(all_ppo):.0f}; "
        f"worst {MBMF} seed: {min(mb[s][1][-1] for s in seeds):.0f}"
    )
    print(f"{BASE}'s 100k return (seed mean at step {steps0[i100]}): {target:.0f}")
    for name, runs in ((BASE, ppo), (MBMF, mb)):
        reach = [steps_to_target(*runs[s], target) for s in seeds]
        print(f"  steps to reach it, {name}: {reach}")
    for key in ("approx_kl", "clip_fraction", "kl"):  # PPO logs the first two, TRPO its step's kl
        row = {a: [mean_metric(a, env, s, key) for s in seeds] for a in (BASE, MBMF)}
        if all(v is None for vs in row.values() for v in vs):
            continue
        print(
            f"  mean {key} per seed: "
            + "; ".join(f"{a} {[None if v is None else round(v, 4) for v in vs]}" for a, vs in row.items())
        )
    print()
