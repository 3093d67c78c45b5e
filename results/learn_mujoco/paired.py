"""Paired reading of the 300k sweep: MBMF-PPO vs rlcv PPO on the seeds both have finished.

Run from the repository root: `python results/learn_mujoco/paired.py` (reads summaries/, and the run
folders under runs/ for approx_kl and clip_fraction where they exist). Prints a markdown table.
"""

import csv
import json
from pathlib import Path

import numpy as np
from scipy import stats

OUT = Path("results/learn_mujoco")


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


def first_step_reaching(steps: list[int], values: list[float], target: float) -> int | None:
    return next((s for s, v in zip(steps, values, strict=True) if v >= target), None)


for env in ("HalfCheetah-v5", "Hopper-v5"):
    seeds = [s for s in range(5) if final("ppo", env, s) and final("mbmf-ppo", env, s)]
    ppo = {s: final("ppo", env, s) for s in seeds}
    mb = {s: final("mbmf-ppo", env, s) for s in seeds}
    d = np.array([mb[s][1][-1] - ppo[s][1][-1] for s in seeds])
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
    all_ppo = [final("ppo", env, s)[1][-1] for s in range(5) if final("ppo", env, s)]
    # PPO's 100k-step return: the seed-mean of its evaluations at the last eval step <= 100k.
    steps0 = ppo[seeds[0]][0]
    i100 = max(i for i, st in enumerate(steps0) if st <= 100_000)
    target = float(np.mean([final("ppo", env, s)[1][i100] for s in range(5) if final("ppo", env, s)]))
    print(f"## {env}: {len(seeds)} paired seeds {seeds}")
    print(
        f"final: ppo {[round(ppo[s][1][-1]) for s in seeds]}, mbmf-ppo {[round(mb[s][1][-1]) for s in seeds]}"
    )
    print(f"paired mbmf - ppo: {d.mean():+.0f} [{d.mean() - half:+.0f}, {d.mean() + half:+.0f}] (95% t)")
    print(
        f"worst ppo seed (all 5): {min(all_ppo):.0f}; worst mbmf seed: {min(mb[s][1][-1] for s in seeds):.0f}"
    )
    print(f"PPO's 100k return (5-seed mean at step {steps0[i100]}): {target:.0f}")
    for name, runs in (("ppo", ppo), ("mbmf-ppo", mb)):
        reach = [first_step_reaching(*runs[s], target) for s in seeds]
        print(f"  steps to reach it, {name}: {reach}")
    for key in ("approx_kl", "clip_fraction"):
        row = {a: [mean_metric(a, env, s, key) for s in seeds] for a in ("ppo", "mbmf-ppo")}
        print(
            f"  mean {key} per seed: "
            + "; ".join(f"{a} {[None if v is None else round(v, 4) for v in vs]}" for a, vs in row.items())
        )
    print()
