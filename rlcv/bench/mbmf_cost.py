"""What MBMF-PPO's control variate costs against rlcv PPO, both arms with the env's preset, one torch
thread and no evaluation during training (its cost is not the arm's):

- `rlcv bench mbmf-speed`: the arms train in turn (ppo, mbmf-ppo, ppo, ...; ``--repeats`` pairs, seed =
  repeat 1, 2, ...) so machine drift hits both alike; throughput is the ``fps`` column of each run's last
  metrics row (model training and the control variate included). ``--mbmf-set`` adds ``--set``
  overrides to the mbmf-ppo arm only. The JSON holds the per-repeat fps, their medians and the ratio of
  medians; the page adds the ratio's paired bootstrap interval (repeats paired by seed).
- `rlcv bench cost-profile`: cProfile of one short run per arm (:mod:`rlcv.diagnostics.training_cost`):
  per phase both arms' cumulative seconds and the phase's share of MBMF-PPO's extra loop time (the
  throughput ratio is mbmf-speed's).

Each writes ``--json`` and the page beside it (same name, ``.md``); ``--report-only`` rebuilds them from
the JSON (mbmf-speed rewrites its JSON from the per-repeat fps).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rlcv.bench.checks import out_file, positive_int
from rlcv.bench.report import render, saved_or_measured
from rlcv.stats import median_ratio_bootstrap

ARMS = ("ppo", "mbmf-ppo")


def train_args(algo: str, env: str, steps: int, seed: int, extra: Sequence[str] = ()) -> list[str]:
    """One arm's `rlcv train` arguments (no evaluation during it)."""
    args = ["train", "--algo", algo, "--env", env, "--steps", str(steps), "--seed", str(seed)]
    args += ["--num-threads", "1", "--eval-freq", "1000000", "--no-progress"]
    return [*args, *(["--set", *extra] if extra else [])]


# -- mbmf-speed ---------------------------------------------------------------------------------------
def speed_record(
    env: str, steps: int, fps: Mapping[str, Sequence[float]], mbmf_set: str | None
) -> dict[str, Any]:
    """The JSON record: per-repeat fps, medians per arm, and mbmf-ppo's median over ppo's."""
    out: dict[str, Any] = {"env": env, "steps": steps, "repeats": len(fps["ppo"])}
    if mbmf_set is not None:  # the first records predate the option and do not hold it
        out["mbmf_set"] = mbmf_set
    out["fps"] = {a: list(fps[a]) for a in ARMS}
    out["fps_median"] = {a: statistics.median(fps[a]) for a in ARMS}
    out["ratio_mbmf_over_ppo"] = out["fps_median"]["mbmf-ppo"] / out["fps_median"]["ppo"]
    return out


def speed_page(record: Mapping[str, Any], json_path: str) -> str:
    """The page (template mbmf_speed.md.j2): mbmf-ppo's median fps over ppo's with its 95 % interval, a
    percentile bootstrap over the repeats resampled by pair (repeat r of both arms: seed r)."""
    import shlex

    ratio = median_ratio_bootstrap(record["fps"]["mbmf-ppo"], record["fps"]["ppo"], paired=True)
    extra = record.get("mbmf_set") or ""
    words = shlex.join(extra.split())
    return render(
        "mbmf_speed.md.j2",
        r=record,
        arms=ARMS,
        ratio=ratio,
        extra=extra,
        extra_words=words,
        json_path=json_path,
    )


def measure_speed(env: str, steps: int, repeats: int, mbmf_set: list[str]) -> dict[str, list[float]]:
    from rlcv.bench.speed import train_fps

    fps: dict[str, list[float]] = {a: [] for a in ARMS}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(1, repeats + 1):
            for algo in ARMS:
                args = train_args(algo, env, steps, rep, mbmf_set if algo == "mbmf-ppo" else [])
                fps[algo].append(
                    train_fps(f"{algo}/s{rep}", Path(tmp) / f"{algo}_{rep}", args, steps, "mbmf-speed")
                )
                print(f"repeat {rep} {algo}: {fps[algo][-1]:.0f} fps", flush=True)
    return fps


def run_speed(args: argparse.Namespace) -> int:
    path = Path(args.json)

    def timed() -> dict[str, Any]:
        fps = measure_speed(args.env, args.steps, args.repeats, args.mbmf_set)
        return {"env": args.env, "steps": args.steps, "fps": fps, "mbmf_set": " ".join(args.mbmf_set)}

    # the per-repeat fps, measured now or as the JSON holds them; the JSON is rewritten from them below
    saved = saved_or_measured(path, "mbmf-speed", args.report_only, timed, save=False)
    record = speed_record(saved["env"], saved["steps"], saved["fps"], saved.get("mbmf_set"))
    path.write_text(json.dumps(record, indent=1))
    path.with_suffix(".md").write_text(speed_page(record, args.json))
    print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0


# -- cost-profile -------------------------------------------------------------------------------------
def profile_page(result: Mapping[str, Any], json_path: str) -> str:
    """The page (template cost_profile.md.j2): per phase both arms' seconds and its share of the extra."""
    from rlcv.diagnostics.training_cost import PHASES

    ppo, mbmf = result["cumulative_seconds"]["ppo"], result["cumulative_seconds"]["mbmf-ppo"]
    extra = mbmf["training loop"] - ppo["training loop"]
    rows = []
    for label, _, _ in PHASES:
        share = (mbmf[label] - ppo[label]) / extra if extra > 0 else math.nan
        rows.append((label, ppo[label], mbmf[label], round(share, 2) + 0.0))  # +0.0: no "-0%"
    return render("cost_profile.md.j2", r=result, extra=extra, rows=rows, json_path=json_path)


def measure_profile(env: str, steps: int) -> dict[str, Any]:
    """Both arms' cumulative seconds per phase, one thread."""
    import os

    from rlcv.diagnostics.training_cost import profile_training

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        seconds = {a: profile_training(train_args(a, env, steps, 1), Path(tmp) / a) for a in ARMS}
    return {"env": env, "steps": steps, "cumulative_seconds": seconds}


def run_profile(args: argparse.Namespace) -> int:
    path = Path(args.json)
    measure = lambda: measure_profile(args.env, args.steps)  # noqa: E731
    result = saved_or_measured(path, "cost-profile", args.report_only, measure)
    path.with_suffix(".md").write_text(profile_page(result, args.json))
    print(f"wrote {path.with_suffix('.md')}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """``rlcv bench mbmf-speed`` and ``rlcv bench cost-profile``."""
    speed = sub.add_parser("mbmf-speed", help="MBMF-PPO vs rlcv PPO throughput, env presets, interleaved")
    profile = sub.add_parser(
        "cost-profile", help="cProfile of MBMF-PPO vs PPO training: where the extra time goes"
    )
    for p, out in (
        (speed, "results/variance/v2_speed.json"),
        (profile, "results/learn_mujoco_v3/cost_profile.json"),
    ):
        p.add_argument("--env", default="HalfCheetah-v5")
        p.add_argument("--steps", type=positive_int, default=10240)
        p.add_argument("--json", type=out_file, default=out)
    speed.add_argument("--repeats", type=positive_int, default=2, help="interleaved pairs")
    speed.add_argument(
        "--mbmf-set", nargs="+", default=[], metavar="KEY=VALUE", help="overrides, mbmf-ppo only"
    )
    speed.add_argument(
        "--report-only", action="store_true", help="rebuild the JSON and page from the JSON's fps"
    )
    profile.add_argument("--report-only", action="store_true", help="rebuild the page from --json")
    speed.set_defaults(bench_run=run_speed)
    profile.set_defaults(bench_run=run_profile)
