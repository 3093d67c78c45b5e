"""Where MBMF-PPO's extra time goes: cProfile of one short `rlcv train` per algo on HalfCheetah-v5.

Run from the repo root: `python results/learn_mujoco_v3/cost_profile.py [STEPS]` (default 10240) →
`results/learn_mujoco_v3/cost_profile.json` and a table on stdout. Times are cProfile's cumulative
seconds of the training loop's phases (the profiler slows Python-heavy code more than torch kernels,
so read the shares, not the absolute seconds; the throughput ratio is `speed.json`).
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from rlcv.cli import main  # noqa: E402  (after the thread setting)

# (label, file suffix, function name): the phases of one update of the training loop; an indented
# label is a part of the row above it (cumulative times nest), not an addition to it.
PHASES = [
    ("training loop", "rlcv/loop.py", "train"),
    ("collect (env + policy)", "rlcv/collector.py", "collect"),
    ("policy/value epochs (PPO learn)", "agents/ppo.py", "learn"),
    ("  of which pathwise loss", "rlcv/estimators/mbmf.py", "pathwise_loss"),
    ("CV features (imagined D, gate, held-out error)", "rlcv/estimators/mbmf.py", "prepare"),
    ("  of which held-out model error", "rlcv/estimators/mbmf.py", "held_out_error"),
    ("model training", "rlcv/dynamics.py", "train_dynamics"),
]


def profile(algo: str, steps: int, root: Path) -> dict[str, float]:
    prof = cProfile.Profile()
    args = ["train", "--algo", algo, "--env", "HalfCheetah-v5", "--steps", str(steps), "--seed", "1"]
    args += ["--num-threads", "1", "--eval-freq", "1000000", "--no-progress", "--run-dir", str(root / algo)]
    prof.runcall(main, args)
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    out = {}
    for label, suffix, name in PHASES:
        out[label] = sum(v[3] for (f, _, fn), v in stats.items() if f.endswith(suffix) and fn == name)
    return out


def run(steps: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        res = {algo: profile(algo, steps, Path(tmp)) for algo in ("ppo", "mbmf-ppo")}
    return {"env": "HalfCheetah-v5", "steps": steps, "cumulative_seconds": res}


if __name__ == "__main__":
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 10240
    result = run(steps)
    Path("results/learn_mujoco_v3/cost_profile.json").write_text(json.dumps(result, indent=1) + "\n")
    ppo, mbmf = result["cumulative_seconds"]["ppo"], result["cumulative_seconds"]["mbmf-ppo"]
    extra = mbmf["training loop"] - ppo["training loop"]
    print(f"| phase | PPO s | MBMF-PPO s | share of MBMF's extra {extra:.1f} s |\n|---|---:|---:|---:|")
    for label, _, _ in PHASES:
        share = (mbmf[label] - ppo[label]) / extra if extra > 0 else float("nan")
        print(f"| {label} | {ppo[label]:.1f} | {mbmf[label]:.1f} | {share:.0%} |")
