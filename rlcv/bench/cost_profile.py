"""`rlcv bench cost-profile`: where MBMF-PPO's extra time goes — cProfile of one short `rlcv train` per
algo (ppo, mbmf-ppo) on HalfCheetah-v5, in this process, one thread.

Times are cProfile's cumulative seconds of the training loop's phases (:data:`PHASES`; the profiler
slows Python-heavy code more than torch kernels, so read the shares, not the absolute seconds; the
throughput ratio is `rlcv bench mbmf-speed`'s). Writes ``--json`` and the page beside it (same name,
``.md``): per phase, both algos' seconds and the phase's share of MBMF-PPO's extra loop time.
``--report-only`` rebuilds the page from the JSON.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


def phase_seconds(stats: Mapping[tuple[str, int, str], tuple[Any, ...]]) -> dict[str, float]:
    """Each phase's cumulative seconds (field 3 of a ``pstats`` entry), summed over matching functions."""
    return {
        label: sum(v[3] for (f, _, fn), v in stats.items() if f.endswith(suffix) and fn == name)
        for label, suffix, name in PHASES
    }


def profile(algo: str, env: str, steps: int, root: Path) -> dict[str, float]:
    import cProfile
    import pstats

    from rlcv.cli import main

    prof = cProfile.Profile()
    args = ["train", "--algo", algo, "--env", env, "--steps", str(steps), "--seed", "1"]
    args += ["--num-threads", "1", "--eval-freq", "1000000", "--no-progress", "--run-dir", str(root / algo)]
    prof.runcall(main, args)
    return phase_seconds(pstats.Stats(prof).stats)  # type: ignore[attr-defined]


def render(result: Mapping[str, Any], json_path: str) -> str:
    from rlcv.bench.report import render as page

    ppo, mbmf = result["cumulative_seconds"]["ppo"], result["cumulative_seconds"]["mbmf-ppo"]
    extra = mbmf["training loop"] - ppo["training loop"]
    rows = []
    for label, _, _ in PHASES:
        share = (mbmf[label] - ppo[label]) / extra if extra > 0 else math.nan
        rows.append((label, ppo[label], mbmf[label], round(share, 2) + 0.0))  # +0.0: no "-0%"
    return page(
        "cost_profile.md.j2",
        env=result["env"],
        steps=result["steps"],
        extra=extra,
        rows=rows,
        json_path=json_path,
    )


def register(sub: argparse._SubParsersAction) -> None:
    from rlcv.bench.checks import out_file, positive_int

    p = sub.add_parser("cost-profile", help="cProfile of MBMF-PPO vs PPO training: where the extra time goes")
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--steps", type=positive_int, default=10240)
    p.add_argument("--json", type=out_file, default="results/learn_mujoco_v3/cost_profile.json")
    p.add_argument("--report-only", action="store_true", help="rebuild the page from --json")
    p.set_defaults(bench_run=run)


def measure(env: str, steps: int) -> dict[str, Any]:
    """Both algos' cumulative seconds per phase, one thread."""
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        seconds = {algo: profile(algo, env, steps, Path(tmp)) for algo in ("ppo", "mbmf-ppo")}
    return {"env": env, "steps": steps, "cumulative_seconds": seconds}


def run(args: argparse.Namespace) -> int:
    from rlcv.bench.report import saved_or_measured

    path = Path(args.json)
    result = saved_or_measured(path, "cost-profile", args.report_only, lambda: measure(args.env, args.steps))
    page = path.with_suffix(".md")
    page.write_text(render(result, args.json))
    print(f"wrote {page}")
    return 0
